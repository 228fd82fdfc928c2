/**
 * A real `sandboxd serve` for a benchmark (test/support's ControlPlane: the
 * built CLI, a private state and policy directory, a loopback port), plus what
 * the benchmarks do with it: /v1 sandboxes, MCP clients, pool metrics, and a
 * teardown that removes every container and volume it made, in parallel.
 */
import { rm } from 'node:fs/promises';
import type { Client } from '@modelcontextprotocol/client';
import { DockerDriver } from '../../src/runtime/docker/driver.ts';
import { LABEL_ID, LABEL_SOCKET_DIR, LABEL_WORKSPACE } from '../../src/runtime/labels.ts';
import { ControlPlane } from '../../test/support/control-plane.ts';
import { type BenchContext, mapLimit, sleep } from './suite.ts';

export interface CreatedSandbox {
  id: string;
  token: string;
  mcpUrl: string;
  /** The MCP path on the control plane, /s/ID/mcp. */
  path: string;
}

export interface PlaneOptions {
  /** Extra environment for `serve`, e.g. SANDBOXD_POOL. */
  env?: Record<string, string>;
  /** Merged into policies/default.yaml. */
  policy?: Record<string, Record<string, unknown>>;
  /** More policies, each policies/default.yaml (as the plane has it) with these top-level fields set. */
  policies?: Record<string, Record<string, unknown>>;
}

const engine = new DockerDriver();

export class BenchPlane {
  readonly control: ControlPlane;
  readonly #clients = new Set<Client>();
  readonly #ids = new Set<string>();

  private constructor(control: ControlPlane) {
    this.control = control;
  }

  /** Starts `serve`; its teardown is registered with the context's cleanup before it starts. */
  static async start(context: BenchContext, options: PlaneOptions = {}): Promise<BenchPlane> {
    const plane = new BenchPlane(await ControlPlane.create(options.policy ?? {}));
    context.cleanup.add('tear down the control plane', () => plane.destroy(context.progress));
    for (const [name, fields] of Object.entries(options.policies ?? {})) {
      await plane.control.addPolicy(name, fields);
    }
    await plane.control.start({
      SANDBOXD_LOG_LEVEL: process.env.SANDBOXD_BENCH_LOG ?? 'warn',
      ...options.env,
    });
    return plane;
  }

  get pid(): number {
    const pid = this.control.process?.pid;
    if (pid === undefined) throw new Error('the control plane is not running');
    return pid;
  }

  /** `POST /v1/sandboxes`; throws with the answer's text unless 201. */
  async create(body: Record<string, unknown> = {}, signal?: AbortSignal): Promise<CreatedSandbox> {
    const response = await this.control.fetch('/v1/sandboxes', {
      method: 'POST',
      body: JSON.stringify(body),
      ...(signal === undefined ? {} : { signal }),
    });
    const text = await response.text();
    if (response.status !== 201) throw new Error(`POST /v1/sandboxes: ${response.status} ${text}`);
    const created = JSON.parse(text) as { id: string; token: string; mcpUrl: string };
    this.#ids.add(created.id);
    return { ...created, path: new URL(created.mcpUrl).pathname };
  }

  async delete(id: string): Promise<void> {
    const response = await this.control.fetch(`/v1/sandboxes/${id}`, { method: 'DELETE' });
    if (response.status !== 204) {
      throw new Error(`DELETE /v1/sandboxes/${id}: ${response.status} ${await response.text()}`);
    }
  }

  /**
   * A connected MCP client for `sandbox` (closed at teardown if not before):
   * protocol 2025-11-25 (the client SDK's default handshake) unless `era` is 'modern' (2026-07-28).
   */
  async client(sandbox: CreatedSandbox, era: 'legacy' | 'modern' = 'legacy'): Promise<Client> {
    const client = await this.control.client(sandbox.path, sandbox.token, era);
    this.#clients.add(client);
    return client;
  }

  async closeClient(client: Client): Promise<void> {
    this.#clients.delete(client);
    await client.close();
  }

  async metrics(): Promise<string> {
    const response = await this.control.fetch('/metrics');
    if (response.status !== 200) throw new Error(`GET /metrics: ${response.status}`);
    return response.text();
  }

  /** `sandboxd_pool_ready{policy}` from /metrics. */
  async poolReady(policy = 'default'): Promise<number> {
    const match = new RegExp(`^sandboxd_pool_ready\\{policy="${policy}"\\} (\\d+)`, 'm').exec(
      await this.metrics(),
    );
    return Number(match?.[1] ?? Number.NaN);
  }

