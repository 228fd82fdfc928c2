import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { EgressRecord } from '../src/egress/audit.ts';
import { overrideLookup } from '../src/egress/resolve.ts';
import { EgressSection } from '../src/policy/egress.ts';
import type { Sandbox } from '../src/sandbox/sandbox.ts';
import {
  close,
  listen,
  type Registry,
  startGitServer,
  startPipIndex,
  startRegistry,
  startTlsServer,
} from './support/egress-servers.ts';
import { TestSandboxes } from './support/sandboxes.ts';

/**
 * Package managers and HTTP clients inside a sandbox reach real servers through
 * the egress proxy and the control plane's gate, and nothing else. Every server
 * listens on 127.0.0.1 of this host; the sandbox knows them by test names that
 * the control plane's name override points there, and the test policy names
 * 127.0.0.1/32 among its CIDRs (production refuses loopback: see egress-api.test.ts).
 */

const run = promisify(execFile);
const sandboxes = new TestSandboxes();
const records: EgressRecord[] = [];
const connects: string[] = [];
let directory: string;
let registry: Registry;
let pip: { port: number; close(): Promise<void> };
let git: { port: number; close(): Promise<void> };
let tls: { port: number; certificate: string; close(): Promise<void> };
let web: http.Server;
let webPort: number;
let sandbox: Sandbox;
/** A download large enough for both relays (the worker's and the control plane's) to carry most of it. */
const BIG = randomBytes(48 * 2 ** 20);

before(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-egress-'));
  registry = await startRegistry(path.join(directory, 'registry'));
  await registry.publish('sbx-dep', '1.0.0');
  await registry.publish('sbx-demo', '1.2.0', { 'sbx-dep': '^1.0.0' });
  await mkdir(path.join(directory, 'pip'));
  pip = await startPipIndex(path.join(directory, 'pip'), ['sbx-hello']);
  const repos = path.join(directory, 'repos');
  const work = path.join(directory, 'work');
  await mkdir(work, { recursive: true });
  await writeFile(path.join(work, 'README'), 'cloned through the egress proxy\n');
  const gitEnv = {
    ...process.env,
    GIT_AUTHOR_NAME: 't',
    GIT_AUTHOR_EMAIL: 't@t',
    GIT_COMMITTER_NAME: 't',
    GIT_COMMITTER_EMAIL: 't@t',
  };
  await run('git', ['init', '-q', '-b', 'main', work], { env: gitEnv });
  await run('git', ['-C', work, 'add', 'README'], { env: gitEnv });
  await run('git', ['-C', work, 'commit', '-q', '-m', 'first'], { env: gitEnv });
  await run('git', ['clone', '-q', '--bare', work, path.join(repos, 'demo.git')], { env: gitEnv });
  git = await startGitServer(repos);
  tls = await startTlsServer(directory, 'tls.test');
  web = http.createServer((request, response) => {
    if (request.url === '/big') return void response.end(BIG);
    response.end(`hello from ${request.headers.host}\n`);
  });
  webPort = await listen(web);
  const names = ['registry.test', 'pypi.test', 'git.test', 'web.test', 'tls.test'];
  await sandboxes.setup({
    egressLookup: overrideLookup(
      {
        ...Object.fromEntries(names.map((name) => [name, ['127.0.0.1']])),
        'metadata.test': ['169.254.169.254'],
      },
      async (name) => assert.fail(`${name} was looked up, but it is not on the allow-list`),
    ),
    egressConnect: (address, port, onread) => {
      connects.push(`${address}:${port}`);
      return net.connect({
        host: address,
        port,
        allowHalfOpen: true,
        noDelay: true,
        ...(onread ? { onread } : {}),
      });
    },
  });
  sandboxes.manager.on('egress', (record: EgressRecord) => records.push(record));
  const egress = EgressSection.parse({
    hosts: [...names, 'metadata.test'],
    ports: [registry.port, pip.port, git.port, tls.port, webPort, 80],
    cidrs: ['127.0.0.1/32'],
  });
  sandbox = await sandboxes.create({
    policy: await sandboxes.policy((policy) => {
      policy.network = { egress };
    }),
  });
});

after(async () => {
  await sandboxes.teardown();
  await Promise.all([registry?.close(), pip?.close(), git?.close(), tls?.close(), web && close(web)]);
  await rm(directory, { recursive: true, force: true });
});

