import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { buildCountedRelay } from '../agent/exec/test-launcher.ts';
import { type EgressAllowList, EgressSection } from '../policy/egress.ts';
import { MAX_TUNNEL_REPLY_BYTES, type TunnelReply } from '../protocol/egress.ts';
import { readFirstLine } from '../protocol/framing.ts';
import type { EgressRecord } from './audit.ts';
import { type Connect, EgressGate, MAX_PENDING_REQUESTS } from './gate.ts';
import { overrideLookup } from './resolve.ts';

/** Every test talks to servers on 127.0.0.1 only; the names below resolve there through overrides. */
const log = pino({ level: 'silent' });
let directory: string;
let server: net.Server;
let port: number;
let gate: EgressGate | undefined;

before(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-gate-'));
  server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      // "send N" asks the destination for N bytes and its end.
      const match = /^send (\d+)\n/.exec(Buffer.concat(chunks).toString('latin1'));
      if (match) socket.end(Buffer.alloc(Number(match[1]), 120));
    });
    socket.on('end', () => socket.end());
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(directory, { recursive: true, force: true });
});

afterEach(async () => {
  await gate?.close();
  gate = undefined;
});

interface Harness {
  gate: EgressGate;
  records: EgressRecord[];
  connects: string[];
  lookups: string[];
}

async function openGate(
  section: Record<string, unknown>,
  overrides: Record<string, string[] | string[][]> = {},
  options: { requestTimeoutMs?: number; relay?: () => string | undefined } = {},
): Promise<Harness> {
  const records: EgressRecord[] = [];
  const connects: string[] = [];
  const lookups: string[] = [];
  const resolver = overrideLookup({ 'registry.test': ['127.0.0.1'], ...overrides }, async () =>
    assert.fail('only overridden names are resolved'),
  );
  const connect: Connect = (address, target, onread) => {
    connects.push(`${address}:${target}`);
    return net.connect({ host: address, port: target, allowHalfOpen: true, ...(onread ? { onread } : {}) });
  };
  const allowList: EgressAllowList = { ...EgressSection.parse({ ports: [port], ...section }) };
  gate = new EgressGate({
    sandboxId: 'sb-test',
    socketDir: directory,
    allowList,
    lookup: async (name) => {
      lookups.push(name);
      return resolver(name);
    },
    log,
    connect,
    onRecord: (record) => records.push(record),
    ...options,
  });
  await gate.listen();
  return { gate, records, connects, lookups };
}

/** A tunnel request as a rogue or honest agent sends it; resolves with the reply and the open socket. */
async function request(line: string): Promise<{ reply: TunnelReply | undefined; socket: net.Socket }> {
  const socket = net.connect({ path: path.join(directory, 'egress.sock'), allowHalfOpen: true });
  socket.on('error', () => undefined);
  socket.write(line);
  const text = await readFirstLine(socket, { maxBytes: MAX_TUNNEL_REPLY_BYTES, timeoutMs: 5000 });
  return { reply: text === undefined ? undefined : (JSON.parse(text) as TunnelReply), socket };
}

const ask = (host: string, target = port) => request(`${JSON.stringify({ host, port: target })}\n`);

/** Sends `payload`, half-closes, and collects everything until the tunnel closes. */
async function exchange(socket: net.Socket, payload: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.resume();
  socket.end(payload);
  await new Promise((resolve) => socket.once('close', resolve));
  return Buffer.concat(chunks);
}

async function settled(records: EgressRecord[], count: number): Promise<void> {
  for (let tries = 0; records.length < count && tries < 200; tries++)
    await new Promise((r) => setTimeout(r, 10));
}

