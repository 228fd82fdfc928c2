import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import tar from 'tar-stream';
import { DEFAULT_UID_RANGE } from '../src/sandbox/uids.ts';
import { ControlPlane, structured } from './support/control-plane.ts';
import { httpRequest } from './support/http.ts';

let plane: ControlPlane;

before(async () => {
  plane = await ControlPlane.create();
  await plane.start({ SANDBOXD_MAX_SANDBOXES: '3' });
});
after(() => plane.destroy());

const initialize = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});

describe('HTTP front door: who may call', () => {
  it('answers health without a token but nothing else', async () => {
    assert.equal((await fetch(`${plane.baseUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${plane.baseUrl}/readyz`)).status, 200);
    const bare = await fetch(`${plane.baseUrl}/mcp`, {
      method: 'POST',
      body: initialize,
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(bare.status, 401);
    assert.equal(((await bare.json()) as { error: { code: string } }).error.code, 'UNAUTHORIZED');
    assert.equal((await fetch(`${plane.baseUrl}/v1/sandboxes`)).status, 401);
    assert.equal((await fetch(`${plane.baseUrl}/metrics`)).status, 401);
  });

  it('refuses a wrong token and a token in the query string', async () => {
    const wrong = await plane.fetch('/v1/sandboxes', { headers: plane.headers('not-the-token-at-all') });
    assert.equal(wrong.status, 401);
    const query = await fetch(`${plane.baseUrl}/v1/sandboxes?token=${plane.token}`);
    assert.equal(query.status, 400);
  });

  it('refuses a foreign Host or Origin (DNS rebinding)', async () => {
    // fetch() will not send a forged Host header; node:http will.
    const url = new URL(plane.baseUrl);
    const { status: hostStatus } = await httpRequest({
      host: url.hostname,
      port: url.port,
      path: '/v1/sandboxes',
      headers: { host: 'evil.example', ...plane.headers() },
    });
    assert.equal(hostStatus, 403);
    const origin = await plane.fetch('/mcp', {
      method: 'POST',
      body: initialize,
      headers: { origin: 'http://evil.example' },
    });
    assert.equal(origin.status, 403);
  });
});

describe('HTTP front door: what may be sent', () => {
  const post = (body: string, headers: Record<string, string> = {}) =>
    plane.fetch('/mcp', {
      method: 'POST',
      body,
      headers: { accept: 'application/json, text/event-stream', ...headers },
    });

  it('answers malformed JSON with a parse error, batches and deep nesting with invalid request', async () => {
    const bad = await post('{"jsonrpc":');
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: number } }).error.code, -32700);
    const batch = await post(`[${initialize}]`);
    assert.equal(((await batch.json()) as { error: { code: number } }).error.code, -32600);
    const deep = await post(`${'['.repeat(5000)}${']'.repeat(5000)}`);
    assert.equal(((await deep.json()) as { error: { code: number } }).error.code, -32600);
  });

  it('refuses an oversized body with 413 and a non-JSON body with 415', async () => {
    const huge = await post(
      JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(5 * 1024 * 1024) } }),
    );
    assert.equal(huge.status, 413);
    const text = await post('hello', { 'content-type': 'text/plain' });
    assert.equal(text.status, 415);
  });
});

