import type { CallToolResult } from '@modelcontextprotocol/server';
import type { EgressRecord } from '../egress/audit.ts';
import { type GrantRecord, grantFacts } from '../preview/grants.ts';
import type { SandboxManager } from '../sandbox/manager.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { currentCaller } from './caller.ts';
import type { AuditPrincipal } from './entry.ts';
import type { AuditLog } from './log.ts';
import { maskSecrets, summarizeArguments } from './summary.ts';

export interface ToolCallFacts {
  sandbox: string | null;
  tool: string;
  outcome: 'ok' | 'error';
  errorCode: string | undefined;
  durationMs: number;
  input: unknown;
  result: CallToolResult | undefined;
}

/** Commands remembered per sandbox to tell a command's first end from a later poll of it. */
const MAX_TRACKED_COMMANDS = 256;

interface CommandState {
  command_id?: unknown;
  status?: unknown;
  exit_code?: unknown;
  signal?: unknown;
  command_status?: unknown;
}

/**
 * Turns what happens on the control plane into audit rows: tool calls (from the
 * MCP boundary), the commands their results show starting and ending, the
 * manager's state changes and egress decisions, operator actions and preview grants.
 */
export class AuditRecorder {
  readonly log: AuditLog;
  readonly #running = new Map<string, Set<string>>();
  readonly #detach: () => void;

  constructor(log: AuditLog, manager: SandboxManager) {
    this.log = log;
    const onTransition = (sandbox: Sandbox, from: string, to: string) => {
      this.log.append({
        kind: 'lifecycle',
        sandbox: sandbox.id,
        principal: currentCaller('system'),
        action: to,
        outcome: 'ok',
        errorCode: null,
        durationMs: null,
        detail: { from, policy: sandbox.loaded.policy.name },
      });
      if (to === 'removed') this.#running.delete(sandbox.id);
    };
    const onEgress = (record: EgressRecord) => {
      const { sandboxId, durationMs, decision, ...detail } = record;
      this.log.append({
        kind: 'egress',
        sandbox: sandboxId,
        principal: 'sandbox',
        action: 'connect',
        outcome: decision,
        errorCode: null,
        durationMs,
        detail,
      });
    };
    manager.on('transition', onTransition);
    manager.on('egress', onEgress);
    this.#detach = () => {
      manager.off('transition', onTransition);
      manager.off('egress', onEgress);
    };
  }

  toolCall(facts: ToolCallFacts, fallback: AuditPrincipal = 'stdio'): void {
    const input = typeof facts.input === 'object' && facts.input !== null ? facts.input : {};
    const principal = currentCaller(fallback);
    this.log.append({
      kind: 'tool_call',
      sandbox: facts.sandbox,
      principal,
      action: facts.tool,
      outcome: facts.outcome,
      errorCode: facts.errorCode ?? null,
      durationMs: Math.round(facts.durationMs * 100) / 100,
      detail: summarizeArguments(input as Record<string, unknown>),
    });
    if (facts.sandbox !== null && facts.outcome === 'ok') {
      const state = facts.result?.structuredContent as CommandState | undefined;
      if (state !== undefined) this.observeCommand(facts.sandbox, facts.tool, input, state, principal);
    }
  }

  /**
   * A command result seen anywhere (a tool call, the dashboard following its
   * output): the first exec_command result is its start, the first one that is
   * no longer running its end.
   */
  observeCommand(
    sandbox: string,
    tool: string,
    input: object,
    state: CommandState,
    principal: AuditPrincipal = 'system',
  ): void {
    const id = state.command_id;
    if (typeof id !== 'string') return;
    const status = typeof state.command_status === 'string' ? state.command_status : state.status;
    let running = this.#running.get(sandbox);
    if (tool === 'exec_command') {
      const cmd = (input as { cmd?: unknown }).cmd;
      this.#command(sandbox, 'started', principal, {
        commandId: id,
        cmd: Array.isArray(cmd) ? cmd.map((part) => maskSecrets(String(part))) : maskSecrets(String(cmd)),
      });
      if (running === undefined) {
        running = new Set();
        this.#running.set(sandbox, running);
      }
      running.add(id);
      if (running.size > MAX_TRACKED_COMMANDS) running.delete(running.values().next().value as string);
    }
    if (status === 'running' || status === 'terminating' || typeof status !== 'string') return;
    if (running?.delete(id)) {
      this.#command(sandbox, 'exited', principal, {
        commandId: id,
        status,
        exitCode: typeof state.exit_code === 'number' ? state.exit_code : null,
        signal: typeof state.signal === 'string' ? state.signal : null,
      });
    }
  }

  #command(sandbox: string, action: string, principal: AuditPrincipal, detail: Record<string, unknown>) {
    this.log.append({
      kind: 'command',
      sandbox,
      principal,
      action,
      outcome: 'ok',
      errorCode: null,
      durationMs: null,
      detail,
    });
  }

  /** A change made by the operator: through /v1 or the dashboard. */
  operator(
    action: string,
    sandbox: string | null,
    status: number,
    detail: Record<string, unknown> = {},
  ): void {
    this.log.append({
      kind: 'operator',
      sandbox,
      principal: 'operator',
      action,
      outcome: status < 400 ? 'ok' : 'error',
      errorCode: status < 400 ? null : String(status),
      durationMs: null,
      detail,
    });
  }

  /**
   * A preview grant given, opened, revoked or expired, or a capability refused at
   * the preview door: who (the operator or a sandbox's MCP session; a browser's
   * address when opened or refused), which sandbox, port and preview. Never the
   * capability or the session made from it.
   */
  preview(record: GrantRecord): void {
    if (record.action === 'refused') {
      this.log.append({
        kind: 'preview',
        sandbox: record.sandboxId,
        principal: 'system',
        action: 'refused',
        outcome: 'refused',
        errorCode: null,
        durationMs: null,
        detail: { port: record.port, client: record.client, reason: record.reason },
      });
      return;
    }
    const { grant } = record;
    const granter: AuditPrincipal = grant.grantedBy === 'operator' ? 'operator' : 'sandbox';
    this.log.append({
      kind: 'preview',
      sandbox: grant.sandboxId,
      // Granted or revoked by whoever made the request; opened by a browser, expired by the sweep.
      principal:
        record.action === 'granted' || record.action === 'revoked' ? currentCaller(granter) : 'system',
      action: record.action,
      outcome: 'ok',
      errorCode: null,
      durationMs: null,
      detail: { ...grantFacts(grant), ...(record.action === 'opened' ? { client: record.client } : {}) },
    });
  }

  close(): void {
    this.#detach();
  }
}