describe('egress gate', () => {
  it('connects an allowed name to its checked address and splices both ways', async () => {
    const { records, connects } = await openGate({ hosts: ['registry.test'], cidrs: ['127.0.0.1/32'] });
    const { reply, socket } = await ask('Registry.Test.');
    assert.deepEqual(reply, { ok: true });
    const answer = await exchange(socket, 'send 70000\n');
    assert.equal(answer.length, 70_000);
    await settled(records, 1);
    assert.deepEqual(connects, [`127.0.0.1:${port}`]);
    const [record] = records;
    assert.equal(record?.decision, 'allowed');
    assert.equal(record?.host, 'registry.test');
    assert.equal(record?.address, '127.0.0.1');
    assert.equal(record?.rule, 'host:registry.test cidr:127.0.0.1/32');
    assert.equal(record?.bytesSent, 'send 70000\n'.length);
    assert.equal(record?.bytesReceived, 70_000);
  });

  it('refuses an unlisted name before resolving or connecting, saying which rule', async () => {
    const { records, connects, lookups } = await openGate({
      hosts: ['registry.test'],
      cidrs: ['127.0.0.1/32'],
    });
    for (const spelling of ['evil.test', 'EVIL.TEST.', 'évil.test', 'registry.tеst']) {
      const { reply } = await ask(spelling);
      assert.equal(reply?.ok, false, spelling);
      if (reply?.ok === false) {
        assert.equal(reply.status, 403);
        assert.equal(reply.rule, 'host-not-allowed');
        assert.match(
          reply.message,
          /is not on this sandbox's egress allow-list.*PATCH \/v1\/sandboxes\/sb-test/,
        );
      }
    }
    const unlisted = await ask('registry.test', port + 1);
    assert.equal(unlisted.reply?.ok === false && unlisted.reply.rule, 'port-not-allowed');
    await settled(records, 5);
    assert.deepEqual(connects, []);
    assert.deepEqual(lookups, []);
    assert.deepEqual(
      records.map((record) => [record.decision, record.rule]),
      [...Array(4).fill(['refused', 'host-not-allowed']), ['refused', 'port-not-allowed']],
    );
  });

  it('refuses loopback in production (no CIDR), and metadata and IP literals, before any connect', async () => {
    const { connects } = await openGate(
      { hosts: ['registry.test', 'meta.test'] },
      { 'meta.test': ['169.254.169.254'] },
    );
    const loopback = await ask('registry.test');
    assert.equal(loopback.reply?.ok === false && loopback.reply.rule, 'address-loopback');
    const metadata = await ask('meta.test');
    assert.equal(metadata.reply?.ok === false && metadata.reply.rule, 'address-metadata');
    for (const literal of ['169.254.169.254', '127.0.0.1', '::ffff:169.254.169.254', '[::1]']) {
      const { reply } = await ask(literal);
      assert.equal(reply?.ok === false && reply.rule, 'ip-literal-not-allowed', literal);
    }
    assert.deepEqual(connects, []);
  });

  it('connects to the address it checked: a name that rebinds to loopback is refused, never connected', async () => {
    const { connects, lookups } = await openGate(
      { hosts: ['rebind.test'], cidrs: ['127.0.0.1/32'] },
      { 'rebind.test': [['127.0.0.1'], ['127.0.0.2']] },
    );
    const first = await ask('rebind.test');
    assert.deepEqual(first.reply, { ok: true });
    first.socket.destroy();
    const second = await ask('rebind.test');
    assert.equal(second.reply?.ok === false && second.reply.rule, 'address-loopback');
    assert.deepEqual(connects, [`127.0.0.1:${port}`], 'one connect, to the first checked address');
    assert.deepEqual(lookups, ['rebind.test', 'rebind.test'], 'one lookup per tunnel');
  });

  it('treats forged requests as invalid and never lets them choose an address', async () => {
    const { records, connects } = await openGate(
      { hosts: ['registry.test'], cidrs: ['127.0.0.1/32'] },
      {},
      { requestTimeoutMs: 300 },
    );
    const forged = [
      `${JSON.stringify({ host: 'registry.test', port, address: '10.0.0.1' })}\n`,
      `${JSON.stringify({ host: 'registry.test', port: String(port) })}\n`,
      `${JSON.stringify({ host: 'registry.test', port: 0 })}\n`,
      `${JSON.stringify({ host: 'x'.repeat(300), port })}\n`,
      'CONNECT registry.test:443 HTTP/1.1\n',
      '{"host": "registry.test", \n',
      '\n',
    ];
    for (const line of forged) {
      const { reply } = await request(line);
      assert.equal(reply?.ok === false && reply.rule, 'invalid-request', line);
    }
    const oversized = await request(`{"host":"${'a'.repeat(4000)}`);
    assert.equal(oversized.reply?.ok === false && oversized.reply.rule, 'invalid-request');
    const silent = await request('');
    assert.equal(
      silent.reply?.ok === false && silent.reply.rule,
      'invalid-request',
      'a silent connection times out',
    );
    const host = await ask('registry.test\u0000.evil.test');
    assert.equal(host.reply?.ok === false && host.reply.rule, 'invalid-host');
    assert.deepEqual(connects, []);
    await settled(records, forged.length + 3);
    assert.ok(records.every((record) => record.decision === 'refused'));
  });

  it('holds the connection limit and drops a flood of silent connections', async () => {
    const { records } = await openGate(
      { hosts: ['registry.test'], cidrs: ['127.0.0.1/32'], limits: { connections: 2 } },
      {},
      { requestTimeoutMs: 2000 },
    );
    const held = [await ask('registry.test'), await ask('registry.test')];
    assert.ok(held.every((tunnel) => tunnel.reply?.ok));
    const third = await ask('registry.test');
    assert.equal(third.reply?.ok === false && third.reply.status, 429);
    assert.equal(third.reply?.ok === false && third.reply.rule, 'limit-connections');
    held[0]?.socket.destroy();
    await settled(records, 2);
    assert.deepEqual((await ask('registry.test')).reply, { ok: true });
    const silent = Array.from({ length: MAX_PENDING_REQUESTS + 8 }, () =>
      net.connect({ path: path.join(directory, 'egress.sock') }).on('error', () => undefined),
    );
    const closed = await Promise.all(
      silent.map(
        (socket) =>
          new Promise<number>((resolve) => {
            const started = performance.now();
            socket.once('close', () => resolve(performance.now() - started));
            socket.resume();
          }),
      ),
    );
    assert.equal(
      closed.filter((ms) => ms < 1000).length,
      8,
      'those over the pending limit are closed at once',
    );
  });

  it('stops a sandbox at its byte budget and refuses it from then on', async () => {
    await openGate({ hosts: ['registry.test'], cidrs: ['127.0.0.1/32'], limits: { totalBytes: 10_000 } });
    const { socket } = await ask('registry.test');
    const answer = await exchange(socket, 'send 50000\n');
    assert.ok(answer.length < 10_000, `${answer.length} bytes passed`);
    const next = await ask('registry.test');
    assert.equal(next.reply?.ok === false && next.reply.rule, 'limit-total-bytes');
  });

  it('paces a sandbox to its bytes per second', async () => {
    await openGate({
      hosts: ['registry.test'],
      cidrs: ['127.0.0.1/32'],
      limits: { bytesPerSecond: 100_000 },
    });
    const { socket } = await ask('registry.test');
    const started = performance.now();
    const answer = await exchange(socket, 'send 200000\n');
    const seconds = (performance.now() - started) / 1000;
    assert.equal(answer.length, 200_000);
    // One second of burst, then 100 kB/s for the other 100 kB.
    assert.ok(seconds > 0.8 && seconds < 3, `${seconds.toFixed(2)} s`);
  });

  it('closes the door and its open tunnels when egress is turned off', async () => {
    const harness = await openGate({ hosts: ['registry.test'], cidrs: ['127.0.0.1/32'] });
    const { socket } = await ask('registry.test');
    const ended = new Promise((resolve) => socket.once('end', resolve));
    socket.resume();
    await harness.gate.setAllowList(null);
    await ended;
    assert.equal(existsSync(path.join(directory, 'egress.sock')), false);
    assert.equal(harness.gate.activeConnections, 0);
  });
});

