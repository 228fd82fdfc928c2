/**
 * `docker compose up` end to end, with the Compose CI has (Debian's
 * docker-compose v1; the v2 plugin works too): builds both images, serves MCP
 * on loopback with the token, runs a command in the default workspace, and
 * `down` / `down -v` leave exactly what they promise to.
 *
 * Isolated from anything else on the engine by a unique project name, a
 * private state directory, a free port and an empty --env-file (the
 * developer's .env is not read). The one shared name is the default workspace
 * volume sandboxd-ws-default, which compose.yaml declares; the test skips
 * rather than remove one it did not create.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { DockerDriver } from '../src/runtime/docker/driver.ts';
import { ROOT, structured } from './support/control-plane.ts';
import { previewGet } from './support/http.ts';

const run = promisify(execFile);

/** docker-compose (v1) if installed, else the `docker compose` plugin, else nothing. */
function findCompose(): string[] | undefined {
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) return ['docker-compose'];
  if (spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0)
    return ['docker', 'compose'];
  return undefined;
}

function skipReason(compose: string[] | undefined): string | false {
  if (compose === undefined) {
    return 'neither docker-compose nor the docker compose plugin is installed (.ci/start-docker.sh installs docker-compose)';
  }
  const existing = ['volume', 'container'].filter(
    (kind) => spawnSync('docker', [kind, 'inspect', 'sandboxd-ws-default'], { stdio: 'ignore' }).status === 0,
  );
  if (existing.length > 0) {
    return `a ${existing.join(' and a ')} sandboxd-ws-default exists on this engine: this test would take it over and remove it`;
  }
  return false;
}

/**
 * CA certificates added on the host (Debian's /usr/local/share/ca-certificates),
 * for npm inside the image build: behind a TLS-intercepting proxy that the host
 * trusts, the build must trust it too. Nothing on a machine without any.
 */
function localCaCertificates(): string {
  const dir = '/usr/local/share/ca-certificates';
  try {
    return readdirSync(dir, { recursive: true })
      .map(String)
      .filter((name) => name.endsWith('.crt'))
      .map((name) => readFileSync(path.join(dir, name), 'utf8').trim())
      .join('\n');
  } catch {
    return '';
  }
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function docker(...args: string[]): Promise<string> {
  return (await run('docker', args, { maxBuffer: 16 * 1024 * 1024 })).stdout.trim();
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line.trim().length > 0);
}

const compose = findCompose();
const skip = skipReason(compose);
const project = `sandboxd-test-${randomBytes(4).toString('hex')}`;
const token = `compose-${randomBytes(16).toString('hex')}`;
let stateDir = '';
let envFile = '';
let baseUrl = '';
let previewPort = 0;
let composeEnv: NodeJS.ProcessEnv = {};

