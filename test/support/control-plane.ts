import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { DockerDriver } from '../../src/runtime/docker/driver.ts';
import { assertTestRuntimeRegistered, runtimeFields } from './runtime.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'bin/sandboxd.js');

/**
 * A real `sandboxd serve` process (the built CLI) on a free loopback port with a
 * private state directory and policy directory, so tests can restart it, tweak
 * policies and check what it leaves behind.
 */
export class ControlPlane {
  readonly token = `test-${randomBytes(16).toString('hex')}`;
  stateDir = '';
  policyDir = '';
  baseUrl = '';
  /** Where the preview listener answers (any Host header reaches it; the browser uses *.localhost). */
  previewUrl = '';
  process: ChildProcess | undefined;
  stderr = '';

  /**
   * `overrides` is merged into policies/default.yaml, e.g. { timeouts: { idle: '2s' } }, or
   * replaces a section that is no mapping there (`network: none` → { network: { egress } });
   * the runtime is the tests' (SANDBOXD_TEST_RUNTIME).
   */
  static async create(overrides: Record<string, Record<string, unknown>> = {}): Promise<ControlPlane> {
    await assertTestRuntimeRegistered();
    const plane = new ControlPlane();
    plane.stateDir = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-cp-state-'));
    plane.policyDir = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-cp-policies-'));
    await cp(path.join(ROOT, 'policies/seccomp'), path.join(plane.policyDir, 'seccomp'), { recursive: true });
    const policy = parseYaml(await readFile(path.join(ROOT, 'policies/default.yaml'), 'utf8'));
    Object.assign(policy, runtimeFields());
    for (const [section, values] of Object.entries(overrides)) {
      const kept = policy[section];
      policy[section] = typeof kept === 'object' && kept !== null ? { ...kept, ...values } : values;
    }
    await writeFile(path.join(plane.policyDir, 'default.yaml'), stringifyYaml(policy));
    return plane;
  }

  /** Writes policy NAME: this plane's default.yaml with `fields` set at the top level. */
  async addPolicy(name: string, fields: Record<string, unknown>): Promise<void> {
    const policy = parseYaml(await readFile(path.join(this.policyDir, 'default.yaml'), 'utf8'));
    await writeFile(path.join(this.policyDir, `${name}.yaml`), stringifyYaml({ ...policy, ...fields, name }));
  }

  /** Starts serve; a restart keeps the ports it had (with an API port given, serve would take port + 1 for previews). */
  async start(extraEnv: Record<string, string> = {}, args: string[] = []): Promise<void> {
    const port = this.baseUrl === '' ? '0' : new URL(this.baseUrl).port;
    const previewPort =
      this.previewUrl === '' ? {} : { SANDBOXD_PREVIEW_PORT: new URL(this.previewUrl).port };
    const child = spawn(process.execPath, [CLI, 'serve', '--port', port, ...args], {
      env: {
        ...process.env,
        SANDBOXD_TOKEN: this.token,
        SANDBOXD_STATE_DIR: this.stateDir,
        SANDBOXD_POLICY_DIR: this.policyDir,
        SANDBOXD_LOG_LEVEL: process.env.SANDBOXD_TEST_LOG ?? 'warn',
        ...previewPort,
        ...extraEnv,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.process = child;
    this.stderr = '';
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not start:\n${this.stderr}`)), 20_000);
      child.stderr?.on('data', (chunk: Buffer) => {
        this.stderr += chunk.toString();
        const match = /MCP at (http:\/\/\S+)\/mcp/.exec(this.stderr);
        this.previewUrl = /previews at (http:\/\/\S+)/.exec(this.stderr)?.[1] ?? '';
        if (match?.[1]) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`serve exited with ${code}:\n${this.stderr}`));
      });
    });
    this.baseUrl = url;
  }

  /** Stops the control plane the way an operator would (SIGTERM); sandboxes keep running. */
  async stop(): Promise<void> {
    const child = this.process;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    this.process = undefined;
  }

  headers(token = this.token): Record<string, string> {
    return { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  }

  fetch(pathname: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${this.baseUrl}${pathname}`, { ...init, headers: { ...this.headers(), ...init.headers } });
  }

  /**
   * A connected MCP client. `era` 'legacy' (the SDK's default) opens with the
   * 2025-11-25 handshake; 'modern' negotiates 2026-07-28 (server/discover).
   */
  async client(pathname = '/mcp', token = this.token, era: 'legacy' | 'modern' = 'legacy'): Promise<Client> {
    const client = new Client(
      { name: 'sandboxd-test', version: '1.0.0' },
      { versionNegotiation: { mode: era === 'modern' ? { pin: '2026-07-28' } : 'legacy' } },
    );
    const transport = new StreamableHTTPClientTransport(new URL(`${this.baseUrl}${pathname}`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    });
    await client.connect(transport);
    return client;
  }

  /** Removes every container and volume this control plane created, then its directories. */
  async destroy(): Promise<void> {
    await this.stop();
    const driver = new DockerDriver();
    const containers = await driver.list({ 'io.sandboxd.managed': 'true' });
    for (const container of containers) {
      if (container.labels['io.sandboxd.socket-dir']?.startsWith(this.stateDir)) {
        await driver.remove(container.id);
        const volume = container.labels['io.sandboxd.workspace'];
        if (volume !== undefined && !volume.startsWith('/')) await driver.removeVolume(volume);
      }
    }
    // Snapshots, forks' overlay volumes and their layers carry the state directory: overlays first.
    const volumes =
      (
        await driver.docker.listVolumes({
          filters: JSON.stringify({ label: [`io.sandboxd.state-dir=${this.stateDir}`] }),
        })
      ).Volumes ?? [];
    const overlaysFirst = [...volumes].sort(
      (a, b) =>
        Number(b.Labels?.['io.sandboxd.id'] !== undefined) -
        Number(a.Labels?.['io.sandboxd.id'] !== undefined),
    );
    for (const volume of overlaysFirst) await driver.removeVolume(volume.Name).catch(() => undefined);
    await rm(this.stateDir, { recursive: true, force: true });
    await rm(this.policyDir, { recursive: true, force: true });
  }
}

/** The structured result of a tool call, whatever its outcome. */
export function structured(result: unknown): Record<string, unknown> {
  return (result as { structuredContent: Record<string, unknown> }).structuredContent;
}
