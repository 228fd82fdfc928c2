import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { buildCountedRelay } from '../agent/exec/test-launcher.ts';
import { ByteBudget } from '../egress/budget.ts';
import { endToEndHeaders } from '../protocol/http-headers.ts';
import { RelayStarts } from '../protocol/relay.ts';
import { relayableLength, relayBody } from './body-relay.ts';

const MiB = 2 ** 20;
const directory = mkdtempSync(path.join(os.tmpdir(), 'sandboxd-body-relay-'));
const relay = buildCountedRelay(directory);
const binary = relay?.binary ?? '';
const starts = () => relay?.starts() ?? 0;

const listen = (server: http.Server) =>
  new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );

/**
 * An upstream server (as in a sandbox: keep-alive, a Content-Length) and a front
 * server that proxies to it as the preview listener does, relaying long bodies.
 */
async function startProxy(body: Buffer, budget: ByteBudget, options: { cutAt?: number } = {}) {
  const upstream = http.createServer((_request, response) => {
    response.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' });
    if (options.cutAt === undefined) return void response.end(body);
    response.write(body.subarray(0, options.cutAt), () => response.socket?.destroy());
  });
  const upstreamPort = await listen(upstream);
  const agent = new http.Agent({ keepAlive: true });
  const outcomes: Array<{ bytes: number; error?: string }> = [];
  const front = http.createServer((request, response) => {
    const proxied = http.request({ agent, host: '127.0.0.1', port: upstreamPort, path: request.url });
    proxied.on('response', (reply) => {
      const headers = endToEndHeaders(reply.rawHeaders);
      const length = relayableLength(request, reply, response, headers, new RelayStarts());
      assert.ok(length !== undefined, 'a long body of known length is relayable');
      headers.push('Connection', 'close');
      response.writeHead(reply.statusCode ?? 502, headers);
      void relayBody(reply, response, length, budget, binary).then((outcome) => outcomes.push(outcome));
    });
    proxied.on('error', () => response.destroy());
    proxied.end();
  });
  const frontPort = await listen(front);
  return {
    frontPort,
    outcomes,
    close: () => {
      agent.destroy();
      upstream.close();
      front.close();
      upstream.closeAllConnections();
      front.closeAllConnections();
    },
  };
}

/** curl, as a browser would fetch it: the bytes and whether curl saw the whole body. */
function curl(port: number): Promise<{ body: Buffer; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn('curl', ['-sS', '--max-time', '20', `http://127.0.0.1:${port}/`]);
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('close', (code) => resolve({ body: Buffer.concat(chunks), code }));
  });
}

const digest = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('a preview response body carried by the relay', {
  skip: relay === undefined && 'no C compiler on this host to build the relay',
}, () => {
  after(() => rmSync(directory, { recursive: true, force: true }));

  test('arrives whole and in order, Node carrying only what it had read, and is counted', async () => {
    const body = randomBytes(24 * MiB);
    const budget = new ByteBudget({ connections: 8 });
    const proxy = await startProxy(body, budget);
    const before = starts();
    try {
      const { body: received, code } = await curl(proxy.frontPort);
      assert.equal(code, 0);
      assert.equal(received.length, body.length);
      assert.equal(digest(received), digest(body));
      assert.equal(starts(), before + 1, 'the relay carried it');
      for (let tries = 0; proxy.outcomes.length === 0 && tries < 100; tries++)
        await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(proxy.outcomes, [{ bytes: body.length }]);
      assert.ok(budget.usedBytes >= body.length && budget.usedBytes < body.length + MiB);
    } finally {
      proxy.close();
    }
  });

  test('keeps to the bytes per second of the preview budget', async () => {
    const body = randomBytes(6 * MiB);
    const proxy = await startProxy(body, new ByteBudget({ connections: 8, bytesPerSecond: 2 * MiB }));
    try {
      const started = performance.now();
      const { body: received } = await curl(proxy.frontPort);
      const seconds = (performance.now() - started) / 1000;
      assert.equal(received.length, body.length);
      // One second of burst (2 MiB), then 2 MiB/s for the other 4 MiB.
      assert.ok(seconds > 1.6 && seconds < 6, `${seconds.toFixed(2)} s`);
    } finally {
      proxy.close();
    }
  });

  test('a body the server cuts short never looks whole to the browser', async () => {
    const body = randomBytes(8 * MiB);
    const proxy = await startProxy(body, new ByteBudget({ connections: 8 }), { cutAt: 5 * MiB });
    try {
      const { body: received, code } = await curl(proxy.frontPort);
      assert.notEqual(code, 0, 'curl reports the short body');
      assert.ok(received.length < body.length);
      for (let tries = 0; proxy.outcomes.length === 0 && tries < 100; tries++)
        await new Promise((resolve) => setTimeout(resolve, 20));
      assert.ok(proxy.outcomes[0]?.error !== undefined, 'the relay says it ended early');
    } finally {
      proxy.close();
    }
  });
});