async function eventually<T>(find: () => T | undefined, timeoutMs = 30_000): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  let found = find();
  while (found === undefined && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    found = find();
  }
  return found;
}

async function sh(cmd: string) {
  const result = await sandboxes.exec(sandbox, cmd);
  return { ...result, output: `${result.stdout}${result.stderr}` };
}

describe('egress through the agent link', () => {
  it('npm installs an allowed package from a real registry; another host fails with the 403', async () => {
    const registryUrl = `http://registry.test:${registry.port}/`;
    const installed = await sh(
      `mkdir -p /workspace/app && cd /workspace/app && npm init -y >/dev/null && ` +
        `npm install --no-audit --no-fund --registry ${registryUrl} sbx-demo && node -e "console.log(require('sbx-demo'), require('sbx-dep'))"`,
    );
    assert.equal(installed.exit_code, 0, installed.output);
    assert.match(installed.stdout, /sbx-demo sbx-dep/);
    const refused = await sh(
      `cd /workspace/app && npm install --no-audit --no-fund --fetch-retries 0 --registry http://evil.test:${registry.port}/ sbx-other`,
    );
    assert.notEqual(refused.exit_code, 0);
    assert.match(refused.output, /403 Forbidden \(sandboxd egress: host-not-allowed\)/, refused.output);
    // A record is written when its tunnel closes; plain HTTP keeps tunnels alive for a while.
    const record = await eventually(() =>
      records.find((entry) => entry.host === 'registry.test' && entry.bytesReceived > 0),
    );
    assert.deepEqual(
      { ...record, bytesSent: 0, bytesReceived: 0, durationMs: 0 },
      {
        sandboxId: sandbox.id,
        host: 'registry.test',
        port: registry.port,
        address: '127.0.0.1',
        bytesSent: 0,
        bytesReceived: 0,
        durationMs: 0,
        decision: 'allowed',
        rule: 'host:registry.test cidr:127.0.0.1/32',
      },
    );
    const refusal = records.find((entry) => entry.host === 'evil.test');
    assert.equal(refusal?.decision, 'refused');
    assert.equal(refusal?.rule, 'host-not-allowed');
  });

  it('pip installs from a static index on an allowed host, and not from another', async () => {
    const installed = await sh(
      `python3 -m venv /tmp/venv && /tmp/venv/bin/pip install --disable-pip-version-check --no-cache-dir --retries 0 ` +
        `--index-url http://pypi.test:${pip.port}/simple/ --trusted-host pypi.test sbx-hello && /tmp/venv/bin/python -c "import sbx_hello; print(sbx_hello.GREETING)"`,
    );
    assert.equal(installed.exit_code, 0, installed.output);
    assert.match(installed.stdout, /hello from sbx-hello/);
    const refused = await sh(
      `/tmp/venv/bin/pip install --disable-pip-version-check --no-cache-dir --retries 0 --index-url http://evil.test:${pip.port}/simple/ --trusted-host evil.test sbx-other`,
    );
    assert.notEqual(refused.exit_code, 0);
    // pip shows an index's 403 only at debug verbosity; the gate's record says what happened.
    assert.match(refused.output, /No matching distribution found for sbx-other/);
    const refusal = records.find((record) => record.host === 'evil.test' && record.port === pip.port);
    assert.equal(refusal?.rule, 'host-not-allowed');
  });

  it('git clones over smart HTTP from an allowed host, and not from another', async () => {
    const cloned = await sh(
      `git clone -q http://git.test:${git.port}/demo.git /tmp/demo && cat /tmp/demo/README`,
    );
    assert.equal(cloned.exit_code, 0, cloned.output);
    assert.match(cloned.stdout, /cloned through the egress proxy/);
    const refused = await sh(`git clone -q http://evil.test:${git.port}/demo.git /tmp/evil`);
    assert.notEqual(refused.exit_code, 0);
    assert.match(refused.output, /403/, refused.output);
  });

  it('curl reaches an allowed host by plain HTTP, CONNECT and TLS end to end, and shows the refusal', async () => {
    await sandbox.callTool('write_file', { path: 'tls.pem', content: tls.certificate });
    const plain = await sh(`curl -sS http://web.test:${webPort}/`);
    assert.equal(plain.stdout, `hello from web.test:${webPort}\n`, plain.output);
    const tunnelled = await sh(`curl -sS --proxytunnel http://web.test:${webPort}/`);
    assert.equal(tunnelled.stdout, `hello from web.test:${webPort}\n`, tunnelled.output);
    // The certificate is the server's own, checked by curl: nothing in between terminates TLS.
    const secure = await sh(`curl -sS --cacert /workspace/tls.pem https://tls.test:${tls.port}/`);
    assert.equal(secure.stdout, `tls ok: tls.test:${tls.port}\n`, secure.output);
    const refused = await sh(`curl -sS -i http://evil.test:${webPort}/`);
    assert.match(refused.stdout, /^HTTP\/1\.1 403 Forbidden \(sandboxd egress: host-not-allowed\)/);
    assert.match(refused.stdout, /x-sandboxd-egress-rule: host-not-allowed/i);
    assert.match(refused.stdout, /evil\.test is not on this sandbox's egress allow-list/);
    const refusedTls = await sh(`curl -sS https://evil.test/`);
    assert.notEqual(refusedTls.exit_code, 0);
    assert.match(refusedTls.output, /CONNECT tunnel failed, response 403/);
  });

  it("Node's fetch uses the proxy (NODE_USE_ENV_PROXY) for allowed and refused hosts", async () => {
    const script = [
      `const ok = await fetch('http://web.test:${webPort}/').then((r) => r.text());`,
      `const secure = await fetch('https://tls.test:${tls.port}/').then((r) => r.text());`,
      // undici tunnels plain HTTP through CONNECT too: a refusal is the proxy's 403, as an error.
      'const failure = (e) => String(e.cause?.cause?.message ?? e.cause?.message ?? e);',
      `const refused = await fetch('http://evil.test:${webPort}/').then(() => 'opened', failure);`,
      `const refusedTls = await fetch('https://evil.test/').then(() => 'opened', failure);`,
      'console.log(JSON.stringify({ ok, secure, refused, refusedTls }));',
    ].join('\n');
    await sandbox.callTool('write_file', { path: 'fetch.mjs', content: script });
    const result = await sh('NODE_EXTRA_CA_CERTS=/workspace/tls.pem node /workspace/fetch.mjs');
    assert.equal(result.exit_code, 0, result.output);
    const answer = JSON.parse(result.stdout);
    assert.equal(answer.ok, `hello from web.test:${webPort}\n`);
    assert.equal(answer.secure, `tls ok: tls.test:${tls.port}\n`);
    assert.match(answer.refused, /Proxy response \(403\)/);
    assert.match(answer.refusedTls, /Proxy response \(403\)/);
  });

  it('carries a large download through the relays byte for byte, the one on the host copied from the image', async () => {
    const relay = sandboxes.manager.relay;
    assert.ok(relay !== undefined, 'the control plane found its relay');
    assert.ok(relay.startsWith(path.join(sandboxes.manager.stateDir, 'relay')), relay);
    const before = records.length;
    const result = await sh(`curl -sS --proxytunnel http://web.test:${webPort}/big | sha256sum`);
    assert.equal(result.stdout.split(' ')[0], createHash('sha256').update(BIG).digest('hex'), result.output);
    const record = await eventually(() =>
      records.slice(before).find((entry) => (entry.bytesReceived ?? 0) >= BIG.length),
    );
    assert.ok(record !== undefined, 'the audit record counts every byte');
    assert.equal(record.decision, 'allowed');
  });

  it('refuses a metadata address before any connect', async () => {
    const refused = await sh('curl -sS -i http://metadata.test/');
    assert.match(refused.stdout, /^HTTP\/1\.1 403 Forbidden \(sandboxd egress: address-metadata\)/);
    assert.ok(!connects.some((target) => target.startsWith('169.254.')), connects.join(', '));
  });

  it('connected only to the addresses it checked', () => {
    assert.ok(connects.length > 0);
    for (const target of connects) assert.match(target, /^127\.0\.0\.1:\d+$/);
    assert.ok(records.every((record) => record.sandboxId === sandbox.id));
  });

  it('with network: none, no proxy listens and commands see no proxy', async () => {
    const closed = await sandboxes.create();
    const result = await sandboxes.exec(
      closed,
      'env | grep -ic proxy; ls /run/sandboxd | grep -c egress; awk \'NR > 1 && $4 == "0A"\' /proc/net/tcp /proc/net/tcp6 | wc -l',
    );
    // No proxy variable, no egress socket, nothing listening.
    assert.deepEqual(result.stdout.trim().split('\n'), ['0', '0', '0']);
    assert.equal(closed.egress.allowList, null);
    await sandboxes.manager.destroy(closed.id);
  });
});
