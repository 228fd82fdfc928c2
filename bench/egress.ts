/**
 * Egress: the door out, against the host's own direct path, same run. Every
 * server is on this host's 127.0.0.1; the sandbox reaches it by a test name the
 * control plane's override points there (the policy opens 127.0.0.1/32 only).
 *
 * - download: 100 MiB from a loopback HTTP server with curl — inside the sandbox
 *   through the tunnel (CONNECT, as HTTPS goes; and plain HTTP forwarded), vs
 *   curl on the host straight to the server. Median of `downloads` runs each.
 * - setup: a new connection + one tiny HTTP exchange, `connections` times, one
 *   Node process each side: through the proxy and tunnel vs direct on the host.
 * - npm install: a project of 50 packages from a local verdaccio (no uplink),
 *   fresh cache each run: inside the sandbox through the tunnel vs on the host.
 *
 * The sandbox gets 2 CPUs, as the host commands have.
 *
 *   node bench/egress.ts [--quick] [--set downloads=3] [--set connections=200] [--set installs=3]
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { overrideLookup } from '../src/egress/resolve.ts';
import { EgressSection } from '../src/policy/egress.ts';
import { loadPolicy } from '../src/policy/load.ts';
import type { Sandbox } from '../src/sandbox/sandbox.ts';
import { startRegistry } from '../test/support/egress-servers.ts';
import { directSandbox } from './lib/direct.ts';
import { relayCeiling } from './lib/relay-ceiling.ts';
import { formatMs, latencyTable, markdownTable, summarize } from './lib/stats.ts';
import { type Bench, type BenchContext, isMain, ratioCell, runStandalone } from './lib/suite.ts';

const run = promisify(execFile);
const DOWNLOAD_BYTES = 100 * 2 ** 20;

/** GET /100m: 100 MiB in 1 MiB writes (with backpressure); anything else: "ok". Prints its port. */
const DOWNLOAD_SERVER = `
const chunk = Buffer.alloc(2 ** 20, 97);
const server = http.createServer((request, response) => {
  if (request.url !== '/100m') return void response.end('ok');
  response.setHeader('content-length', ${DOWNLOAD_BYTES});
  let sent = 0;
  const write = () => {
    while (sent < ${DOWNLOAD_BYTES}) {
      sent += chunk.length;
      if (!response.write(chunk)) return void response.once('drain', write);
    }
    response.end();
  };
  write();
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

/** One Node script for both sides: new connections, direct or through the proxy, each with one tiny GET. */
const SETUP_SCRIPT = `
import net from 'node:net';
const [mode, target, count] = process.argv.slice(2);
const [host, port] = target.split(':');
const proxyPort = Number(new URL(process.env.HTTPS_PROXY ?? 'http://127.0.0.1:1').port);
const request = 'GET /empty HTTP/1.1\\r\\nHost: ' + target + '\\r\\nConnection: close\\r\\n\\r\\n';
function once() {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = mode === 'direct' ? net.connect(Number(port), host) : net.connect(proxyPort, '127.0.0.1');
    socket.setNoDelay(true);
    let text = '';
    let isOpen = mode === 'direct';
    socket.on('connect', () => socket.write(isOpen ? request : 'CONNECT ' + target + ' HTTP/1.1\\r\\n\\r\\n'));
    socket.on('data', (chunk) => {
      text += chunk;
      if (!isOpen && text.includes('\\r\\n\\r\\n')) {
        if (!text.startsWith('HTTP/1.1 200')) return reject(new Error(text.slice(0, 200)));
        isOpen = true;
        text = '';
        socket.write(request);
      }
    });
    socket.on('end', () => (text.startsWith('HTTP/1.1 200') ? resolve(performance.now() - started) : reject(new Error(text.slice(0, 200)))));
    socket.on('error', reject);
  });
}
const times = [];
for (let i = 0; i < Number(count); i++) times.push(await once());
console.log(JSON.stringify(times));
`;

/** 10 packages the project depends on, each with 4 of its own: 50 packages in the tree. */
async function publishTree(
  registry: Awaited<ReturnType<typeof startRegistry>>,
): Promise<Record<string, string>> {
  const top: Record<string, string> = {};
  for (let index = 0; index < 10; index++) {
    const leaves: Record<string, string> = {};
    for (let leaf = 0; leaf < 4; leaf++) {
      const name = `bench-leaf-${index}-${leaf}`;
      await registry.publish(name, '1.0.0');
      leaves[name] = '^1.0.0';
    }
    await registry.publish(`bench-top-${index}`, '1.0.0', leaves);
    top[`bench-top-${index}`] = '^1.0.0';
  }
  return top;
}

async function exec(sandbox: Sandbox, cmd: string, timeoutMs = 300_000): Promise<string> {
  const reply = await sandbox.callTool('exec_command', { cmd, yield_time_ms: timeoutMs }, timeoutMs + 60_000);
  const result = reply.result as { exit_code: number | null; stdout: string; stderr: string };
  if (result.exit_code !== 0) throw new Error(`${cmd}: ${result.exit_code} ${result.stderr.slice(-500)}`);
  return result.stdout;
}

/** `%{size_download} %{time_total}` of a curl run → MiB/s. */
function rate(curlOutput: string): number {
  const [bytes, seconds] = curlOutput.trim().split(' ').map(Number);
  if (bytes !== DOWNLOAD_BYTES || !seconds) throw new Error(`short download: ${curlOutput}`);
  return bytes / 2 ** 20 / seconds;
}

const median = (values: number[]) => summarize(values).p50;

async function setUp(context: BenchContext) {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-bench-egress-'));
  context.cleanup.add('remove the egress benchmark directory', () =>
    rm(directory, { recursive: true, force: true }),
  );
  // The download server runs in a process of its own, as a real one is not inside the control plane.
  const web = spawn(process.execPath, ['--input-type=module', '-e', DOWNLOAD_SERVER], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  context.cleanup.add('stop the download server', async () => web.kill());
  const webPort = await new Promise<number>((resolve, reject) => {
    web.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    web.once('exit', (code) => reject(new Error(`the download server exited with ${code}`)));
  });
  const registry = await startRegistry(path.join(directory, 'registry'));
  context.cleanup.add('stop the registry', () => registry.close());
  const dependencies = await publishTree(registry);
  const loaded = await loadPolicy('default');
  const egress = EgressSection.parse({
    hosts: ['bench.test', 'registry.test'],
    ports: [webPort, registry.port],
    cidrs: ['127.0.0.1/32'],
  });
  const policy = {
    ...loaded,
    policy: { ...loaded.policy, network: { egress }, resources: { ...loaded.policy.resources, cpus: 2 } },
  };
  let relay: string | undefined;
  const sandbox = await directSandbox(context, {
    policy,
    egressLookup: overrideLookup({ 'bench.test': ['127.0.0.1'], 'registry.test': ['127.0.0.1'] }),
    onManager: (manager) => {
      relay = manager.relay;
    },
  });
  if (relay === undefined) throw new Error('the control plane found no relay in the worker image');
  const ceiling = await relayCeiling(relay, webPort);
  context.cleanup.add('stop the relay ceiling chains', () => ceiling.close());
  const scriptFile = path.join(directory, 'setup.mjs');
  await writeFile(scriptFile, SETUP_SCRIPT);
  await sandbox.callTool('write_file', { path: 'setup.mjs', content: SETUP_SCRIPT });
  const manifest = JSON.stringify({ name: 'bench-project', version: '1.0.0', private: true, dependencies });
  await sandbox.callTool('write_file', {
    path: 'project/package.json',
    content: manifest,
    create_dirs: true,
  });
  return { directory, webPort, registry, sandbox, scriptFile, manifest, ceiling };
}

export const egressBench: Bench<{ downloads: number; connections: number; installs: number }> = {
  name: 'egress',
  title: 'egress tunnel',
  counts: (quick) => ({ downloads: quick ? 1 : 3, connections: quick ? 50 : 200, installs: quick ? 1 : 3 }),
  async run(context, counts) {
    const { directory, webPort, registry, sandbox, scriptFile, manifest, ceiling } = await setUp(context);
    const curlFormat = "-s -o /dev/null -w '%{size_download} %{time_total}'";
    const host: number[] = [];
    const tunnel: number[] = [];
    const forwarded: number[] = [];
    const oneHop: number[] = [];
    const twoHops: number[] = [];
    const hostCurl = async (port: number) =>
      rate((await run('sh', ['-c', `curl ${curlFormat} http://127.0.0.1:${port}/100m`])).stdout);
    context.progress(`downloads: ${counts.downloads} × 100 MiB each way`);
    for (let index = 0; index < counts.downloads; index++) {
      host.push(await hostCurl(webPort));
      oneHop.push(await hostCurl(ceiling.oneHop));
      twoHops.push(await hostCurl(ceiling.twoHops));
      tunnel.push(
        rate(await exec(sandbox, `curl --proxytunnel ${curlFormat} http://bench.test:${webPort}/100m`)),
      );
      forwarded.push(rate(await exec(sandbox, `curl ${curlFormat} http://bench.test:${webPort}/100m`)));
    }
    context.progress(`setup: ${counts.connections} connections each way`);
    const target = `127.0.0.1:${webPort}`;
    const direct = JSON.parse(
      (await run(process.execPath, [scriptFile, 'direct', target, String(counts.connections)])).stdout,
    ) as number[];
    const proxied = JSON.parse(
      await exec(sandbox, `node /workspace/setup.mjs proxy bench.test:${webPort} ${counts.connections}`),
    ) as number[];
    context.progress(`npm install of 50 packages: ${counts.installs} × each way`);
    const hostInstalls: number[] = [];
    const sandboxInstalls: number[] = [];
    const npmFlags = '--no-audit --no-fund --no-update-notifier --loglevel=error';
    for (let index = 0; index < counts.installs; index++) {
      const project = path.join(directory, `host-${index}`);
      await mkdir(project);
      await writeFile(path.join(project, 'package.json'), manifest);
      const started = performance.now();
      await run(
        'npm',
        [
          'install',
          ...npmFlags.split(' '),
          '--cache',
          path.join(directory, `cache-${index}`),
          '--registry',
          `http://127.0.0.1:${registry.port}/`,
        ],
        { cwd: project },
      );
      hostInstalls.push(performance.now() - started);
      const out = await exec(
        sandbox,
        `rm -rf /tmp/p && cp -r /workspace/project /tmp/p && cd /tmp/p && s=$(date +%s%N) && ` +
          `npm install ${npmFlags} --cache /tmp/npm-cache-${index} --registry http://registry.test:${registry.port}/ && ` +
          'echo $(( ($(date +%s%N) - s) / 1000000 ))',
      );
      sandboxInstalls.push(Number(out.trim().split('\n').pop()));
      const count = await exec(sandbox, 'ls /tmp/p/node_modules | wc -l');
      if (Number(count.trim()) !== 50)
        throw new Error(`the sandbox installed ${count.trim()} packages, not 50`);
    }
    const throughputRatio = median(tunnel) / median(host);
    const setupExtra = summarize(proxied).p50 - summarize(direct).p50;
    const installRatio = median(sandboxInstalls) / median(hostInstalls);
    const mibs = (value: number) => `${Math.round(value)} MiB/s`;
    return {
      rows: [
        {
          what: 'egress download',
          how: `100 MiB from a loopback HTTP server with curl, median of ${counts.downloads}: in a sandbox through the tunnel (CONNECT, agent proxy → egress.sock → gate → TCP) vs curl on the host straight to it (\`bench/egress.ts\`)`,
          result: `${mibs(median(tunnel))}; plain HTTP forwarded ${mibs(median(forwarded))}; the relay alone on the host: two hops ${mibs(median(twoHops))} (${(median(twoHops) / median(host)).toFixed(2)}×), one hop ${mibs(median(oneHop))} (${(median(oneHop) / median(host)).toFixed(2)}×)`,
          baseline: `host curl ${mibs(median(host))}`,
          ratio: `${throughputRatio.toFixed(2)}× of the host`,
          goal: '≥ 50% of the host',
          met: throughputRatio >= 0.5 ? 'yes' : 'no',
        },
        {
          what: 'egress new connection',
          how: `new TCP connection + one tiny GET, ${counts.connections} in a row from one Node process: in a sandbox through the proxy and tunnel vs direct on the host, p50 / p95`,
          result: `${formatMs(summarize(proxied).p50)} / ${formatMs(summarize(proxied).p95)} ms`,
          baseline: `direct ${formatMs(summarize(direct).p50)} / ${formatMs(summarize(direct).p95)} ms`,
          ratio: `+${formatMs(setupExtra)} ms (p50)`,
          goal: '≤ 3 ms over direct (p50)',
          met: setupExtra <= 3 ? 'yes' : 'no',
        },
        {
          what: 'egress npm install',
          how: `\`npm install\` of a project of 50 packages from a local verdaccio, fresh cache, median of ${counts.installs}: in a sandbox (2 CPUs) through the tunnel vs on the host`,
          result: `${formatMs(median(sandboxInstalls))} ms`,
          baseline: `host ${formatMs(median(hostInstalls))} ms`,
          ratio: ratioCell(median(sandboxInstalls), median(hostInstalls)),
          goal: 'ratio ≤ 1.5',
          met: installRatio <= 1.5 ? 'yes' : 'no',
        },
      ],
      details: [
        '### Egress',
        '',
        markdownTable(
          ['series', 'runs (MiB/s)'],
          [
            ['through the tunnel (CONNECT)', tunnel.map(Math.round).join(', ')],
            ['through the proxy (plain HTTP forwarded)', forwarded.map(Math.round).join(', ')],
            ['host curl, direct', host.map(Math.round).join(', ')],
            [
              "host curl, the relay alone: two hops with a Unix socket between (a tunnel's shape, no container, no metering)",
              twoHops.map(Math.round).join(', '),
            ],
            ['host curl, the relay alone: one hop, TCP to TCP', oneHop.map(Math.round).join(', ')],
          ],
        ),
        '',
        latencyTable([
          ['new connection + GET, through the tunnel', proxied],
          ['new connection + GET, direct on the host', direct],
          ['npm install, 50 packages, in the sandbox', sandboxInstalls],
          ['npm install, 50 packages, on the host', hostInstalls],
        ]),
      ].join('\n'),
    };
  },
};

if (isMain(import.meta.url)) await runStandalone(egressBench);
