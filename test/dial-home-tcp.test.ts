import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { overrideLookup } from '../src/egress/resolve.ts';
import { EgressSection } from '../src/policy/egress.ts';
import { AgentPort } from '../src/sandbox/agent-port.ts';
import { AgentTokens } from '../src/sandbox/agent-tokens.ts';
import type { Sandbox } from '../src/sandbox/sandbox.ts';
import { socketDirFor } from '../src/sandbox/state-dir.ts';
import { ControlPlane, structured } from './support/control-plane.ts';
import { close, listen } from './support/egress-servers.ts';
import { TestSandboxes } from './support/sandboxes.ts';

/**
 * Agents dial home over TCP for real, on Docker: the workers join an internal
 * network (no route out, no traffic between containers) whose gateway, on this
 * host, is the only address the control plane's agent port listens on. No
 * socket directory is mounted; the token file is.
 */

const sandboxes = new TestSandboxes();
const networkName = `sandboxd-test-dial-${sandboxes.runId.slice(0, 8)}`;
let agentPort: AgentPort;
let web: http.Server;
let webPort: number;
let gateway: string;
let portNumber: number;
let a: Sandbox;
let b: Sandbox;

/** A port free on `host` now (the agent address must be known before the port listens). */
async function freePort(host: string): Promise<number> {
  const server = net.createServer();
  const port = await listen(server, host);
  await close(server);
  return port;
}

before(async () => {
  const network = await sandboxes.driver.docker.createNetwork({
    Name: networkName,
    Internal: true,
    Options: { 'com.docker.network.bridge.enable_icc': 'false' },
    Labels: { 'io.sandboxd.test-run': sandboxes.runId },
  });
  const inspected = await network.inspect();
  gateway = inspected.IPAM?.Config?.[0]?.Gateway ?? assert.fail('the network has no gateway');
  portNumber = await freePort(gateway);
  web = http.createServer((request, response) => response.end(`hello from ${request.headers.host}\n`));
  webPort = await listen(web);
  const tokens = new AgentTokens(randomBytes(32));
  await sandboxes.setup({
    egressLookup: overrideLookup({ 'web.test': ['127.0.0.1'] }, async (name) =>
      assert.fail(`${name} was looked up, but it is not on the allow-list`),
    ),
    dialHome: { address: `${gateway}:${portNumber}`, tokens, network: networkName },
  });
  agentPort = new AgentPort({
    host: gateway,
    port: portNumber,
    tokens,
    log: sandboxes.log,
    doors: (id) => sandboxes.manager.find(id),
  });
  await agentPort.listen();
  const egress = EgressSection.parse({ hosts: ['web.test'], ports: [webPort], cidrs: ['127.0.0.1/32'] });
  const policy = await sandboxes.policy((value) => {
    value.network = { egress };
  });
  a = await sandboxes.create({ policy });
  b = await sandboxes.create({ policy });
});

after(async () => {
  await sandboxes.teardown();
  await agentPort?.close();
  if (web !== undefined) await close(web);
  await sandboxes.driver.docker
    .getNetwork(networkName)
    .remove()
    .catch(() => undefined);
});

async function sh(sandbox: Sandbox, cmd: string) {
  const result = await sandboxes.exec(sandbox, cmd);
  return { ...result, output: `${result.stdout}${result.stderr}` };
}

/** Run inside a sandbox: dial the agent port with a dial hello, ask for a tunnel, print what comes back. */
const PROBE = `
const net = require('node:net');
const [address, sandboxId, token] = process.argv.slice(2);
const [host, port] = address.split(':');
const socket = net.connect({ host, port: Number(port) });
let text = '';
socket.on('data', (chunk) => { text += chunk; });
socket.on('error', () => {});
socket.on('close', () => { console.log(text === '' ? 'closed without a word' : text.trim()); });
socket.write(JSON.stringify({ sandboxId, token, channel: 'egress' }) + '\\n');
socket.write(JSON.stringify({ host: 'web.test', port: Number(process.env.WEB_PORT) }) + '\\n');
setTimeout(() => socket.end(), 2000);
`;

