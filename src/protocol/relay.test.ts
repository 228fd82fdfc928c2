import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { buildRelay } from '../agent/exec/test-launcher.ts';

/** The relay binary's own contract (image/relay/relay.c): arguments, grants, reports, idleness. */

const directory = mkdtempSync(path.join(os.tmpdir(), 'sandboxd-relay-binary-'));
const binary = buildRelay(directory);

let sockets = 0;

/**
 * Two connected pairs, [outer, inner] each; the inner ends (`a`, `b`) go to the
 * relay. The right pair is TCP on loopback; the left one too, or a Unix socket
 * (`unixLeft`: a tunnel's sandbox side, with the small buffers of one).
 */
async function pairs(options: { unixLeft?: boolean } = {}): Promise<{
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
  const address = options.unixLeft ? path.join(directory, `left-${sockets++}.sock`) : undefined;
  if (address === undefined) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  else await new Promise<void>((resolve) => server.listen(address, resolve));
  const tcp = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) =>
    accepted.push(socket),
  );
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  const connected = async (socket: net.Socket, count: number) => {
    await once(socket, 'connect');
    while (accepted.length < count) await new Promise((resolve) => setTimeout(resolve, 5));
    return socket;
  };
  const left = await connected(
    address === undefined
      ? net.connect({
          port: (server.address() as net.AddressInfo).port,
          host: '127.0.0.1',
          allowHalfOpen: true,
        })
      : net.connect({ path: address, allowHalfOpen: true }),
    1,
  );
  const right = await connected(
    net.connect({ port: (tcp.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true }),
    2,
  );
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
      tcp.close();
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
      for (let tries = 0; (received < 100_000 || seen.latest === undefined) && tries < 500; tries++)
        await new Promise((resolve) => setTimeout(resolve, 10));
      // A while more for anything past the grant to show.
      await new Promise((resolve) => setTimeout(resolve, 200));
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
      let back = 0;
      whole.left.on('data', (chunk: Buffer) => {
        back += chunk.length;
      });
      whole.left.write(Buffer.alloc(8000, 7));
      whole.right.write('not for the source');
      await ended;
      assert.equal(Buffer.concat(chunks).length, 5000);
      const [code] = await once(child, 'close');
      assert.equal(code, 0);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(back, 0, 'nothing went back to the source');
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

  test('counted: a destination that hangs up before the whole count is a failure', async () => {
    const { left, right, a, b, close } = await pairs();
    try {
      const child = spawn(relay, ['--metered', '10000', '--count', String(64 * 2 ** 20)], {
        stdio: [a, b, 'ignore', 'pipe'],
      });
      grant(child, 128 * 2 ** 20);
      let received = 0;
      right.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received >= 100_000) right.destroy();
      });
      left.on('error', () => {});
      left.write(Buffer.alloc(8 * 2 ** 20, 7));
      const [code] = await once(child, 'close');
      assert.equal(code, 1);
    } finally {
      close();
    }
  });

  test('a peer that hung up while the other way is blocked: no spinning, and the idle limit still ends it', async () => {
    const { left, right, a, b, close } = await pairs({ unixLeft: true });
    try {
      const child = spawn(relay, ['--metered', '600'], { stdio: [a, b, 'ignore', 'pipe'] });
      grant(child, 256 * 2 ** 20);
      // The sandbox side ends its writing and reads nothing more; the outside sends and goes away.
      left.pause();
      left.end();
      right.on('error', () => {});
      right.end(Buffer.alloc(3 * 2 ** 20, 7), () => right.destroy());
      const started = performance.now();
      await new Promise((resolve) => setTimeout(resolve, 400));
      // utime and stime of the relay so far, in clock ticks (100 a second): a spin would use them all.
      const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      const ticks = Number(fields[11]) + Number(fields[12]);
      assert.ok(ticks < 15, `the relay used ${ticks} ticks of CPU in 400 ms`);
      const [code] = await once(child, 'close');
      assert.equal(code, 3);
      assert.ok(performance.now() - started < 5000);
    } finally {
      close();
    }
  });
});
