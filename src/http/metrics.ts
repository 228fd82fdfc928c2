import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EgressRecord } from '../egress/audit.ts';
import type { GrantRecord } from '../preview/grants.ts';
import type { PreviewEvents } from '../preview/server.ts';
import type { SandboxManager } from '../sandbox/manager.ts';
import type { WarmPool } from '../sandbox/pool.ts';
import type { Sandbox, SandboxState } from '../sandbox/sandbox.ts';

const STATES: SandboxState[] = ['creating', 'ready', 'idle', 'stopped', 'failed'];

/** The control plane's Prometheus metrics, fed by the manager's events and the MCP layer. */
export class Metrics {
  readonly registry = new Registry();
  readonly toolCalls: Counter<'tool' | 'outcome' | 'code'>;
  readonly toolSeconds: Histogram<'tool'>;
  readonly createSeconds: Histogram;
  readonly reconnects: Counter;
  readonly reaped: Counter<'reason'>;
  readonly transitions: Counter<'to'>;
  readonly egressConnections: Counter<'decision' | 'rule'>;
  readonly egressBytes: Counter<'direction'>;
  readonly egressSetupSeconds: Histogram;
  readonly previewRequests: Counter<'kind' | 'outcome'>;
  readonly previewBytes: Counter<'direction'>;
  readonly previewGrants: Counter<'action'>;

  constructor(manager: SandboxManager, pool?: WarmPool) {
    const registers = [this.registry];
    new Gauge({
      name: 'sandboxd_pool_ready',
      help: 'Warm-pool sandboxes ready to be taken, by policy',
      labelNames: ['policy'],
      registers,
      collect() {
        for (const policy of Object.keys(pool?.sizes ?? {})) this.set({ policy }, pool?.ready(policy) ?? 0);
      },
    });
    new Gauge({
      name: 'sandboxd_sandboxes',
      help: 'Sandboxes by state',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = new Map<string, number>(STATES.map((state) => [state, 0]));
        for (const sandbox of manager.list()) counts.set(sandbox.state, (counts.get(sandbox.state) ?? 0) + 1);
        for (const [state, count] of counts) this.set({ state }, count);
      },
    });
    this.createSeconds = new Histogram({
      name: 'sandboxd_create_seconds',
      help: 'Time from a create request to the agent being ready',
      buckets: [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30],
      registers,
    });
    this.toolCalls = new Counter({
      name: 'sandboxd_tool_calls_total',
      help: 'MCP tool calls by tool and outcome',
      labelNames: ['tool', 'outcome', 'code'],
      registers,
    });
    this.toolSeconds = new Histogram({
      name: 'sandboxd_tool_call_seconds',
      help: 'MCP tool call latency as seen by the control plane',
      labelNames: ['tool'],
      buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 30],
      registers,
    });
    this.reconnects = new Counter({
      name: 'sandboxd_agent_reconnects_total',
      help: 'Agent connections after the first, per sandbox',
      registers,
    });
    this.reaped = new Counter({
      name: 'sandboxd_reaped_total',
      help: 'Sandboxes stopped for idleness or removed at their TTL',
      labelNames: ['reason'],
      registers,
    });
    this.transitions = new Counter({
      name: 'sandboxd_transitions_total',
      help: 'Sandbox state transitions by target state',
      labelNames: ['to'],
      registers,
    });
    this.egressConnections = new Counter({
      name: 'sandboxd_egress_connections_total',
      help: 'Egress connections by decision and rule (the refusing rule, or the kind of entry that allowed it)',
      labelNames: ['decision', 'rule'],
      registers,
    });
    this.egressBytes = new Counter({
      name: 'sandboxd_egress_bytes_total',
      help: 'Bytes through egress tunnels: sent (sandbox to destination) and received',
      labelNames: ['direction'],
      registers,
    });
    this.egressSetupSeconds = new Histogram({
      name: 'sandboxd_egress_setup_seconds',
      help: 'Time from a tunnel request to the destination connected (name check, resolution, connect)',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    new Gauge({
      name: 'sandboxd_egress_active_connections',
      help: 'Egress tunnels open now, across all sandboxes',
      registers,
      collect() {
        this.set(manager.list().reduce((sum, sandbox) => sum + sandbox.egress.activeConnections, 0));
      },
    });
    this.previewRequests = new Counter({
      name: 'sandboxd_preview_requests_total',
      help: 'Preview requests and WebSockets by outcome (ok, unauthorized, not-found, unreachable, limit, error)',
      labelNames: ['kind', 'outcome'],
      registers,
    });
    this.previewBytes = new Counter({
      name: 'sandboxd_preview_bytes_total',
      help: 'Bytes through preview tunnels: in (browser to sandbox) and out',
      labelNames: ['direction'],
      registers,
    });
    this.previewGrants = new Counter({
      name: 'sandboxd_preview_grants_total',
      help: 'Preview grants by what happened to them (granted, opened, revoked, expired, refused)',
      labelNames: ['action'],
      registers,
    });
    new Gauge({
      name: 'sandboxd_preview_active_connections',
      help: 'Preview tunnels open now, across all sandboxes',
      registers,
      collect() {
        this.set(manager.list().reduce((sum, sandbox) => sum + sandbox.preview.activeConnections, 0));
      },
    });
    manager.on('egress', (record: EgressRecord) => this.recordEgress(record));
    manager.on('egress-open', (setupMs: number) => this.egressSetupSeconds.observe(setupMs / 1000));
    manager.on('created', (_sandbox: Sandbox, ms: number) => this.createSeconds.observe(ms / 1000));
    manager.on('reconnect', () => this.reconnects.inc());
    manager.on('reaped', (_sandbox: Sandbox, reason: string) => this.reaped.inc({ reason }));
    manager.on('transition', (_sandbox: Sandbox, _from: string, to: string) => this.transitions.inc({ to }));
  }

  recordEgress(record: EgressRecord): void {
    // An allowed connection's rule names hosts; the label keeps only its kind (host, pattern, cidr).
    const rule = record.decision === 'allowed' ? (record.rule.split(':')[0] ?? '') : record.rule;
    this.egressConnections.inc({ decision: record.decision, rule });
    if (record.bytesSent > 0) this.egressBytes.inc({ direction: 'sent' }, record.bytesSent);
    if (record.bytesReceived > 0) this.egressBytes.inc({ direction: 'received' }, record.bytesReceived);
  }

  /** The preview listener's events, as metrics. */
  get previewEvents(): PreviewEvents & { onGrant(record: GrantRecord): void } {
    return {
      onRequest: (outcome, kind) => this.previewRequests.inc({ kind, outcome }),
      onBytes: (direction, bytes) => {
        if (bytes > 0) this.previewBytes.inc({ direction }, bytes);
      },
      onGrant: (record) => this.previewGrants.inc({ action: record.action }),
    };
  }

  recordToolCall(tool: string, outcome: 'ok' | 'error', code: string | undefined, durationMs: number): void {
    this.toolCalls.inc({ tool, outcome, code: code ?? '' });
    this.toolSeconds.observe({ tool }, durationMs / 1000);
  }
}
