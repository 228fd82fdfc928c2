import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { buildImageProgram } from '../agent/exec/test-launcher.ts';

/** The relay binary's own contract (image/relay/relay.c): arguments, grants, reports, idleness. */

const SOURCE = path.resolve(import.meta.dirname, '../../image/relay/relay.c');
const directory = mkdtempSync(path.join(os.tmpdir(), 'sandboxd-relay-binary-'));
const binary = buildImageProgram(SOURCE, path.join(directory, 'relay'));

/** Two connected TCP pairs on loopback: [outer, inner] each; the inner ends go to the relay. */
async function pairs(): Promise<{
  left: net.Socket;
  right: net.Socket;
  a: net.Socket;
  b: net.Socket;
  close(): void;
}> {
  const accepted: net.Socket[] = [];
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) =>
    accepted.push(socket),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const left = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const right = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await Promise.all([once(left, 'connect'), once(right, 'connect')]);
  while (accepted.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  // The accepted sockets never read in Node: they are the relay's.
  const [a, b] = accepted as [net.Socket, net.Socket];
  return {
    left,
    right,
    a,
    b,
    close: () => {
      for (const socket of [left, right, a, b]) socket.destroy();
      server.close();
    },
  };
}

const grant = (child: ChildProcess, bytes: number) => {
  const message = Buffer.alloc(8);
  message.writeBigUInt64LE(BigInt(bytes));
  (child.stdio[3] as net.Socket).write(message);
};

/** The totals of the latest report on fd 3. */
function reports(child: ChildProcess): { latest: [number, number] | undefined } {
  const seen: { latest: [number, number] | undefined } = { latest: undefined };
  let pending = Buffer.alloc(0);
  (child.stdio[3] as net.Socket).on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    for (; pending.length >= 16; pending = pending.subarray(16)) {
      seen.latest = [Number(pending.readBigUInt64LE(0)), Number(pending.readBigUInt64LE(8))];
    }
  });
  return seen;
}

describe('the relay binary', { skip: binary === undefined && 'no C compiler on this host' }, () => {
  after(() => rmSync(directory, { recursive: true, force: true }));
  const relay = binary as string;

  test('answers --probe, and refuses arguments it does not know', () => {
    assert.equal(execFileSync(relay, ['--probe']).length, 0);
    for (const args of [
      ['--bogus'],
      ['--metered', '0'],
      ['--metered', '10', '--count', '-5'],
      ['--metered', 'x'],
    ]) {
      assert.throws(() => execFileSync(relay, args, { stdio: 'ignore' }), { status: 1 }, args.join(' '));
    }
  });

  test('metered: moves nothing beyond its grants, and reports both ways', async () => {
    const { left, right, a, b, close } = await pairs();
    try {
      const child = spawn(relay, ['--metered', '10000'], { stdio: [a, b, 'ignore', 'pipe'] });
      const seen = reports(child);
      let received = 0;
      right.on('data', (chunk: Buffer) => {
        received += chunk.length;
      });
      left.write(Buffer.alloc(300_000, 1));
      grant(child, 100_000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(received, 100_000, 'the grant, no more');
      assert.deepEqual(seen.latest, [100_000, 0]);
      // Enough for the rest, the 4 bytes back, and to see both ends.
      grant(child, 300_000);
      right.write('back');
      for (let tries = 0; received < 300_000 && tries < 100; tries++)
        await new Promise((r) => setTimeout(r, 10));
      assert.equal(received, 300_000);
      left.end();
      right.end();
      const [code] = await once(child, 'close');
      assert.equal(code, 0);
      assert.deepEqual(seen.latest, [300_000, 4]);
    } finally {
      close();
    }
  });

  test('metered: ends an idle tunnel with status 3', async () => {
    const { a, b, close } = await pairs();
    try {
      const child = spawn(relay, ['--metered', '200'], { stdio: [a, b, 'ignore', 'pipe'] });
      grant(child, 1000);
      const started = performance.now();
      const [code] = await once(child, 'close');
      assert.equal(code, 3);
      assert.ok(performance.now() - started >= 150);
    } finally {
      close();
    }
  });

  test('counted: carries exactly the count one way, then half-closes; a short source is an error', async () => {
    const whole = await pairs();
    try {
      const child = spawn(relay, ['--metered', '10000', '--count', '5000'], {
        stdio: [whole.a, whole.b, 'ignore', 'pipe'],
      });
      grant(child, 1_000_000);
      const chunks: Buffer[] = [];
      whole.right.on('data', (chunk: Buffer) => chunks.push(chunk));
      const ended = once(whole.right, 'end');
      // What follows the count is not carried, and nothing of the other side goes back.
      whole.left.write(Buffer.alloc(8000, 7));
      whole.right.write('not for the source');
      await ended;
      assert.equal(Buffer.concat(chunks).length, 5000);
      const [code] = await once(child, 'close');
      assert.equal(code, 0);
    } finally {
      whole.close();
    }
    const short = await pairs();
    try {
      const child = spawn(relay, ['--metered', '10000', '--count', '5000'], {
        stdio: [short.a, short.b, 'ignore', 'pipe'],
      });
      grant(child, 1_000_000);
      short.left.end(Buffer.alloc(3000, 7));
      const [code] = await once(child, 'close');
      assert.equal(code, 1);
    } finally {
      short.close();
    }
  });
});
