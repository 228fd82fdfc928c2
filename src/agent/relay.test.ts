import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LargeReads } from '#protocol/large-reads';
import { HANDOVER_BYTES } from '#protocol/relay';
import { buildRelay } from './exec/test-launcher.ts';
import { relaySplice } from './relay.ts';

const directory = mkdtempSync(path.join(os.tmpdir(), 'sandboxd-relay-'));
const binary = buildRelay(directory);

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );
}

/** A front door whose connections are relaySplice'd to an echo server (allowHalfOpen everywhere). */
async function startChain() {
  const echo = net.createServer({ allowHalfOpen: true }, (socket) => {
    // A tunnel killed mid-stream resets its connections.
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  const echoPort = await listen(echo);
  const tunnels: Array<{
    reads: LargeReads;
    a: net.Socket;
    b: net.Socket;
    done: Promise<{ error?: string }>;
  }> = [];
  const front = net.createServer({ allowHalfOpen: true }, (a) => {
    const reads = new LargeReads();
    const b = reads.attach(
      net.connect({ host: '127.0.0.1', port: echoPort, allowHalfOpen: true, onread: reads.options }),
    );
    b.once('connect', () => tunnels.push({ reads, a, b, done: relaySplice(a, b, reads) }));
  });
  const frontPort = await listen(front);
  return {
    frontPort,
    tunnels,
    close: () => {
      echo.close();
      front.close();
    },
  };
}

/** Sends `payload`, ends, and collects what comes back until the far side ends. */
function roundTrip(port: number, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      socket.end();
      resolve(Buffer.concat(chunks));
    });
    socket.on('error', reject);
    socket.end(payload);
  });
}

describe('relaySplice hands a busy tunnel to the splice(2) relay', {
  skip: binary === undefined && 'no C compiler on this host',
}, () => {
  before(() => {
    process.env.SANDBOXD_RELAY = binary;
  });
  after(() => {
    delete process.env.SANDBOXD_RELAY;
    rmSync(directory, { recursive: true, force: true });
  });

  test('every byte arrives in order both ways, and the relay carried most of them', async () => {
    const chain = await startChain();
    try {
      const payload = randomBytes(12 * HANDOVER_BYTES);
      const back = await roundTrip(chain.frontPort, payload);
      assert.equal(back.length, payload.length);
      assert.ok(back.equals(payload), 'the echo is the payload, byte for byte');
      const [tunnel] = chain.tunnels;
      assert.ok(tunnel !== undefined);
      assert.deepEqual(await tunnel.done, {});
      assert.ok(tunnel.reads.piped >= HANDOVER_BYTES, 'Node carried the first bytes');
      assert.ok(
        tunnel.reads.piped < payload.length / 2,
        `Node carried ${tunnel.reads.piped} bytes, the relay the rest`,
      );
    } finally {
      chain.close();
    }
  });

  test('a small exchange stays in Node', async () => {
    const chain = await startChain();
    try {
      const payload = randomBytes(1000);
      assert.ok((await roundTrip(chain.frontPort, payload)).equals(payload));
      const [tunnel] = chain.tunnels;
      assert.ok(tunnel !== undefined);
      await tunnel.done;
      assert.equal(tunnel.reads.piped, payload.length);
    } finally {
      chain.close();
    }
  });

  test('destroying a socket after the hand-over ends the relay and closes the other', async () => {
    const chain = await startChain();
    try {
      const client = net.connect({ host: '127.0.0.1', port: chain.frontPort });
      client.on('error', () => {});
      let received = 0;
      const enough = new Promise<void>((resolve) =>
        client.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received >= 4 * HANDOVER_BYTES) resolve();
        }),
      );
      client.write(randomBytes(8 * HANDOVER_BYTES));
      await enough;
      const [tunnel] = chain.tunnels;
      assert.ok(tunnel !== undefined);
      tunnel.a.destroy();
      assert.deepEqual(await tunnel.done, {});
      assert.ok(tunnel.b.destroyed);
      // The relay held a copy of the client's connection: it is gone, so the client sees the end.
      await new Promise<void>((resolve) => client.once('close', () => resolve()));
    } finally {
      chain.close();
    }
  });
});
