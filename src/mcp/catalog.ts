/** How long the control plane waits for a tool's reply: its own waiting time plus a margin. */
export function replyTimeoutMs(name: string, input: Record<string, unknown>): number {
  const margin = 30_000;
  const number = (key: string, fallback: number) =>
    typeof input[key] === 'number' ? (input[key] as number) : fallback;
  switch (name) {
    case 'exec_command':
    case 'write_stdin':
      return number('yield_time_ms', 10_000) + margin;
    case 'kill_command':
      return number('wait_ms', 2000) + number('kill_wait_ms', 2000) + margin;
    default:
      return 120_000;
  }
}