  /** The control plane's own view of one tool's calls: sandboxd_tool_call_seconds sum and count. */
  async toolSeconds(tool: string): Promise<{ sum: number; count: number }> {
    const text = await this.metrics();
    const field = (suffix: string) =>
      Number(
        new RegExp(`^sandboxd_tool_call_seconds_${suffix}\\{tool="${tool}"\\} (\\S+)`, 'm').exec(text)?.[1] ??
          0,
      );
    return { sum: field('sum'), count: field('count') };
  }

  /** Polls /metrics until the pool of `policy` has `size` ready members; returns the wait in ms. */
  async waitForPool(
    size: number,
    signal: AbortSignal,
    timeoutMs = 120_000,
    policy = 'default',
  ): Promise<number> {
    const startedAt = performance.now();
    for (;;) {
      if ((await this.poolReady(policy)) >= size) return performance.now() - startedAt;
      if (performance.now() - startedAt > timeoutMs) {
        throw new Error(`the ${policy} pool did not reach ${size} ready in ${timeoutMs / 1000} s`);
      }
      await sleep(20, signal);
    }
  }

  /** The engine's containers of this control plane (found by their socket directory). */
  async containers() {
    const all = await engine.list({ 'io.sandboxd.managed': 'true' });
    return all.filter((container) => container.labels[LABEL_SOCKET_DIR]?.startsWith(this.control.stateDir));
  }

  /** Stops `serve`, removes its containers and volumes (4 at a time), then its directories. */
  async destroy(progress: (line: string) => void): Promise<void> {
    await Promise.allSettled([...this.#clients].map((client) => client.close()));
    this.#clients.clear();
    await this.control.stop();
    const containers = await this.containers();
    if (containers.length > 0) progress(`removing ${containers.length} container(s)`);
    const volumes = new Set<string>();
    for (const container of containers) {
      const id = container.labels[LABEL_ID];
      if (id !== undefined) this.#ids.add(id);
      const volume = container.labels[LABEL_WORKSPACE];
      if (volume !== undefined && !volume.startsWith('/')) volumes.add(volume);
    }
    await mapLimit(containers, 4, (container) => engine.remove(container.id));
    for (const id of this.#ids) {
      for (const volume of await engine.listVolumes({ [LABEL_ID]: id })) volumes.add(volume);
    }
    await mapLimit([...volumes], 4, (volume) => engine.removeVolume(volume));
    // Snapshots and forks' layers (sandbox/snapshots.ts) carry the state directory instead of a sandbox id.
    const left = await engine.docker.listVolumes({
      filters: JSON.stringify({ label: [`io.sandboxd.state-dir=${this.control.stateDir}`] }),
    });
    await mapLimit(left.Volumes ?? [], 4, (volume) => engine.removeVolume(volume.Name));
    await rm(this.control.stateDir, { recursive: true, force: true });
    await rm(this.control.policyDir, { recursive: true, force: true });
  }
}

/** Structured result of a tool call; throws when the call failed. */
export async function callTool(
  client: Client,
  name: string,
  args: Record<string, unknown>,
  timeoutMs = 60_000,
): Promise<Record<string, unknown>> {
  const result = (await client.callTool({ name, arguments: args }, { timeout: timeoutMs })) as {
    isError?: boolean;
    structuredContent?: Record<string, unknown>;
    content?: { type: string; text?: string }[];
  };
  if (result.isError) {
    const text = result.content?.map((part) => part.text ?? '').join(' ') ?? '';
    throw new Error(`${name} failed: ${text.slice(0, 300)}`);
  }
  return result.structuredContent ?? {};
}

/**
 * A `tools/call` as a bare JSON-RPC POST: the body and the headers an SDK
 * client speaking 2025-11-25 sends (no initialize: the control plane's MCP
 * endpoints are stateless).
 */
export function toolCallPost(
  sandbox: CreatedSandbox,
  name: string,
  args: Record<string, unknown>,
): { body: string; headers: Record<string, string> } {
  return {
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }),
    headers: {
      authorization: `Bearer ${sandbox.token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
    },
  };
}

/** One `tools/call` sent with fetch (no client SDK), for splitting the SDK's share of a call from the control plane's. */
export async function rawToolCall(
  sandbox: CreatedSandbox,
  name: string,
  args: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const response = await fetch(sandbox.mcpUrl, { method: 'POST', ...toolCallPost(sandbox, name, args) });
  const text = await response.text();
  // A JSON body, or one server-sent event whose data line is the JSON-RPC answer.
  const json = text.startsWith('{') ? text : (/^data: (.*)$/m.exec(text)?.[1] ?? '');
  const answer = JSON.parse(json) as {
    result?: { isError?: boolean; structuredContent?: Record<string, unknown> };
    error?: { message: string };
  };
  if (response.status !== 200 || answer.result === undefined || answer.result.isError) {
    throw new Error(`${name} over raw HTTP: ${response.status} ${text.slice(0, 300)}`);
  }
  return answer.result.structuredContent ?? {};
}

export { engine };
