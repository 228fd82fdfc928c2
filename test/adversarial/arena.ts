import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from '@modelcontextprotocol/client';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { ErrorCode } from '../../src/protocol/errors.ts';
import { DockerDriver } from '../../src/runtime/docker/driver.ts';
import { ControlPlane, structured } from '../support/control-plane.ts';
import type { ExecResult } from '../support/sandboxes.ts';

/**
 * The ring the adversarial suite fights in: a real `sandboxd serve` (the built
 * CLI), an attacker sandbox A and a neighbour sandbox B, both provisioned through
 * POST /v1/sandboxes and reached only through their own MCP endpoint
 * (`/s/<id>/mcp`) with their own scoped token. Every case runs through MCP; after
 * every case the neighbour and the control plane are checked and one greppable
 * `ADV ...` line is printed.
 */

/** A sandbox as a client sees it: its id, MCP path, scoped token and a connected MCP client. */
export interface Tenant {
  id: string;
  path: string;
  token: string;
  client: Client;
}

/** The structured result of a tool call: `ok` plus the result, or `ok: false` and a typed error. */
export type Structured = Record<string, unknown> & {
  ok: boolean;
  error?: { code: string; message: string; category: string; retryable: boolean };
};

export type { ExecResult };

/** Every error code the contract and sandboxd may answer with. */
export const KNOWN_CODES = new Set<string>(ErrorCode.options);

/**
 * The attacker's policy: the default one with tighter resources, so that the
 * exhaustion cases hit their limits in seconds. The neighbour runs the stock
 * default policy.
 */
export const ATTACKER_POLICY = {
  resources: { cpus: 1, memory: '384MiB', pids: 192, nofile: 1024 },
  tmpfs: { tmp: '64MiB', home: '32MiB' },
};

export interface CaseOutcome {
  attempted: string;
  result: string;
}

export class Arena {
  plane!: ControlPlane;
  a!: Tenant;
  b!: Tenant;
  readonly neighbourFile = 'neighbour/precious.txt';
  readonly neighbourContent = `precious-${randomBytes(16).toString('hex')}\n`;
  /** One line per case, kept so a file can print a summary if it wants. */
  readonly lines: string[] = [];

  static async open(
    options: { env?: Record<string, string>; attacker?: Record<string, Record<string, unknown>> } = {},
  ): Promise<Arena> {
    const arena = new Arena();
    arena.plane = await ControlPlane.create();
    await arena.#writeAttackerPolicy(options.attacker ?? {});
    await arena.plane.start({ SANDBOXD_MAX_SANDBOXES: '8', ...options.env });
    arena.a = await arena.provision('adversary');
    arena.b = await arena.provision('default');
    const wrote = await arena.call(arena.b, 'write_file', {
      path: arena.neighbourFile,
      content: arena.neighbourContent,
      create_dirs: true,
    });
    assert.equal(wrote.ok, true, JSON.stringify(wrote));
    return arena;
  }

