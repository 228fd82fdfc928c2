/**
 * Previews: the door in, against the same server reached directly on the host,
 * same run. The server is test/fixtures/preview-server.mjs: inside a sandbox
 * behind a public preview (browser side → preview listener → preview.sock →
 * agent → the sandbox's loopback), and as a process on this host's loopback.
 *
 * - small GET: `GET /` (a 60-byte page), one keep-alive client, in a row; p50/p95.
 * - 50 MiB: `GET /big?mib=50`, median of `downloads` runs each way.
 * - WebSockets: 100 held open through the preview (each echoes one message);
 *   the control plane's heap and buffer growth per connection (client sockets in the same process).
 *
 *   node bench/preview.ts [--quick] [--set requests=500] [--set downloads=3] [--set sockets=100]
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { loadPolicy } from '../src/policy/load.ts';
import { Previews } from '../src/preview/service.ts';
import type { SandboxManager } from '../src/sandbox/manager.ts';
import { directSandbox } from './lib/direct.ts';
import { formatMs, latencyTable, summarize } from './lib/stats.ts';
import { type Bench, isMain, runStandalone } from './lib/suite.ts';

const run = promisify(execFile);
const FIXTURE = path.join(import.meta.dirname, '..', 'test', 'fixtures', 'preview-server.mjs');
const SANDBOX_PORT = 3000;

function get(port: number, host: string, pathname: string, agent: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.get(
      { host: '127.0.0.1', port, path: pathname, headers: { host }, agent },
      (response) => {
        let bytes = 0;
        response.on('data', (chunk: Buffer) => (bytes += chunk.length));
        response.on('end', () =>
          response.statusCode === 200 ? resolve(bytes) : reject(new Error(`HTTP ${response.statusCode}`)),
        );
      },
    );
    request.on('error', reject);
  });
}

async function latencies(port: number, host: string, count: number): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  for (let index = 0; index < count + 50; index++) {
    const started = performance.now();
    await get(port, host, '/', agent);
    if (index >= 50) times.push(performance.now() - started);
  }
  agent.destroy();
  return times;
}

/** 50 MiB with curl, a process of its own as a browser is (MiB/s). */
async function download(port: number, host: string): Promise<number> {
  const { stdout } = await run('curl', [
    '-s',
    '-o',
    '/dev/null',
    '-w',
    '%{size_download} %{time_total}',
    '-H',
    `Host: ${host}`,
    `http://127.0.0.1:${port}/big?mib=50`,
  ]);
  const [bytes, seconds] = stdout.trim().split(' ').map(Number);
  if (bytes !== 50 * 2 ** 20 || !seconds) throw new Error(`short download: ${stdout}`);
  return bytes / 2 ** 20 / seconds;
}

