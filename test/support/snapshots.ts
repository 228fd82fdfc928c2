import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import type { Client } from '@modelcontextprotocol/client';
import { ControlPlane, structured } from './control-plane.ts';

/** A /v1 sandbox as the tests use it: its id, token and a connected MCP client. */
export interface TaskSandbox {
  id: string;
  token: string;
  client: Client;
}

export async function connect(
  plane: ControlPlane,
  created: { id: string; token: string },
): Promise<TaskSandbox> {
  return { ...created, client: await plane.client(`/s/${created.id}/mcp`, created.token) };
}

export async function createTask(
  plane: ControlPlane,
  body: Record<string, unknown> = {},
): Promise<TaskSandbox> {
  const response = await plane.fetch('/v1/sandboxes', { method: 'POST', body: JSON.stringify(body) });
  assert.equal(response.status, 201, await response.clone().text());
  return connect(plane, (await response.json()) as { id: string; token: string });
}

/** Runs a shell command in the sandbox to its end and returns its stdout; fails on a non-zero exit. */
export async function sh(sandbox: TaskSandbox, cmd: string, yieldMs = 120_000): Promise<string> {
  const result = structured(
    await sandbox.client.callTool({ name: 'exec_command', arguments: { cmd, yield_time_ms: yieldMs } }),
  );
  assert.equal(result.status, 'exited', `${cmd}: ${JSON.stringify(result).slice(0, 2000)}`);
  assert.equal(result.exit_code, 0, `${cmd}: ${String(result.stderr).slice(0, 2000)}`);
  return String(result.stdout);
}

/**
 * Every entry of the workspace with its type, mode, size, link target, owner
 * and a SHA-256 of each regular file: equal manifests are equal workspaces.
 */
export async function manifest(sandbox: TaskSandbox): Promise<string> {
  return sh(
    sandbox,
    `cd /workspace && find . -mindepth 1 -printf '%y %m %U %s %l %p\\n' | LC_ALL=C sort && ` +
      `find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum`,
  );
}

export async function post(plane: ControlPlane, pathname: string, body: unknown = {}): Promise<Response> {
  return plane.fetch(pathname, { method: 'POST', body: JSON.stringify(body) });
}

export interface SnapshotJson {
  snapshotId: string;
  sandboxId: string;
  bytes: number;
  files: number;
  createdAt: string;
  expiresAt: string;
  forks: string[];
}

export async function snapshot(
  plane: ControlPlane,
  sandboxId: string,
  body: unknown = {},
): Promise<SnapshotJson> {
  const response = await post(plane, `/v1/sandboxes/${sandboxId}/snapshots`, body);
  assert.equal(response.status, 201, await response.clone().text());
  return (await response.json()) as SnapshotJson;
}

export async function fork(plane: ControlPlane, sandboxId: string, count: number) {
  const response = await post(plane, `/v1/sandboxes/${sandboxId}/fork`, { count });
  assert.equal(response.status, 201, await response.clone().text());
  const body = (await response.json()) as {
    snapshotId: string;
    sandboxes: { id: string; token: string; mcpUrl: string }[];
  };
  return {
    snapshotId: body.snapshotId,
    sandboxes: await Promise.all(body.sandboxes.map((one) => connect(plane, one))),
  };
}

/**
 * One control plane for a test file, started with `env` before its tests and
 * destroyed after them with every sandbox's client the tests opened.
 */
export function snapshotSuite(env: Record<string, string>) {
  let current: ControlPlane | undefined;
  const opened: TaskSandbox[] = [];
  before(async () => {
    current = await ControlPlane.create();
    await current.start(env);
  });
  after(async () => {
    await Promise.allSettled(opened.map((sandbox) => sandbox.client.close()));
    await current?.destroy();
  });
  return {
    get plane(): ControlPlane {
      if (current === undefined) throw new Error('the control plane has not started');
      return current;
    },
    /** A /v1 sandbox whose client closes after the tests. */
    async task(body: Record<string, unknown> = {}): Promise<TaskSandbox> {
      return this.track(await createTask(this.plane, body));
    },
    track(sandbox: TaskSandbox): TaskSandbox {
      opened.push(sandbox);
      return sandbox;
    },
  };
}