/** As curl asks: the request without a half-close, then everything until the tunnel closes or `bytes` came. */
async function download(socket: net.Socket, request: string, bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    length += chunk.length;
    if (length >= bytes) socket.end();
  });
  socket.once('end', () => socket.end());
  socket.resume();
  socket.write(request);
  await new Promise((resolve) => socket.once('close', resolve));
  return Buffer.concat(chunks);
}

describe('egress gate with the control plane relay', () => {
  let relay: ReturnType<typeof buildCountedRelay>;
  before(() => {
    relay = buildCountedRelay(directory);
  });
  const MiB = 2 ** 20;
  const open = (limits: Record<string, unknown> = {}) =>
    openGate(
      { hosts: ['registry.test'], cidrs: ['127.0.0.1/32'], limits },
      {},
      { relay: () => relay?.binary },
    );

  it('hands a download to the relay past the first MiB and counts every byte', async (t) => {
    if (relay === undefined) return t.skip('no C compiler on this host to build the relay');
    const before = relay.starts();
    const { records } = await open();
    const { socket } = await ask('registry.test');
    const answer = await download(socket, `send ${8 * MiB}\n`, 8 * MiB);
    assert.equal(answer.length, 8 * MiB);
    assert.ok(answer.every((byte) => byte === 120));
    await settled(records, 1);
    assert.equal(relay.starts(), before + 1, 'the relay carried the rest');
    assert.equal(records[0]?.bytesReceived, 8 * MiB);
    assert.equal(records[0]?.bytesSent, `send ${8 * MiB}\n`.length);
  });

  it('holds the byte budget in the relay, and gives back what it did not use', async (t) => {
    if (relay === undefined) return t.skip('no C compiler on this host to build the relay');
    const before = relay.starts();
    const { records } = await open({ totalBytes: 3 * MiB });
    const { socket } = await ask('registry.test');
    const answer = await download(socket, `send ${10 * MiB}\n`, 10 * MiB);
    await settled(records, 1);
    assert.equal(relay.starts(), before + 1);
    assert.ok(answer.length > MiB && answer.length <= 3 * MiB, `${answer.length} bytes passed`);
    const moved = (records[0]?.bytesReceived ?? 0) + (records[0]?.bytesSent ?? 0);
    assert.ok(moved <= 3 * MiB, `${moved} bytes counted`);
    const next = await ask('registry.test');
    assert.equal(next.reply?.ok === false && next.reply.rule, 'limit-total-bytes');
  });

  it('paces the relay to the bytes per second', async (t) => {
    if (relay === undefined) return t.skip('no C compiler on this host to build the relay');
    const before = relay.starts();
    await open({ bytesPerSecond: 2 * MiB });
    const { socket } = await ask('registry.test');
    const started = performance.now();
    const answer = await download(socket, `send ${6 * MiB}\n`, 6 * MiB);
    const seconds = (performance.now() - started) / 1000;
    assert.equal(answer.length, 6 * MiB);
    assert.equal(relay.starts(), before + 1);
    // One second of burst (2 MiB), then 2 MiB/s for the other 4 MiB.
    assert.ok(seconds > 1.6 && seconds < 5, `${seconds.toFixed(2)} s`);
  });

  it('kills the relay when the door closes mid-download', async (t) => {
    if (relay === undefined) return t.skip('no C compiler on this host to build the relay');
    const before = relay.starts();
    const harness = await open();
    const { socket } = await ask('registry.test');
    // A reader that stops after 2 MiB: the relay holds the tunnel open, blocked on a full socket.
    let received = 0;
    let isPaused = false;
    const reading = new Promise<void>((resolve) =>
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received >= 2 * MiB && !isPaused) {
          isPaused = true;
          socket.pause();
          resolve();
        }
      }),
    );
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.once('end', () => socket.end());
    socket.resume();
    socket.write(`send ${256 * MiB}\n`);
    await reading;
    for (let tries = 0; relay.starts() === before && tries < 100; tries++)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(relay.starts(), before + 1);
    await harness.gate.setAllowList(null);
    socket.resume();
    await closed;
    assert.ok(received < 256 * MiB);
    // The tunnel's slot is freed once the killed relay's end was read, a moment after the close.
    for (let tries = 0; harness.gate.activeConnections > 0 && tries < 200; tries++)
      await new Promise((r) => setTimeout(r, 10));
    assert.equal(harness.gate.activeConnections, 0);
  });
});
