import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { ToolError } from '../protocol/errors.ts';
import { encodeLine, LineSplitter } from '../protocol/framing.ts';
import { defaultAgentLimits } from '../protocol/limits.ts';
import { AgentLink } from './agent-link.ts';
import { FAKE_HELLO } from './test-hello.ts';

/** A link that fails to drop a connection leaves the test waiting: fail it instead. */
const WITHIN = { timeout: 10_000 };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Request {
  id: number;
  method: string;
  params: unknown;
}

/** The agent's end of the socket, as a workload posing as the agent would write it. */
class FakeAgent {
  readonly socket: net.Socket;
  readonly #requests: Request[] = [];
  readonly #waiters: ((request: Request) => void)[] = [];
  readonly closed: Promise<void>;

  constructor(socketPath: string) {
    this.socket = net.connect(socketPath);
    const splitter = new LineSplitter();
    this.socket.on('data', (chunk: Buffer) => {
      for (const line of splitter.push(chunk)) {
        const request = JSON.parse(line.text) as Request;
        const waiter = this.#waiters.shift();
        if (waiter === undefined) this.#requests.push(request);
        else waiter(request);
      }
    });
    this.socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  send(message: unknown): void {
    this.socket.write(typeof message === 'string' ? message : encodeLine(message));
  }

  next(): Promise<Request> {
    const request = this.#requests.shift();
    return request === undefined
      ? new Promise((resolve) => this.#waiters.push(resolve))
      : Promise.resolve(request);
  }

  reply(id: number, result: unknown): void {
    this.send({ jsonrpc: '2.0', id, result });
  }

  /** Says hello and answers configure: the link is then ready. */
  async greet(link: AgentLink): Promise<void> {
    const ready = new Promise((resolve) => link.once('ready', resolve));
    this.send(FAKE_HELLO);
    this.reply((await this.next()).id, {});
    await ready;
  }

  get isClosed(): boolean {
    return this.socket.destroyed || this.socket.readyState === 'closed';
  }
}

async function linkUnderTest(t: TestContext): Promise<AgentLink> {
  const socketDir = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-link-'));
  const link = new AgentLink({
    sandboxId: 'sb-test',
    socketDir,
    limits: defaultAgentLimits,
    log: pino({ level: 'silent' }),
  });
  await link.listen();
  t.after(async () => {
    await link.close();
    await rm(socketDir, { recursive: true, force: true });
  });
  return link;
}

async function connectedAgent(t: TestContext, link: AgentLink): Promise<FakeAgent> {
  const agent = new FakeAgent(link.socketPath);
  t.after(() => agent.socket.destroy());
  await agent.greet(link);
  return agent;
}

const readFile = (link: AgentLink, input: Record<string, unknown> = { path: 'a.txt' }, timeoutMs?: number) =>
  link.call('tool', { name: 'read_file', input }, timeoutMs === undefined ? {} : { timeoutMs });

const isUnavailable = (error: unknown) => error instanceof ToolError && error.code === 'SANDBOX_UNAVAILABLE';

describe('AgentLink', () => {
  it('answers a call with a reply within its budget', WITHIN, async (t) => {
    const link = await linkUnderTest(t);
    const agent = await connectedAgent(t, link);
    const call = readFile(link);
    agent.reply((await agent.next()).id, { summary: 'ok', result: { content: 'x'.repeat(300_000) } });
    assert.equal(((await call).result as { content: string }).content.length, 300_000);
    assert.equal(agent.isClosed, false);
  });

  it('drops a connection that sends anything while no request is pending', WITHIN, async (t) => {
    for (const message of [
      { jsonrpc: '2.0', method: 'log', params: {} },
      { jsonrpc: '2.0', id: 99, result: {} },
      '\n',
    ]) {
      const link = await linkUnderTest(t);
      const agent = await connectedAgent(t, link);
      agent.send(message);
      await agent.closed;
      assert.equal(link.isReady, false, JSON.stringify(message));
    }
  });

  it(
    'drops a connection that sends a notification, an id-less error or a reply to nothing while calls wait',
    WITHIN,
    async (t) => {
      for (const message of [
        { jsonrpc: '2.0', method: 'log', params: {} },
        { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error' } },
        { jsonrpc: '2.0', id: 12345, result: { summary: '', result: {} } },
      ]) {
        const link = await linkUnderTest(t);
        const agent = await connectedAgent(t, link);
        const call = readFile(link);
        await agent.next();
        agent.send(message);
        await assert.rejects(call, isUnavailable, JSON.stringify(message));
        await agent.closed;
      }
    },
  );

  it("drops a reply over its method's budget before reading all of it", WITHIN, async (t) => {
    const link = await linkUnderTest(t);
    const agent = await connectedAgent(t, link);
    // read_file's default max_bytes is 60 KiB: its budget is about 1 MiB, far from a 30 MiB line.
    const dropped = assert.rejects(readFile(link), isUnavailable);
    const { id } = await agent.next();
    agent.send(`{"jsonrpc":"2.0","id":${id},"result":{"summary":"x","result":{"content":"`);
    let sent = 0;
    agent.socket.on('error', () => undefined); // the link resets the connection: that is the point
    // With backpressure, `sent` is what the link took in (plus the socket buffers), however loaded the machine.
    while (!agent.isClosed && sent < 30 * 1024 * 1024) {
      sent += 1024 * 1024;
      if (!agent.socket.write(Buffer.alloc(1024 * 1024, 0x78))) {
        await Promise.race([new Promise((resolve) => agent.socket.once('drain', resolve)), agent.closed]);
      }
    }
    await dropped;
    await agent.closed;
    assert.ok(sent < 8 * 1024 * 1024, `dropped after ${sent} bytes`);
  });

  it('refuses replies nested too deep or with too many elements, without parsing them', WITHIN, async (t) => {
    for (const result of [`${'['.repeat(100)}${']'.repeat(100)}`, `[${'0,'.repeat(5000)}0]`]) {
      const link = await linkUnderTest(t);
      const agent = await connectedAgent(t, link);
      const call = readFile(link);
      const { id } = await agent.next();
      agent.send(`{"jsonrpc":"2.0","id":${id},"result":{"summary":"x","result":{"a":${result}}}}\n`);
      await assert.rejects(call, isUnavailable);
      await agent.closed;
    }
  });

  it('ignores a late reply to a call that timed out', WITHIN, async (t) => {
    const link = await linkUnderTest(t);
    const agent = await connectedAgent(t, link);
    const late = readFile(link, { path: 'slow.txt' }, 50);
    const { id } = await agent.next();
    await assert.rejects(late, (error: unknown) => error instanceof ToolError && error.code === 'TIMEOUT');
    agent.reply(id, { summary: 'late', result: {} });
    const next = readFile(link);
    agent.reply((await agent.next()).id, { summary: 'on time', result: {} });
    assert.equal((await next).summary, 'on time');
    assert.equal(agent.isClosed, false);
  });

  it('fails calls at once while the agent does not read its requests', WITHIN, async (t) => {
    const link = await linkUnderTest(t);
    const agent = await connectedAgent(t, link);
    agent.socket.pause();
    const content = 'x'.repeat(33 * 1024 * 1024);
    const first = link.call(
      'tool',
      { name: 'write_file', input: { path: 'big', content } },
      { timeoutMs: 60_000 },
    );
    first.catch(() => undefined);
    await assert.rejects(readFile(link), (error: unknown) => {
      assert.ok(isUnavailable(error));
      assert.match((error as Error).message, /not reading its requests/);
      return true;
    });
  });

  it(
    'closes its socket to a sandbox that keeps breaking the protocol, and opens it again',
    WITHIN,
    async (t) => {
      const link = await linkUnderTest(t);
      let dials = 0;
      while (existsSync(link.socketPath) && dials < 20) {
        const rogue = new FakeAgent(link.socketPath);
        rogue.send('not json\n');
        await rogue.closed;
        dials++;
      }
      assert.ok(dials < 20, 'the socket was closed');
      const refused = new FakeAgent(link.socketPath);
      await refused.closed;
      const started = Date.now();
      while (!existsSync(link.socketPath)) await sleep(20);
      assert.ok(Date.now() - started < 5000, 'and opened again within seconds');
      await connectedAgent(t, link);
      assert.equal(link.isReady, true, 'an honest agent is served again');
    },
  );
});