describe('MCP over HTTP on the default workspace', () => {
  it('lists the contract tools and runs them in the sandbox', async () => {
    const client = await plane.client('/mcp');
    try {
      const names = (await client.listTools()).tools.map((tool) => tool.name);
      for (const name of [
        'read_file',
        'write_file',
        'apply_patch',
        'exec_command',
        'git_status',
        'server_info',
        'request_permissions',
      ]) {
        assert.ok(names.includes(name), `${name} is listed`);
      }
      const write = await client.callTool({
        name: 'write_file',
        arguments: { path: 'hello.txt', content: 'hi\n' },
      });
      assert.equal(write.isError, false);
      const exec = structured(
        await client.callTool({ name: 'exec_command', arguments: { cmd: 'cat hello.txt; id -u' } }),
      );
      assert.equal(exec.status, 'exited');
      const [content, uid] = String(exec.stdout).split('\n');
      assert.equal(content, 'hi');
      assert.ok(Number(uid) >= DEFAULT_UID_RANGE.first, `the workspace volume's own uid, not ${uid}`);
      const refused = await client.callTool({ name: 'read_file', arguments: { path: '/etc/passwd' } });
      assert.equal(refused.isError, true);
      assert.equal((structured(refused).error as { code: string }).code, 'ABSOLUTE_PATH_DENIED');
      const wrongType = await client.callTool({ name: 'read_file', arguments: { path: 42 } });
      assert.equal((structured(wrongType).error as { code: string }).code, 'INVALID_ARGUMENT');
      const permission = await client.callTool({
        name: 'request_permissions',
        arguments: { permission: 'network' },
      });
      assert.equal((structured(permission).error as { code: string }).code, 'ELICITATION_UNSUPPORTED');
      const info = structured(await client.callTool({ name: 'server_info', arguments: {} }));
      assert.equal((info.workspace as { name: string }).name, 'default');
    } finally {
      await client.close();
    }
  });

  it('counts tool calls and sandboxes in /metrics', async () => {
    const text = await (await plane.fetch('/metrics')).text();
    assert.match(text, /sandboxd_tool_calls_total\{tool="exec_command",outcome="ok",code=""\} [1-9]/);
    assert.match(
      text,
      /sandboxd_tool_calls_total\{tool="read_file",outcome="error",code="ABSOLUTE_PATH_DENIED"\} 1/,
    );
    assert.match(text, /sandboxd_sandboxes\{state="ready"\} [1-9]/);
    assert.match(text, /sandboxd_create_seconds_count [1-9]/);
  });
});

