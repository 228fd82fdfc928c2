/**
 * The agent's log: one JSON object per line on stderr, with pino's field names
 * and level numbers so the control plane's tooling reads both alike. The agent
 * stays free of logging dependencies to keep its start-up short.
 */
const levels = { debug: 20, info: 30, warn: 40, error: 50 } as const;
export type LogLevel = keyof typeof levels;

export type AgentLog = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

export function createAgentLog(minimum: LogLevel = 'info'): AgentLog {
  return (level, msg, fields) => {
    if (levels[level] < levels[minimum]) return;
    process.stderr.write(
      `${JSON.stringify({ level: levels[level], time: Date.now(), name: 'agent', msg, ...fields })}\n`,
    );
  };
}