describe('agents dial home over TCP (Docker network)', () => {
  it('runs tools with no socket directory mounted, the agent connected through the agent port', async () => {
    const result = await sh(
      a,
      'id -u; test -e /run/sandboxd/control.sock && echo socket || echo no-socket; cat /run/sandboxd-auth/token | wc -c',
    );
    assert.equal(result.exit_code, 0, result.output);
    const [uid, socket, tokenBytes] = result.stdout.trim().split('\n');
    assert.notEqual(uid, '0');
    assert.equal(socket, 'no-socket');
    assert.equal(tokenBytes, '64');
    assert.equal(a.link.isReady, true);
    assert.equal(a.link.hello?.protocolVersion !== undefined, true);
  });

  it('reaches an allowed host through the egress proxy, each tunnel its own authenticated connection', async () => {
    const result = await sh(a, `curl -sS http://web.test:${webPort}/`);
    assert.equal(result.stdout, `hello from web.test:${webPort}\n`, result.output);
    const refused = await sh(a, `curl -sS -i http://evil.test:${webPort}/`);
    assert.match(refused.stdout, /403/, refused.output);
  });

  it('opens a preview tunnel to a server on the sandbox loopback over the agent port', async () => {
    await a.callTool('exec_command', {
      cmd: 'nohup python3 -m http.server 8000 --bind 127.0.0.1 --directory /workspace >/dev/null 2>&1 &',
      yield_time_ms: 500,
    });
    await a.callTool('write_file', { path: 'hello.txt', content: 'previewed over tcp\n' });
    let reply = '';
    for (let attempt = 0; attempt < 50 && !reply.includes('previewed'); attempt++) {
      const tunnel = await a.preview.open(8000).catch(() => undefined);
      if (tunnel === undefined) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      tunnel.resume();
      tunnel.end('GET /hello.txt HTTP/1.0\r\nHost: localhost\r\n\r\n');
      reply = '';
      for await (const chunk of tunnel) reply += String(chunk);
    }
    assert.match(reply, /^HTTP\/1\.0 200/);
    assert.match(reply, /previewed over tcp/);
  });

  it("refuses a wrong token and another sandbox's token; its own token opens a tunnel", async () => {
    await a.callTool('write_file', { path: 'probe.cjs', content: PROBE });
    const address = `${gateway}:${portNumber}`;
    const probe = (sandboxId: string, token: string) =>
      sh(a, `WEB_PORT=${webPort} node /workspace/probe.cjs ${address} ${sandboxId} ${token}`);
    const own = await probe(a.id, '"$(cat /run/sandboxd-auth/token)"');
    assert.equal(own.stdout.split('\n')[0], '{"ok":true}', own.output);
    const wrong = await probe(a.id, 'f'.repeat(64));
    assert.equal(wrong.stdout.trim(), 'closed without a word', wrong.output);
    const tokenOfB = (
      await readFile(path.join(socketDirFor(sandboxes.stateDir, b.id), 'token'), 'utf8')
    ).trim();
    const borrowed = await probe(a.id, tokenOfB);
    assert.equal(borrowed.stdout.trim(), 'closed without a word', borrowed.output);
    // The other sandbox's agent was never disturbed.
    assert.equal(b.link.isReady, true);
    assert.equal((await sh(b, 'echo still here')).stdout, 'still here\n');
  });

  it('the worker reaches no other container on the network and nothing beyond it', async () => {
    const addressOfB = (await sandboxes.driver.docker.getContainer(b.containerId as string).inspect())
      .NetworkSettings.Networks[networkName]?.IPAddress;
    assert.ok(addressOfB);
    const script = `
const net = require('node:net');
const tries = process.argv.slice(2).map((target) => new Promise((resolve) => {
  const [host, port] = target.split(':');
  const socket = net.connect({ host, port: Number(port), timeout: 2000 });
  socket.on('connect', () => { socket.destroy(); resolve(target + ' open'); });
  socket.on('timeout', () => { socket.destroy(); resolve(target + ' unreachable'); });
  socket.on('error', (error) => resolve(target + ' ' + error.code));
}));
Promise.all(tries).then((lines) => console.log(lines.join('\\n')));
`;
    await a.callTool('write_file', { path: 'reach.cjs', content: script });
    const result = await sh(
      a,
      `node /workspace/reach.cjs ${addressOfB}:22 1.1.1.1:443 ${gateway}:${portNumber}`,
    );
    const lines = result.stdout.trim().split('\n');
    assert.doesNotMatch(lines[0] ?? '', /open$/, result.output);
    assert.match(lines[1] ?? '', /ENETUNREACH|unreachable|EHOSTUNREACH/, result.output);
    assert.match(lines[2] ?? '', /open$/, result.output);
  });
});

describe('sandboxd serve --agent-listen (Docker network)', () => {
  it('serves /v1 sandboxes whose agents dial home, and keeps them across a restart (same key)', async () => {
    const plane = await ControlPlane.create();
    const port = await freePort(gateway);
    const args = ['--agent-listen', `${gateway}:${port}`, '--agent-network', networkName];
    try {
      await plane.start({}, args);
      const response = await plane.fetch('/v1/sandboxes', { method: 'POST', body: JSON.stringify({}) });
      assert.equal(response.status, 201, await response.clone().text());
      const created = (await response.json()) as {
        id: string;
        mcpUrl: string;
        token: string;
        seccomp: string;
      };
      assert.equal(created.seccomp, 'policy');
      const run = async (cmd: string) => {
        const client = await plane.client(new URL(created.mcpUrl).pathname, created.token);
        try {
          return structured(await client.callTool({ name: 'exec_command', arguments: { cmd } }));
        } finally {
          await client.close();
        }
      };
      assert.equal((await run('echo over tcp; echo kept > /tmp/kept')).stdout, 'over tcp\n');
      await plane.stop();
      await plane.start({}, args);
      // The agent kept running with its /tmp; it redials the restarted port with the token it has.
      assert.equal((await run('cat /tmp/kept')).stdout, 'kept\n');
    } finally {
      await plane.destroy();
    }
  });
});