describe('the /v1 provisioning API', () => {
  it('creates a sandbox with its own MCP URL and a token that reaches only it', async () => {
    const response = await plane.fetch('/v1/sandboxes', {
      method: 'POST',
      body: JSON.stringify({ ttlSeconds: 600, labels: { task: 'unit' } }),
    });
    assert.equal(response.status, 201);
    const created = (await response.json()) as {
      id: string;
      mcpUrl: string;
      token: string;
      expiresAt: string;
      labels: object;
    };
    assert.match(created.id, /^sb-[0-9a-f]{12}$/);
    assert.deepEqual(created.labels, { task: 'unit' });
    assert.ok(Date.parse(created.expiresAt) > Date.now());
    const path = new URL(created.mcpUrl).pathname;
    const client = await plane.client(path, created.token);
    try {
      const exec = structured(
        await client.callTool({ name: 'exec_command', arguments: { cmd: 'echo scoped' } }),
      );
      assert.equal(exec.stdout, 'scoped\n');
    } finally {
      await client.close();
    }
    // The sandbox token reaches neither the operator's endpoints nor the default workspace.
    assert.equal((await plane.fetch('/v1/sandboxes', { headers: plane.headers(created.token) })).status, 401);
    const onDefault = await plane.fetch('/mcp', {
      method: 'POST',
      body: initialize,
      headers: plane.headers(created.token),
    });
    assert.equal(onDefault.status, 401);
    const listed = (await (await plane.fetch('/v1/sandboxes')).json()) as { sandboxes: { id: string }[] };
    assert.ok(listed.sandboxes.some((sandbox) => sandbox.id === created.id));
    const one = (await (await plane.fetch(`/v1/sandboxes/${created.id}`)).json()) as {
      state: string;
      policy: string;
    };
    assert.equal(one.policy, 'default');
    assert.equal((await plane.fetch(`/v1/sandboxes/${created.id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await plane.fetch(`/v1/sandboxes/${created.id}`)).status, 404);
    const gone = await plane.fetch(path, {
      method: 'POST',
      body: initialize,
      headers: plane.headers(created.token),
    });
    assert.ok(gone.status === 401 || gone.status === 404);
  });

  it('refuses another sandbox token on a sandbox endpoint', async () => {
    const a = (await (await plane.fetch('/v1/sandboxes', { method: 'POST', body: '{}' })).json()) as {
      id: string;
      token: string;
    };
    const b = (await (await plane.fetch('/v1/sandboxes', { method: 'POST', body: '{}' })).json()) as {
      id: string;
      token: string;
    };
    assert.ok(a.id && b.id, JSON.stringify([a, b]));
    const cross = await plane.fetch(`/s/${a.id}/mcp`, {
      method: 'POST',
      body: initialize,
      headers: plane.headers(b.token),
    });
    assert.equal(cross.status, 401);
    await plane.fetch(`/v1/sandboxes/${a.id}`, { method: 'DELETE' });
    await plane.fetch(`/v1/sandboxes/${b.id}`, { method: 'DELETE' });
  });

  it('validates bodies and answers QUOTA_EXCEEDED beyond the limit, without hanging', async () => {
    const bad = await plane.fetch('/v1/sandboxes', {
      method: 'POST',
      body: JSON.stringify({ policy: '../etc/passwd' }),
    });
    assert.equal(bad.status, 400);
    const unknown = await plane.fetch('/v1/sandboxes', {
      method: 'POST',
      body: JSON.stringify({ colour: 'red' }),
    });
    assert.equal(unknown.status, 400);
    const reserved = await plane.fetch('/v1/sandboxes', {
      method: 'POST',
      body: JSON.stringify({ labels: { 'io.sandboxd.id': 'x' } }),
    });
    assert.equal(reserved.status, 400);
    assert.equal((await plane.fetch('/v1/sandboxes/sb-doesnotexist')).status, 404);
    // The default workspace holds one of the 3 allowed; two more fit, the next does not.
    const made: string[] = [];
    for (let index = 0; index < 2; index++) {
      const response = await plane.fetch('/v1/sandboxes', { method: 'POST', body: '{}' });
      assert.equal(response.status, 201);
      made.push(((await response.json()) as { id: string }).id);
    }
    const over = await plane.fetch('/v1/sandboxes', { method: 'POST', body: '{}' });
    assert.equal(over.status, 429);
    assert.equal(((await over.json()) as { error: { code: string } }).error.code, 'QUOTA_EXCEEDED');
    for (const id of made) await plane.fetch(`/v1/sandboxes/${id}`, { method: 'DELETE' });
  });
});

describe('/v1 workspace archives', () => {
  it('uploads a tar into a sandbox and downloads the workspace back, through the agent', async () => {
    const created = (await (await plane.fetch('/v1/sandboxes', { method: 'POST', body: '{}' })).json()) as {
      id: string;
    };
    try {
      const pack = tar.pack();
      pack.entry({ name: 'src/hello.txt' }, 'hello archive\n');
      pack.finalize();
      const chunks: Buffer[] = [];
      for await (const chunk of pack) chunks.push(chunk as Buffer);
      const upload = await plane.fetch(`/v1/sandboxes/${created.id}/archive`, {
        method: 'PUT',
        body: Buffer.concat(chunks),
        headers: { 'content-type': 'application/x-tar' },
      });
      assert.equal(upload.status, 200, await upload.clone().text());
      assert.equal(((await upload.json()) as { files: number }).files, 1);

      const download = await plane.fetch(`/v1/sandboxes/${created.id}/archive`);
      assert.equal(download.status, 200);
      assert.equal(download.headers.get('content-type'), 'application/x-tar');
      const extract = tar.extract();
      const names = new Map<string, string>();
      const done = new Promise<void>((resolve, reject) => {
        extract.on('entry', (header, stream, next) => {
          const parts: Buffer[] = [];
          stream.on('data', (part: unknown) => parts.push(part as Buffer));
          stream.on('end', () => {
            names.set(header.name, Buffer.concat(parts).toString());
            next();
          });
        });
        extract.on('finish', resolve);
        extract.on('error', reject);
      });
      extract.end(Buffer.from(await download.arrayBuffer()));
      await done;
      assert.equal(names.get('./src/hello.txt'), 'hello archive\n');

      const wrongType = await plane.fetch(`/v1/sandboxes/${created.id}/archive`, {
        method: 'PUT',
        body: 'x',
      });
      assert.equal(wrongType.status, 415);
      const anonymous = await fetch(`${plane.baseUrl}/v1/sandboxes/${created.id}/archive`);
      assert.equal(anonymous.status, 401);
      assert.equal((await plane.fetch('/v1/sandboxes/sb-000000000000/archive')).status, 404);
    } finally {
      await plane.fetch(`/v1/sandboxes/${created.id}`, { method: 'DELETE' });
    }
  });
});
