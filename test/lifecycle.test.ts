import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { DockerDriver } from '../src/runtime/docker/driver.ts';
import { ControlPlane, structured } from './support/control-plane.ts';

const planes: ControlPlane[] = [];
after(async () => {
  for (const plane of planes) await plane.destroy();
});

async function startPlane(
  overrides: Record<string, Record<string, unknown>> = {},
  env: Record<string, string> = {},
) {
  const plane = await ControlPlane.create(overrides);
  planes.push(plane);
  await plane.start(env);
  return plane;
}

interface Created {
  id: string;
  mcpUrl: string;
  token: string;
}

async function createSandbox(plane: ControlPlane, body: object = {}): Promise<Created> {
  const response = await plane.fetch('/v1/sandboxes', { method: 'POST', body: JSON.stringify(body) });
  assert.equal(response.status, 201, await response.clone().text());
  return (await response.json()) as Created;
}

async function stateOf(plane: ControlPlane, id: string): Promise<string> {
  const response = await plane.fetch(`/v1/sandboxes/${id}`);
  if (response.status === 404) return 'absent';
  return ((await response.json()) as { state: string }).state;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('a control-plane restart', () => {
  it('loses nothing: a running command is polled by its id afterwards and finishes normally', async () => {
    const plane = await startPlane();
    const sandbox = await createSandbox(plane);
    const path = new URL(sandbox.mcpUrl).pathname;
    let client = await plane.client(path, sandbox.token);
    await client.callTool({
      name: 'write_file',
      arguments: { path: 'kept.txt', content: 'before restart\n' },
    });
    const started = structured(
      await client.callTool({
        name: 'exec_command',
        arguments: { cmd: 'sleep 3; echo finished; echo done > after.txt', yield_time_ms: 0 },
      }),
    );
    assert.equal(started.status, 'running');
    await client.close();

    await plane.stop();
    const driver = new DockerDriver();
    const containers = await driver.list({ 'io.sandboxd.id': sandbox.id });
    assert.equal(
      containers[0]?.state,
      'running',
      'the sandbox keeps running while the control plane is down',
    );
    await plane.start();

    client = await plane.client(path, sandbox.token);
    try {
      const polled = structured(
        await client.callTool({
          name: 'write_stdin',
          arguments: { command_id: started.command_id, chars: '', yield_time_ms: 10_000 },
        }),
      );
      assert.equal(polled.status, 'exited');
      assert.equal(polled.exit_code, 0);
      assert.equal(polled.stdout, 'finished\n');
      const kept = structured(await client.callTool({ name: 'read_file', arguments: { path: 'kept.txt' } }));
      assert.equal(kept.content, 'before restart\n');
      const after = structured(
        await client.callTool({ name: 'read_file', arguments: { path: 'after.txt' } }),
      );
      assert.equal(after.content, 'done\n');
    } finally {
      await client.close();
    }
    assert.equal(await stateOf(plane, sandbox.id), 'ready');
    const metrics = await (await plane.fetch('/metrics')).text();
    assert.match(metrics, /sandboxd_sandboxes\{state="ready"\} 1/);
  });
});

describe('idle reaping and the TTL', () => {
  it('stops an idle sandbox, keeps one with a running command, and starts it again on the next call', async () => {
    const plane = await startPlane({ timeouts: { idle: '2s' } }, { SANDBOXD_SWEEP_MS: '250' });
    const busy = await createSandbox(plane);
    const quiet = await createSandbox(plane);
    const busyClient = await plane.client(new URL(busy.mcpUrl).pathname, busy.token);
    await busyClient.callTool({ name: 'exec_command', arguments: { cmd: 'sleep 6', yield_time_ms: 0 } });
    await busyClient.close();

    await waitFor(
      async () => (await stateOf(plane, quiet.id)) === 'stopped',
      10_000,
      'the quiet sandbox to stop',
    );
    assert.notEqual(await stateOf(plane, busy.id), 'stopped', 'a running command keeps its sandbox up');
    const info = await new DockerDriver().list({ 'io.sandboxd.id': quiet.id });
    assert.equal(info[0]?.state, 'exited', 'the container really is stopped');

    const client = await plane.client(new URL(quiet.mcpUrl).pathname, quiet.token);
    try {
      const result = structured(
        await client.callTool({ name: 'exec_command', arguments: { cmd: 'echo back' } }),
      );
      assert.equal(result.stdout, 'back\n');
    } finally {
      await client.close();
    }
    assert.equal(await stateOf(plane, quiet.id), 'ready');
    const metrics = await (await plane.fetch('/metrics')).text();
    assert.match(metrics, /sandboxd_reaped_total\{reason="idle"\} [1-9]/);
  });

  it('notices a container the engine stopped and starts it on the next call', async () => {
    const plane = await startPlane({}, { SANDBOXD_SWEEP_MS: '250' });
    const sandbox = await createSandbox(plane);
    const driver = new DockerDriver();
    const [container] = await driver.list({ 'io.sandboxd.id': sandbox.id });
    await driver.stop(container?.id as string, 1);
    await waitFor(
      async () => (await stateOf(plane, sandbox.id)) === 'stopped',
      10_000,
      'the sandbox to be seen stopped',
    );
    const client = await plane.client(new URL(sandbox.mcpUrl).pathname, sandbox.token);
    try {
      const result = structured(
        await client.callTool({ name: 'exec_command', arguments: { cmd: 'echo again' } }),
      );
      assert.equal(result.stdout, 'again\n');
    } finally {
      await client.close();
    }
  });

  it('removes a sandbox and its volume at its TTL', async () => {
    const plane = await startPlane({}, { SANDBOXD_SWEEP_MS: '250' });
    const sandbox = await createSandbox(plane, { ttlSeconds: 1 });
    await waitFor(
      async () => (await stateOf(plane, sandbox.id)) === 'absent',
      10_000,
      'the TTL to remove the sandbox',
    );
    const driver = new DockerDriver();
    assert.deepEqual(await driver.list({ 'io.sandboxd.id': sandbox.id }), []);
    assert.deepEqual(await driver.listVolumes({ 'io.sandboxd.id': sandbox.id }), []);
  });
  it('keeps a named workspace volume and its files when the TTL removes the sandbox over it', async () => {
    const plane = await startPlane({}, { SANDBOXD_SWEEP_MS: '250' });
    const first = await createSandbox(plane, { workspace: 'ttl-kept', ttlSeconds: 2 });
    const client = await plane.client(new URL(first.mcpUrl).pathname, first.token);
    try {
      await client.callTool({ name: 'write_file', arguments: { path: 'kept.txt', content: 'still here\n' } });
    } finally {
      await client.close();
    }
    await waitFor(async () => (await stateOf(plane, first.id)) === 'absent', 10_000, 'the TTL to remove it');
    const driver = new DockerDriver();
    assert.deepEqual(await driver.list({ 'io.sandboxd.id': first.id }), [], 'the container is gone');
    const second = await createSandbox(plane, { workspace: 'ttl-kept' });
    const again = await plane.client(new URL(second.mcpUrl).pathname, second.token);
    try {
      const read = structured(await again.callTool({ name: 'read_file', arguments: { path: 'kept.txt' } }));
      assert.equal(read.content, 'still here\n', 'the volume and its file outlived the expiry');
    } finally {
      await again.close();
      await plane.fetch(`/v1/sandboxes/${second.id}`, { method: 'DELETE' });
      await driver.removeVolume('sandboxd-ws-ttl-kept');
    }
  });
});

describe('named workspaces', () => {
  it('are created on first use, keep their files while their sandbox is stopped, and can be forbidden', async () => {
    const plane = await startPlane({ timeouts: { idle: '1s' } }, { SANDBOXD_SWEEP_MS: '250' });
    let client = await plane.client('/w/team-a/mcp');
    await client.callTool({ name: 'write_file', arguments: { path: 'notes.txt', content: 'team a\n' } });
    const info = structured(await client.callTool({ name: 'server_info', arguments: {} }));
    assert.equal((info.workspace as { name: string; source: string }).name, 'team-a');
    assert.equal((info.workspace as { source: string }).source, 'sandboxd-ws-team-a');
    await client.close();
    await waitFor(
      async () => (await stateOf(plane, 'ws-team-a')) === 'stopped',
      10_000,
      'the idle workspace to stop',
    );
    client = await plane.client('/w/team-a/mcp');
    try {
      const read = structured(await client.callTool({ name: 'read_file', arguments: { path: 'notes.txt' } }));
      assert.equal(read.content, 'team a\n');
    } finally {
      await client.close();
    }
    const bad = await plane.fetch('/w/Not_A_Name/mcp', { method: 'POST', body: '{}' });
    assert.equal(bad.status, 400);

    const strict = await startPlane({}, { SANDBOXD_NO_CREATE_WORKSPACES: '1' });
    const refused = await strict.fetch('/w/nobody/mcp', {
      method: 'POST',
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    assert.equal(refused.status, 404);
  });
});

describe('the operator token', () => {
  it('is generated at first start, saved 0600, shown once, and kept across restarts', async () => {
    const plane = await ControlPlane.create();
    planes.push(plane);
    await plane.start({ SANDBOXD_TOKEN: '' });
    const file = path.join(plane.stateDir, 'operator-token');
    const token = (await readFile(file, 'utf8')).trim();
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.ok(token.length >= 32);
    assert.ok(plane.stderr.includes(token), 'the new token is shown to the person at the terminal');
    assert.equal((await plane.fetch('/v1/sandboxes', { headers: plane.headers(token) })).status, 200);
    await plane.stop();
    await plane.start({ SANDBOXD_TOKEN: '' });
    assert.ok(!plane.stderr.includes(token), 'shown once, not at every start');
    assert.equal((await plane.fetch('/v1/sandboxes', { headers: plane.headers(token) })).status, 200);
  });
});
