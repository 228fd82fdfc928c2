import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { describe, test } from 'node:test';
import { LargeReads } from './large-reads.ts';

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );
}

/**
 * `payload` from a source server, read with LargeReads and piped into a socket
 * to a sink that stalls now and then (so writes queue and read buffers cannot be
 * reused); resolves with the sink's SHA-256 and what LargeReads counted.
 */
async function carry(payload: Buffer, admit?: (bytes: number) => number | undefined) {
  const source = net.createServer((socket) => socket.end(payload));
  let digest: Promise<string> = Promise.resolve('');
  const sink = net.createServer((socket) => {
    const hash = createHash('sha256');
    let seen = 0;
    digest = new Promise((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        seen += 1;
        if (seen % 7 === 0) {
          socket.pause();
          setTimeout(() => socket.resume(), 2);
        }
      });
      socket.on('end', () => resolve(hash.digest('hex')));
    });
  });
  const [sourcePort, sinkPort] = await Promise.all([listen(source), listen(sink)]);
  try {
    const reads = new LargeReads();
    const from = reads.attach(net.connect({ host: '127.0.0.1', port: sourcePort, onread: reads.options }));
    const to = net.connect({ host: '127.0.0.1', port: sinkPort });
    await new Promise((resolve) => to.once('connect', resolve));
    reads.pipeTo(to, admit);
    await new Promise((resolve) => to.once('finish', resolve));
    from.destroy();
    to.destroy();
    return { digest: await digest, piped: reads.piped };
  } finally {
    source.close();
    sink.close();
  }
}

describe('LargeReads.pipeTo', () => {
  test('carries every byte in order while the destination pushes back (read buffers are not reused too early)', async () => {
    const payload = randomBytes(24 * 2 ** 20);
    const { digest, piped } = await carry(payload);
    assert.equal(piped, payload.length);
    assert.equal(digest, createHash('sha256').update(payload).digest('hex'));
  });

  test('asks admit about every chunk and holds the ones it says to', async () => {
    const payload = randomBytes(4 * 2 ** 20);
    let asked = 0;
    let admitted = 0;
    const { digest } = await carry(payload, (bytes) => {
      asked += 1;
      admitted += bytes;
      return asked % 3 === 0 ? 5 : 0;
    });
    assert.equal(admitted, payload.length);
    assert.equal(digest, createHash('sha256').update(payload).digest('hex'));
  });
});