  async #writeAttackerPolicy(overrides: Record<string, Record<string, unknown>>): Promise<void> {
    const file = path.join(this.plane.policyDir, 'default.yaml');
    const policy = parseYaml(await readFile(file, 'utf8')) as Record<string, Record<string, unknown>>;
    policy.name = 'adversary' as never;
    policy.description = 'The adversarial suite attacker: default with tight resources.' as never;
    for (const [section, values] of Object.entries(ATTACKER_POLICY))
      policy[section] = { ...policy[section], ...values, ...overrides[section] };
    // Sections the attacker policy does not tighten (network) are taken as given.
    for (const [section, values] of Object.entries(overrides))
      if (!(section in ATTACKER_POLICY)) policy[section] = values;
    await writeFile(path.join(this.plane.policyDir, 'adversary.yaml'), stringifyYaml(policy));
  }

  /** A sandbox provisioned the way a hosted platform does it: POST /v1/sandboxes. */
  async provision(policy: string): Promise<Tenant> {
    const response = await this.plane.fetch('/v1/sandboxes', {
      method: 'POST',
      body: JSON.stringify({ policy, ttlSeconds: 3600, labels: { suite: 'adversarial' } }),
    });
    const body = (await response.json()) as { id: string; token: string; mcpUrl: string };
    assert.equal(response.status, 201, JSON.stringify(body));
    const mcpPath = new URL(body.mcpUrl).pathname;
    const client = await this.plane.client(mcpPath, body.token);
    return { id: body.id, path: mcpPath, token: body.token, client };
  }

  /** A fresh MCP client on a tenant's endpoint (for pools and for proving new sessions work). */
  clientFor(tenant: Tenant): Promise<Client> {
    return this.plane.client(tenant.path, tenant.token);
  }

  /** Calls one tool and returns its structured result, whatever the outcome. */
  async call(
    tenant: Tenant | Client,
    name: string,
    args: Record<string, unknown>,
    timeoutMs = 120_000,
  ): Promise<Structured> {
    const client = 'client' in tenant ? tenant.client : tenant;
    const result = await client.callTool({ name, arguments: args }, { timeout: timeoutMs });
    const content = structured(result) as Structured | undefined;
    if (content === undefined) {
      return {
        ok: false,
        error: {
          code: 'NO_STRUCTURED_CONTENT',
          message: JSON.stringify(result),
          category: '',
          retryable: false,
        },
      };
    }
    return content;
  }

  /** Runs a shell command through exec_command and waits for it (up to 60 s by default). */
  async exec(
    tenant: Tenant | Client,
    cmd: string | string[],
    extra: Record<string, unknown> = {},
  ): Promise<ExecResult> {
    const yieldMs = typeof extra.yield_time_ms === 'number' ? extra.yield_time_ms : 60_000;
    const result = await this.call(
      tenant,
      'exec_command',
      { cmd, yield_time_ms: yieldMs, ...extra },
      yieldMs + 60_000,
    );
    return result as unknown as ExecResult;
  }

  /** Like exec, but the command must have run to completion; returns stdout. */
  async sh(
    tenant: Tenant | Client,
    cmd: string | string[],
    extra: Record<string, unknown> = {},
  ): Promise<string> {
    const result = await this.exec(tenant, cmd, extra);
    assert.equal(result.ok, true, `exec failed: ${JSON.stringify(result.error)}`);
    assert.equal(result.status, 'exited', `${cmd}: ${result.status} ${result.stderr}`);
    return result.stdout;
  }

  /** RSS of the control plane process in KiB, from /proc/<pid>/status. */
  async controlPlaneRssKiB(): Promise<number> {
    const status = await readFile(`/proc/${this.plane.process?.pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
    assert.ok(match, 'VmRSS of the control plane');
    return Number(match[1]);
  }

  /**
   * The neighbour still has its data and answers, and the control plane answers
   * /healthz and a brand-new MCP session. Never throws: returns what it found.
   */
  async neighbourCheck(): Promise<{ healthy: boolean; detail: string }> {
    const problems: string[] = [];
    try {
      const health = await fetch(`${this.plane.baseUrl}/healthz`, { signal: AbortSignal.timeout(10_000) });
      if (health.status !== 200) problems.push(`/healthz ${health.status}`);
    } catch (error) {
      problems.push(`/healthz: ${(error as Error).message}`);
    }
    try {
      const read = await this.call(this.b, 'read_file', { path: this.neighbourFile }, 30_000);
      if (read.ok !== true || read.content !== this.neighbourContent) {
        problems.push(`B read_file: ${JSON.stringify(read).slice(0, 300)}`);
      }
    } catch (error) {
      problems.push(`B read_file: ${(error as Error).message}`);
    }
    let fresh: Client | undefined;
    try {
      fresh = await this.clientFor(this.b);
      const info = await this.call(fresh, 'server_info', {}, 30_000);
      const sandbox = info.sandbox as { id?: string } | undefined;
      if (info.ok !== true || sandbox?.id !== this.b.id) {
        problems.push(`new MCP session server_info: ${JSON.stringify(info).slice(0, 300)}`);
      }
    } catch (error) {
      problems.push(`new MCP session: ${(error as Error).message}`);
    } finally {
      await fresh?.close().catch(() => undefined);
    }
    if (this.plane.process === undefined || this.plane.process.exitCode !== null) {
      problems.push('the control plane process exited');
    }
    return { healthy: problems.length === 0, detail: problems.join('; ') };
  }

  /**
   * Runs one case: its attempts (which assert), then the neighbour check, then
   * prints `ADV <name> | attempted: … | result: … | neighbour: healthy|UNHEALTHY`.
   * A failed assertion is printed as the result and then fails the test.
   */
  async case(name: string, body: () => Promise<CaseOutcome>): Promise<void> {
    let outcome: CaseOutcome | undefined;
    let failure: unknown;
    try {
      outcome = await body();
    } catch (error) {
      failure = error;
    }
    const neighbour = await this.neighbourCheck();
    const attempted = outcome?.attempted ?? '(see failure)';
    const result =
      failure === undefined
        ? (outcome?.result ?? '')
        : `FAILED: ${oneLine((failure as Error).message ?? String(failure))}`;
    const line = `ADV ${name} | attempted: ${oneLine(attempted)} | result: ${oneLine(result)} | neighbour: ${
      neighbour.healthy ? 'healthy' : `UNHEALTHY (${oneLine(neighbour.detail)})`
    }`;
    this.lines.push(line);
    console.log(line);
    if (failure !== undefined) throw failure;
    assert.ok(neighbour.healthy, `neighbour or control plane unhealthy after ${name}: ${neighbour.detail}`);
  }

  async close(): Promise<void> {
    for (const tenant of [this.a, this.b]) await tenant?.client.close().catch(() => undefined);
    if (this.plane === undefined) return;
    try {
      await this.plane.destroy();
    } catch (error) {
      // A case that went wrong may leave a volume in use; clean up by label, then complain.
      await this.plane.stop().catch(() => undefined);
      const driver = new DockerDriver();
      const mine = (await driver.list({ 'io.sandboxd.managed': 'true' })).filter((container) =>
        container.labels['io.sandboxd.socket-dir']?.startsWith(this.plane.stateDir),
      );
      for (const container of mine) await driver.remove(container.id).catch(() => undefined);
      for (const container of mine) {
        const volume = container.labels['io.sandboxd.workspace'];
        if (volume !== undefined && !volume.startsWith('/'))
          await driver.removeVolume(volume).catch(() => undefined);
      }
      await rm(this.plane.stateDir, { recursive: true, force: true });
      await rm(this.plane.policyDir, { recursive: true, force: true });
      throw error;
    }
  }
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 900 ? `${flat.slice(0, 900)}…` : flat;
}

/** The error code of a structured result, or 'ok'. */
export function codeOf(result: Structured): string {
  return result.ok ? 'ok' : (result.error?.code ?? 'NO_CODE');
}

/** Counts of each code in a list of results, as `CODE×n` text. */
export function tally(codes: string[]): string {
  const counts = new Map<string, number>();
  for (const code of codes) counts.set(code, (counts.get(code) ?? 0) + 1);
  return [...counts.entries()]
    .sort((x, y) => y[1] - x[1])
    .map(([code, count]) => `${code}×${count}`)
    .join(', ');
}

/** Shell-quotes one word for bash. */
export function q(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