/** A WebSocket opened by hand (the Host header names the preview), echoing one message. */
function openSocket(port: number, host: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const key = createHash('sha1').update(String(Math.random())).digest('base64').slice(0, 24);
    socket.write(
      `GET /ws HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (!text.includes('\r\n\r\n')) return;
      if (!text.startsWith('HTTP/1.1 101')) return reject(new Error(text.slice(0, 100)));
      if (!text.includes('echo: hi')) {
        if (text.endsWith('\r\n\r\n')) socket.write(Buffer.from([0x81, 0x82, 0, 0, 0, 0, 0x68, 0x69]));
        return;
      }
      socket.off('data', onData);
      resolve(socket);
    };
    socket.on('data', onData);
    socket.on('error', reject);
  });
}

export const previewBench: Bench<{ requests: number; downloads: number; sockets: number }> = {
  name: 'preview',
  title: 'preview tunnel',
  counts: (quick) => ({ requests: quick ? 100 : 500, downloads: quick ? 1 : 3, sockets: 100 }),
  async run(context, counts) {
    let manager: SandboxManager | undefined;
    // Room for the WebSockets and the keep-alive clients (the default policy allows 64 tunnels).
    const loaded = await loadPolicy('default');
    const policy = { ...loaded, policy: { ...loaded.policy, preview: { connections: counts.sockets + 16 } } };
    const sandbox = await directSandbox(context, { policy, onManager: (made) => (manager = made) });
    await sandbox.callTool('write_file', {
      path: 'preview-server.mjs',
      content: await readFile(FIXTURE, 'utf8'),
    });
    await sandbox.callTool('exec_command', {
      cmd: `node preview-server.mjs ${SANDBOX_PORT}`,
      yield_time_ms: 300,
    });
    const hostServer = spawn(process.execPath, [FIXTURE, '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    context.cleanup.add('stop the host server', async () => hostServer.kill());
    const hostPort = await new Promise<number>((resolve) =>
      hostServer.stdout.once('data', (chunk: Buffer) =>
        resolve(Number(/listening on (\d+)/.exec(chunk.toString())?.[1])),
      ),
    );
    const previews = new Previews({
      manager: manager as SandboxManager,
      addressing: { domain: 'localhost', scheme: 'http', urlPort: 0 },
      log: pino({ level: 'silent' }),
    });
    const server = previews.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    context.cleanup.add('close the preview listener', async () => {
      server.closeAllConnections();
      server.close();
      previews.close();
    });
    const previewPort = (server.address() as net.AddressInfo).port;
    const made = await previews.grant(sandbox, { port: SANDBOX_PORT, isPublic: true, grantedBy: 'operator' });
    if (!made.listening) throw new Error('the server in the sandbox did not start');
    const previewHost = new URL(made.url).hostname;

    context.progress(`small GET: ${counts.requests} each way`);
    const direct = await latencies(hostPort, `127.0.0.1:${hostPort}`, counts.requests);
    const through = await latencies(previewPort, previewHost, counts.requests);
    context.progress(`50 MiB: ${counts.downloads} each way`);
    const hostRates: number[] = [];
    const previewRates: number[] = [];
    for (let index = 0; index < counts.downloads; index++) {
      hostRates.push(await download(hostPort, `127.0.0.1:${hostPort}`));
      previewRates.push(await download(previewPort, previewHost));
    }
    context.progress(`${counts.sockets} WebSockets held open`);
    const used = () => {
      global.gc?.();
      const memory = process.memoryUsage();
      return memory.heapUsed + memory.external;
    };
    const before = used();
    const sockets: net.Socket[] = [];
    for (let index = 0; index < counts.sockets; index++)
      sockets.push(await openSocket(previewPort, previewHost));
    const perSocket = (used() - before) / counts.sockets;
    const open = sockets.filter((socket) => !socket.destroyed).length;
    for (const socket of sockets) socket.destroy();

    const extra = summarize(through).p50 - summarize(direct).p50;
    const median = (values: number[]) => summarize(values).p50;
    const ratio = median(previewRates) / median(hostRates);
    return {
      rows: [
        {
          what: 'preview small GET',
          how: `\`GET /\` of the same Node server, ${counts.requests} in a row on one keep-alive connection: in a sandbox through a preview vs on the host directly, p50 / p95 (\`bench/preview.ts\`)`,
          result: `${formatMs(summarize(through).p50)} / ${formatMs(summarize(through).p95)} ms`,
          baseline: `direct ${formatMs(summarize(direct).p50)} / ${formatMs(summarize(direct).p95)} ms`,
          ratio: `+${formatMs(extra)} ms (p50)`,
          goal: '≤ 2 ms over direct (p50)',
          met: extra <= 2 ? 'yes' : 'no',
        },
        {
          what: 'preview 50 MiB response',
          how: `\`GET /big?mib=50\` with curl, median of ${counts.downloads}: through the preview vs the host server directly`,
          result: `${Math.round(median(previewRates))} MiB/s`,
          baseline: `direct ${Math.round(median(hostRates))} MiB/s`,
          ratio: `${ratio.toFixed(2)}× of the host`,
          goal: '≥ 50% of the host',
          met: ratio >= 0.5 ? 'yes' : 'no',
        },
        {
          what: 'preview WebSockets held',
          how: `${counts.sockets} WebSockets opened through the preview and held (each echoed once); growth of the control-plane process's heap and buffers (after GC; its client ends are in it too) per connection`,
          result:
            perSocket > 0
              ? `${open} open, ${(perSocket / 1024).toFixed(0)} KiB each`
              : `${open} open; per connection below the heap's noise (${(perSocket / 1024).toFixed(0)} KiB measured)`,
          baseline: '–',
          ratio: '–',
          goal: 'reported',
          met: open === counts.sockets ? 'yes' : 'no',
        },
      ],
      details: [
        '### Preview',
        '',
        latencyTable([
          ['small GET through the preview', through],
          ['small GET direct on the host', direct],
        ]),
        '',
        `50 MiB runs (MiB/s): through the preview ${previewRates.map(Math.round).join(', ')}; direct ${hostRates.map(Math.round).join(', ')}.`,
      ].join('\n'),
    };
  },
};

if (isMain(import.meta.url)) await runStandalone(previewBench);