/** Runs compose for this test's project; fails with its output. */
async function composeRun(args: string[], timeoutMs: number): Promise<string> {
  const [command, ...prefix] = compose as string[];
  const child = spawn(
    command as string,
    [...prefix, '--env-file', envFile, '-p', project, '-f', path.join(ROOT, 'compose.yaml'), ...args],
    { cwd: ROOT, env: composeEnv, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  clearTimeout(timer);
  if (code !== 0) {
    throw new Error(`compose ${args.join(' ')} exited with ${code}:\n${output.slice(-8000)}`);
  }
  return output;
}

async function logs(): Promise<string> {
  return composeRun(['logs', '--no-color', '--tail', '40'], 30_000).catch((error: Error) => error.message);
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s\n${await logs()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function waitHealthy(): Promise<void> {
  await waitFor(
    'GET /healthz',
    async () => ((await fetch(`${baseUrl}/healthz`)).ok ? true : undefined),
    60_000,
  );
}

/** One tool call to the default workspace (/mcp) over a client of its own. */
async function call(name: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
  const client = new Client({ name: 'sandboxd-compose-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  try {
    return structured(await client.callTool({ name, arguments: args }));
  } finally {
    await client.close();
  }
}

function exec(cmd: string, yieldMs?: number): Promise<Record<string, unknown>> {
  return call('exec_command', { cmd, ...(yieldMs === undefined ? {} : { yield_time_ms: yieldMs }) });
}

/** Worker containers created for this stack: their socket directory is under its state directory. */
async function ourWorkers(): Promise<string[]> {
  const containers = await new DockerDriver().list({ 'io.sandboxd.managed': 'true' });
  return containers
    .filter((container) => container.labels['io.sandboxd.socket-dir']?.startsWith(`${stateDir}/`))
    .map((container) => container.labels['io.sandboxd.id'] ?? container.name);
}

async function projectResources(): Promise<Record<string, string[]>> {
  const label = `label=com.docker.compose.project=${project}`;
  return {
    containers: lines(await docker('ps', '-a', '-q', '--filter', label)),
    volumes: lines(await docker('volume', 'ls', '-q', '--filter', label)),
    networks: lines(await docker('network', 'ls', '-q', '--filter', label)),
  };
}

async function serviceContainer(service: string): Promise<string> {
  const id = await docker(
    'ps',
    '-q',
    '--filter',
    `label=com.docker.compose.project=${project}`,
    '--filter',
    `label=com.docker.compose.service=${service}`,
  );
  assert.ok(id.length > 0, `the ${service} container is running`);
  return id;
}

async function volumeExists(name: string): Promise<boolean> {
  return spawnSync('docker', ['volume', 'inspect', name], { stdio: 'ignore' }).status === 0;
}

describe('docker compose up', { skip, timeout: 300_000 }, () => {
  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-compose-state-'));
    envFile = path.join(stateDir, '..', `${path.basename(stateDir)}.env`);
    await writeFile(envFile, '');
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    // Not compose's default 8081: a user's second stack, or anything else on this machine, may hold it.
    previewPort = await freePort();
    const inherited = Object.entries(process.env).filter(
      ([name]) => !name.startsWith('SANDBOXD_') && name !== 'DOCKER_SOCKET',
    );
    composeEnv = {
      ...Object.fromEntries(inherited),
      SANDBOXD_STATE_DIR: stateDir,
      SANDBOXD_PORT: String(port),
      SANDBOXD_PREVIEW_PORT: String(previewPort),
      SANDBOXD_TOKEN: token,
      SANDBOXD_BUILD_CA_CERTS: process.env.SANDBOXD_BUILD_CA_CERTS ?? localCaCertificates(),
    };
    const started = performance.now();
    await composeRun(['up', '-d', '--build'], 240_000);
    await waitHealthy();
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    process.stderr.write(`# compose up --build and /healthz: ${seconds} s\n`);
  });

  after(async () => {
    if (compose === undefined || envFile === '') return;
    await composeRun(['down', '-v', '--remove-orphans', '--timeout', '20'], 120_000).catch(() => undefined);
    const driver = new DockerDriver();
    for (const container of await driver.list({ 'io.sandboxd.managed': 'true' }).catch(() => [])) {
      if (container.labels['io.sandboxd.socket-dir']?.startsWith(`${stateDir}/`)) {
        await driver.remove(container.id).catch(() => undefined);
      }
    }
    await rm(stateDir, { recursive: true, force: true });
    await rm(envFile, { force: true });
  });

  it('serves MCP on loopback with the token and runs a command in the default workspace', async () => {
    const ready = await waitFor(
      'GET /readyz',
      async () => {
        const response = await fetch(`${baseUrl}/readyz`);
        return response.ok ? response.json() : undefined;
      },
      30_000,
    );
    assert.deepEqual(ready, { status: 'ready' }, 'the worker image was built');
    assert.equal((await fetch(`${baseUrl}/mcp`, { method: 'POST' })).status, 401, 'no token, no MCP');

    const result = await exec('echo compose > hello.txt && cat hello.txt && id -u');
    assert.equal(result.exit_code, 0, JSON.stringify(result));
    assert.match(String(result.stdout), /^compose\n19\d{8}\n$/, "the volume's own uid");
    assert.deepEqual(await ourWorkers(), ['ws-default']);

    const controlPlane = await serviceContainer('control-plane');
    const bindings = JSON.parse(
      await docker('inspect', '--format', '{{json .HostConfig.PortBindings}}', controlPlane),
    );
    assert.deepEqual(
      bindings['8080/tcp'].map((binding: { HostIp: string }) => binding.HostIp),
      ['127.0.0.1'],
      'published on loopback only',
    );
    const host = JSON.parse(await docker('inspect', '--format', '{{json .HostConfig}}', controlPlane)) as {
      Memory: number;
      PidsLimit: number;
      LogConfig: { Type: string; Config: Record<string, string> };
    };
    assert.equal(host.Memory, 1024 ** 3, 'the shared control plane has a memory limit');
    assert.equal(host.PidsLimit, 256);
    assert.deepEqual(host.LogConfig, { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '5' } });
    const processes = lines(await docker('top', controlPlane, '-eo', 'pid,uid,args')).slice(1);
    assert.ok(processes.length >= 2, 'tini and the control plane');
    for (const line of processes) {
      assert.equal(line.trim().split(/\s+/)[1], '10001', `runs as sandboxd, not root: ${line}`);
    }
    await waitFor(
      'the HEALTHCHECK reports healthy',
      async () =>
        (await docker('inspect', '--format', '{{.State.Health.Status}}', controlPlane)) === 'healthy'
          ? true
          : undefined,
      45_000,
    );
  });

  it('serves a preview of a server in the default workspace on the preview port it was given', async () => {
    const started = await exec(
      'mkdir -p site && echo "<h1>from compose</h1>" > site/index.html && cd site && python3 -m http.server 8000 --bind 127.0.0.1',
      300,
    );
    assert.equal(started.status, 'running', JSON.stringify(started));
    const ready = await exec(
      'for i in $(seq 50); do curl -sf http://127.0.0.1:8000/ >/dev/null && exit 0; sleep 0.1; done; exit 1',
      15_000,
    );
    assert.equal(ready.exit_code, 0, JSON.stringify(ready));
    const granted = await call('preview_url', { port: 8000 });
    const url = new URL(String(granted.url));
    assert.equal(url.hostname, '8000-ws-default.localhost');
    assert.equal(url.port, String(previewPort), 'the URL names the host port the preview is published on');
    const first = await previewGet(url);
    assert.equal(first.status, 303, first.body.toString());
    const cookie = String(first.headers['set-cookie']).split(';')[0] as string;
    const page = await previewGet(new URL(String(first.headers.location), url), cookie);
    assert.equal(page.status, 200);
    assert.match(page.body.toString(), /from compose/);
    const controlPlane = await serviceContainer('control-plane');
    const bindings = JSON.parse(
      await docker('inspect', '--format', '{{json .HostConfig.PortBindings}}', controlPlane),
    ) as Record<string, { HostIp: string; HostPort: string }[]>;
    assert.deepEqual(bindings[`${previewPort}/tcp`], [
      { HostIp: '127.0.0.1', HostPort: String(previewPort) },
    ]);

    // A body past the relay's threshold goes through the control-plane image's own relay.
    const made = await exec('head -c 3000000 /dev/urandom > site/big.bin && sha256sum site/big.bin');
    const big = await previewGet(new URL('/big.bin', url), cookie);
    assert.equal(big.status, 200);
    assert.equal(
      createHash('sha256').update(big.body).digest('hex'),
      String(made.stdout).split(' ')[0],
      'the 3 MB body arrives whole',
    );
    const serving = lines(await composeRun(['logs', '--no-color', 'control-plane'], 30_000)).find((line) =>
      line.includes('sandboxd serving'),
    );
    assert.match(
      String(serving),
      /"relay":"\/opt\/sandboxd\/relay"/,
      'its own relay, none taken from the worker image',
    );
    assert.equal(existsSync(path.join(stateDir, 'relay')), false);
  });

  it('docker compose down removes the sandboxes and keeps the default workspace', async () => {
    await composeRun(['down'], 120_000);
    assert.deepEqual(await ourWorkers(), [], 'the janitor removed the worker containers');
    assert.deepEqual(await readdir(path.join(stateDir, 'sockets')), [], 'and their socket directories');
    assert.ok(await volumeExists('sandboxd-ws-default'), 'the default workspace volume stays');

    await composeRun(['up', '-d'], 120_000);
    await waitHealthy();
    const result = await exec('cat hello.txt');
    assert.equal(result.stdout, 'compose\n', 'the workspace kept its files');
  });

  it('docker compose down -v leaves nothing behind', async () => {
    await composeRun(['down', '-v'], 120_000);
    assert.deepEqual(await projectResources(), { containers: [], volumes: [], networks: [] });
    assert.equal(await volumeExists('sandboxd-ws-default'), false, 'the default workspace is removed');
    assert.deepEqual(await ourWorkers(), []);
    assert.deepEqual(await readdir(path.join(stateDir, 'sockets')), []);
  });
});
