import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { DockerDriver } from '../src/runtime/docker/driver.ts';
import { CLI, structured } from './support/control-plane.ts';
import { openPreviewLink, previewGet } from './support/http.ts';

let folder: string;
let stateDir: string;

before(async () => {
  folder = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-stdio-ws-'));
  stateDir = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-stdio-state-'));
  await writeFile(path.join(folder, 'AGENTS.md'), 'Run the tests with make test.\n');
  await chown(folder, 1000, 1000);
  await chown(path.join(folder, 'AGENTS.md'), 1000, 1000);
});
after(async () => {
  await rm(folder, { recursive: true, force: true });
  await rm(stateDir, { recursive: true, force: true });
});

function connect(extraArgs: string[] = []) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'stdio', '--workspace', folder, ...extraArgs],
    env: { ...process.env, SANDBOXD_STATE_DIR: stateDir, SANDBOXD_LOG_LEVEL: 'warn' } as Record<
      string,
      string
    >,
    stderr: 'pipe',
  });
  const client = new Client({ name: 'sandboxd-test', version: '1.0.0' });
  return { client, transport };
}

describe('sandboxd stdio', () => {
  it('serves the tools over the folder from a container and removes the container when the client leaves', async () => {
    const { client, transport } = connect(['--eager']);
    await client.connect(transport);
    const driver = new DockerDriver();
    try {
      assert.match(
        client.getInstructions() ?? '',
        /Run the tests with make test/,
        'AGENTS.md becomes the instructions',
      );
      const exec = structured(
        await client.callTool({
          name: 'exec_command',
          arguments: { cmd: 'echo from-container > made.txt; id -u; hostname' },
        }),
      );
      assert.equal(exec.stdout, '1000\nsandbox\n');
      assert.equal(await readFile(path.join(folder, 'made.txt'), 'utf8'), 'from-container\n');
      const outside = await client.callTool({
        name: 'write_file',
        arguments: { path: '../outside.txt', content: 'x' },
      });
      assert.equal((structured(outside).error as { code: string }).code, 'PATH_OUTSIDE_WORKSPACE');
      const info = structured(await client.callTool({ name: 'server_info', arguments: {} }));
      const sandboxId = (info.sandbox as { id: string }).id;
      assert.equal((await driver.list({ 'io.sandboxd.id': sandboxId })).length, 1);
    } finally {
      await client.close();
    }
    // The CLI removes its container once stdin closes.
    for (let attempt = 0; attempt < 50; attempt++) {
      const left = (await driver.list({ 'io.sandboxd.managed': 'true' })).filter((container) =>
        container.labels['io.sandboxd.socket-dir']?.startsWith(stateDir),
      );
      if (left.length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.ok(attempt < 49, 'the stdio sandbox was removed');
    }
    assert.equal(
      await readFile(path.join(folder, 'made.txt'), 'utf8'),
      'from-container\n',
      'the folder is kept',
    );
  });

  it('starts no container before the first tool call', async () => {
    const { client, transport } = connect();
    await client.connect(transport);
    try {
      const driver = new DockerDriver();
      const ours = async () =>
        (await driver.list({ 'io.sandboxd.managed': 'true' })).filter((container) =>
          container.labels['io.sandboxd.socket-dir']?.startsWith(stateDir),
        );
      assert.equal((await client.listTools()).tools.length > 10, true);
      assert.equal((await ours()).length, 0);
      await client.callTool({ name: 'list_dir', arguments: {} });
      assert.equal((await ours()).length, 1);
    } finally {
      await client.close();
    }
  });

  it('refuses to start, and starts no container, when its preview port is taken', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as net.AddressInfo).port;
    // A state directory of its own: the other tests' containers go away on their own time.
    const ownState = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-stdio-state-'));
    try {
      const child = spawn(
        process.execPath,
        [CLI, 'stdio', '--workspace', folder, '--eager', '--preview-port', String(port)],
        { env: { ...process.env, SANDBOXD_STATE_DIR: ownState }, stdio: ['pipe', 'ignore', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const code = await new Promise((resolve) => child.once('exit', resolve));
      assert.equal(code, 2, stderr);
      assert.match(stderr, new RegExp(`preview port ${port} is in use`));
      const ours = (await new DockerDriver().list({ 'io.sandboxd.managed': 'true' })).filter((container) =>
        container.labels['io.sandboxd.socket-dir']?.startsWith(ownState),
      );
      assert.deepEqual(ours, [], 'nothing was left running');
    } finally {
      holder.close();
      await rm(ownState, { recursive: true, force: true });
    }
  });

  it('opens a server in the sandbox in a browser through a preview_url link on loopback', async () => {
    const { client, transport } = connect();
    await client.connect(transport);
    try {
      const exec = async (cmd: string, yieldMs: number) =>
        structured(
          await client.callTool({ name: 'exec_command', arguments: { cmd, yield_time_ms: yieldMs } }),
        );
      await writeFile(path.join(folder, 'page.html'), '<h1>from stdio</h1>');
      await exec('python3 -m http.server 8000 --bind 127.0.0.1', 200);
      const ready = await exec(
        'for i in $(seq 50); do curl -sf http://127.0.0.1:8000/ >/dev/null && exit 0; sleep 0.1; done; exit 1',
        15_000,
      );
      assert.equal(ready.exit_code, 0, JSON.stringify(ready));
      const granted = structured(await client.callTool({ name: 'preview_url', arguments: { port: 8000 } }));
      const url = new URL(String(granted.url));
      assert.match(url.hostname, /^8000-stdio-[0-9a-f]{8}\.localhost$/);
      assert.notEqual(url.port, '', 'the link names the listener port');
      const cookie = await openPreviewLink(url);
      const page = await previewGet(new URL('/page.html', url), cookie);
      assert.equal(page.status, 200);
      assert.equal(page.body.toString(), '<h1>from stdio</h1>');
      assert.equal((await previewGet(new URL('/page.html', url))).status, 401, 'no cookie, no page');
      assert.equal(existsSync(path.join(stateDir, 'previews.json')), false, 'its grants go with the process');
    } finally {
      await client.close();
    }
  });
});
