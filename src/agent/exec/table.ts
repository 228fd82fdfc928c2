import { ToolError } from '#protocol/errors';
import type { AgentLimits } from '#protocol/limits';
import { Command, type CommandOptions } from './command.ts';
import type { Launcher } from './launcher.ts';

/** How many evicted ids we remember, to say "evicted" rather than "never existed". */
const EVICTED_MEMORY = 1024;

/**
 * The commands of one workspace. They belong to the workspace, not to a request
 * or a connection: they keep running while the control plane is away.
 */
export class CommandTable {
  readonly #commands = new Map<string, Command>();
  readonly #evicted = new Map<string, string>();
  readonly #limits: () => AgentLimits;
  readonly #launcher: Launcher | undefined;

  constructor(limits: () => AgentLimits, launcher?: Launcher) {
    this.#limits = limits;
    this.#launcher = launcher;
  }

  get activeCount(): number {
    let count = 0;
    for (const command of this.#commands.values()) if (command.isRunning) count++;
    return count;
  }

  /** Resolves when a command started now would not wait on a launcher that is still starting. */
  async launcherSettled(): Promise<void> {
    await this.#launcher?.settled();
  }

  start(options: Omit<CommandOptions, 'outputBudgetBytes' | 'launcher'>): Command {
    const limits = this.#limits();
    this.#expire(limits);
    if (this.activeCount >= limits.maxActiveCommands) {
      throw new ToolError(
        'COMMAND_LIMIT_REACHED',
        `${limits.maxActiveCommands} commands are already running in this workspace; wait for one or kill it`,
        { details: { limit: 'maxActiveCommands', value: limits.maxActiveCommands } },
      );
    }
    this.#makeRoom(limits);
    const command = new Command({
      ...options,
      outputBudgetBytes: limits.maxOutputBytesPerStream,
      launcher: this.#launcher,
    });
    this.#commands.set(command.id, command);
    return command;
  }

  get(id: string): Command {
    const command = this.#commands.get(id);
    if (command !== undefined) return command;
    const reason = this.#evicted.get(id);
    throw new ToolError(
      'COMMAND_NOT_FOUND',
      reason === undefined ? `no command ${id} in this workspace` : `command ${id} was evicted: ${reason}`,
      { details: { command_id: id, ...(reason === undefined ? {} : { evicted: reason }) } },
    );
  }

  /** Whether a running command other than `command` leads a process group with `command`'s pid (reused). */
  isLedByAnotherRunningCommand(command: Command): boolean {
    if (command.pid === undefined) return false;
    for (const other of this.#commands.values()) {
      if (other !== command && other.isRunning && other.pid === command.pid) return true;
    }
    return false;
  }

  /** Kills every running command; used when the agent shuts down. */
  killAll(): void {
    for (const command of this.#commands.values()) if (command.isRunning) command.signalGroup('SIGKILL');
  }

  #expire(limits: AgentLimits): void {
    const now = Date.now();
    for (const [id, command] of this.#commands) {
      if (command.endedAt !== null && now - command.endedAt > limits.commandRetentionMs) {
        this.#evict(id, `finished more than ${limits.commandRetentionMs} ms ago (retention time)`);
      }
    }
  }

  /**
   * Keeps retained commands and buffered bytes within the policy by evicting the
   * oldest finished commands. If running commands alone fill the byte budget,
   * a new one is refused rather than any output dropped silently.
   */
  #makeRoom(limits: AgentLimits): void {
    const finishedOldestFirst = [...this.#commands.values()]
      .filter((command) => !command.isRunning)
      .sort((a, b) => (a.endedAt ?? 0) - (b.endedAt ?? 0));
    const newCommandBytes = 2 * limits.maxOutputBytesPerStream;
    let totalBytes = 0;
    for (const command of this.#commands.values()) totalBytes += command.retainedBytes;
    for (const command of finishedOldestFirst) {
      const overCount = this.#commands.size + 1 > limits.maxRetainedCommands;
      const overBytes = totalBytes + newCommandBytes > limits.maxTotalOutputBytes;
      if (!overCount && !overBytes) break;
      totalBytes -= command.retainedBytes;
      this.#evict(
        command.id,
        overCount ? 'retained-command limit reached' : 'workspace output budget reached',
      );
    }
    if (totalBytes + newCommandBytes > limits.maxTotalOutputBytes) {
      throw new ToolError(
        'OUTPUT_TOO_LARGE',
        'running commands hold the whole output budget of this workspace',
        {
          details: { limit: 'maxTotalOutputBytes', value: limits.maxTotalOutputBytes },
        },
      );
    }
  }

  #evict(id: string, reason: string): void {
    this.#commands.delete(id);
    this.#evicted.set(id, reason);
    if (this.#evicted.size > EVICTED_MEMORY) {
      const oldest = this.#evicted.keys().next().value;
      if (oldest !== undefined) this.#evicted.delete(oldest);
    }
  }
}
