import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { Scratch } from '../../test/support/cli.ts';
import { tcpDialer } from '../agent/dial.ts';
import { PreviewDialer } from '../agent/preview-dialer.ts';
import { EgressGate } from '../egress/gate.ts';
import { allowListOf, EgressSection } from '../policy/egress.ts';
import type { DialChannel } from '../protocol/dial.ts';
import { encodeLine, LineSplitter } from '../protocol/framing.ts';
import { defaultAgentLimits } from '../protocol/limits.ts';
import type { PreviewOpen } from '../protocol/preview.ts';
import { AgentLink } from './agent-link.ts';
import { AgentPort } from './agent-port.ts';
import { AgentTokens } from './agent-tokens.ts';
import { PreviewDoor } from './preview-door.ts';
import { FAKE_HELLO } from './test-hello.ts';

const WITHIN = { timeout: 10_000 };
const log = pino({ level: 'silent' });
const scratch = new Scratch();
after(() => scratch.clear());

interface Served {
  port: AgentPort;
  tokens: AgentTokens;
  links: Map<string, AgentLink>;
  gates: Map<string, EgressGate>;
  previews: Map<string, PreviewDoor>;
  address: string;
}

/** An agent port serving sandboxes `ids`, each with a link (TCP transport) and an egress gate. */
async function serve(
  t: TestContext,
  ids: string[],
  credentials?: { cert: string; key: string },
): Promise<Served> {
  const tokens = new AgentTokens(randomBytes(32));
  const links = new Map<string, AgentLink>();
  const gates = new Map<string, EgressGate>();
  const previews = new Map<string, PreviewDoor>();
  for (const id of ids) {
    const socketDir = await scratch.directory(`sandboxd-port-${id}-`);
    const link = new AgentLink({
      sandboxId: id,
      socketDir,
      limits: defaultAgentLimits,
      log,
      transport: 'tcp',
    });
    await link.listen();
    const allowList = allowListOf(EgressSection.parse({ hosts: ['example.test'] }), {});
    const gate = new EgressGate({
      sandboxId: id,
      socketDir,
      allowList,
      lookup: async () => [],
      log,
      transport: 'tcp',
    });
    await gate.listen();
    const preview = new PreviewDoor({
      sandboxId: id,
      socketDir,
      link,
      log,
      limits: { connections: 4, bytesPerSecond: 1024 * 1024 },
      transport: 'tcp',
    });
    links.set(id, link);
    gates.set(id, gate);
    previews.set(id, preview);
    t.after(async () => {
      await link.close();
      await gate.close();
      await preview.close();
    });
  }
  const port = new AgentPort({
    host: '127.0.0.1',
    port: 0,
    tokens,
    log,
    doors: (id) => {
      const link = links.get(id);
      const egress = gates.get(id);
      const preview = previews.get(id);
      return link === undefined || egress === undefined || preview === undefined
        ? undefined
        : { link, egress, preview };
    },
    ...(credentials === undefined ? {} : { tls: credentials }),
  });
  await port.listen();
  t.after(() => port.close());
  return { port, tokens, links, gates, previews, address: `127.0.0.1:${port.address.port}` };
}

/**
 * Dials as the agent does, says hello and answers configure (and preview.open,
 * with the agent's own PreviewDialer over the same dialer); resolves with the
 * socket, or 'closed'.
 */
function actAsAgent(
  served: Served,
  options: { sandboxId: string; token: string; ca?: string },
): Promise<net.Socket | 'closed'> {
  const dialer = tcpDialer({ address: served.address, ...options });
  const { socket, connectEvent } = dialer.dial('link');
  return new Promise((resolve) => {
    const splitter = new LineSplitter();
    socket.on('error', () => undefined);
    socket.once('close', () => resolve('closed'));
    socket.once(connectEvent, () => {
      socket.write(encodeLine(FAKE_HELLO));
    });
    socket.on('data', (chunk: Buffer) => {
      for (const line of splitter.push(chunk)) {
        const request = JSON.parse(line.text) as { id: number; method: string; params: PreviewOpen };
        if (request.method === 'configure') {
          socket.write(encodeLine({ jsonrpc: '2.0', id: request.id, result: {} }));
          resolve(socket);
        }
        if (request.method === 'preview.open') {
          void new PreviewDialer(dialer)
            .open(request.params)
            .then((result) => socket.write(encodeLine({ jsonrpc: '2.0', id: request.id, result })));
        }
      }
    });
  });
}

/** One egress tunnel request over the agent port; the gate's reply line, or undefined when closed unanswered. */
function askTunnel(
  served: Served,
  sandboxId: string,
  token: string,
  channel: DialChannel,
): Promise<string | undefined> {
  const { socket } = tcpDialer({ address: served.address, sandboxId, token }).dial(channel, {
    allowHalfOpen: true,
  });
  socket.write(`${JSON.stringify({ host: 'not-allowed.test', port: 443 })}\n`);
  return new Promise((resolve) => {
    let text = '';
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
    });
    // The gate ends its side after the reply; this side is half-open and sees 'end', not 'close'.
    const done = () => {
      socket.destroy();
      resolve(text === '' ? undefined : text);
    };
    socket.once('end', done);
    socket.once('close', done);
  });
}

describe('agent port', () => {
  it('hands a connection with the sandbox token to that sandbox link', WITHIN, async (t) => {
    const served = await serve(t, ['sb-aaaa', 'sb-bbbb']);
    const ready = once(served.links.get('sb-aaaa') as AgentLink, 'ready');
    const socket = await actAsAgent(served, {
      sandboxId: 'sb-aaaa',
      token: served.tokens.tokenFor('sb-aaaa'),
    });
    assert.notEqual(socket, 'closed');
    await ready;
    assert.equal(served.links.get('sb-aaaa')?.isReady, true);
    assert.equal(served.links.get('sb-bbbb')?.isReady, false);
    (socket as net.Socket).destroy();
  });

  it('refuses a wrong token', WITHIN, async (t) => {
    const served = await serve(t, ['sb-aaaa']);
    const result = await actAsAgent(served, { sandboxId: 'sb-aaaa', token: 'f'.repeat(64) });
    assert.equal(result, 'closed');
    assert.equal(served.links.get('sb-aaaa')?.isReady, false);
  });

  it("refuses another sandbox's token", WITHIN, async (t) => {
    const served = await serve(t, ['sb-aaaa', 'sb-bbbb']);
    const result = await actAsAgent(served, {
      sandboxId: 'sb-aaaa',
      token: served.tokens.tokenFor('sb-bbbb'),
    });
    assert.equal(result, 'closed');
    assert.equal(served.links.get('sb-aaaa')?.isReady, false);
  });

  it('refuses a sandbox it does not serve, even with a token of its key', WITHIN, async (t) => {
    const served = await serve(t, ['sb-aaaa']);
    const result = await actAsAgent(served, {
      sandboxId: 'sb-cccc',
      token: served.tokens.tokenFor('sb-cccc'),
    });
    assert.equal(result, 'closed');
  });

  it('routes an egress channel to the sandbox gate, which decides as on its socket', WITHIN, async (t) => {
    const served = await serve(t, ['sb-aaaa']);
    const reply = await askTunnel(served, 'sb-aaaa', served.tokens.tokenFor('sb-aaaa'), 'egress');
    assert.match(reply ?? '', /"rule":"host-not-allowed"/);
    assert.equal(await askTunnel(served, 'sb-aaaa', 'e'.repeat(64), 'egress'), undefined);
  });

  it(
    'routes a preview channel to the sandbox door: a tunnel to a port on the agent side',
    WITHIN,
    async (t) => {
      const served = await serve(t, ['sb-aaaa']);
      const echo = net.createServer((connection) => connection.pipe(connection));
      await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
      t.after(() => echo.close());
      const ready = once(served.links.get('sb-aaaa') as AgentLink, 'ready');
      const agent = await actAsAgent(served, {
        sandboxId: 'sb-aaaa',
        token: served.tokens.tokenFor('sb-aaaa'),
      });
      await ready;
      const door = served.previews.get('sb-aaaa') as PreviewDoor;
      const tunnel = await door.open((echo.address() as net.AddressInfo).port);
      tunnel.resume();
      tunnel.write('through the agent port\n');
      const [echoed] = (await once(tunnel, 'data')) as [Buffer];
      assert.equal(echoed.toString(), 'through the agent port\n');
      tunnel.destroy();
      (agent as net.Socket).destroy();
    },
  );

  it('closes a connection whose first line is not a dial hello', WITHIN, async (t) => {
    const served = await serve(t, ['sb-aaaa']);
    const { socket } = tcpDialer({ address: served.address, sandboxId: 'sb-aaaa', token: 'x' }).dial('link');
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.on('error', () => undefined);
    await closed;
    assert.equal(served.links.get('sb-aaaa')?.isReady, false);
  });

  it('speaks TLS when given a certificate, and the agent checks it against the CA', WITHIN, async (t) => {
    const dir = await scratch.directory('sandboxd-port-tls-');
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-keyout',
          key,
          '-out',
          cert,
          '-days',
          '1',
          '-subj',
          '/CN=sandboxd agent port',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
        ],
        { stdio: 'ignore' },
      );
    } catch {
      t.skip('openssl is not installed (scripts/host-programs.txt lists it)');
      return;
    }
    const pem = { cert: await readFile(cert, 'utf8'), key: await readFile(key, 'utf8') };
    const served = await serve(t, ['sb-aaaa'], pem);
    const token = served.tokens.tokenFor('sb-aaaa');
    const ready = once(served.links.get('sb-aaaa') as AgentLink, 'ready');
    const socket = await actAsAgent(served, { sandboxId: 'sb-aaaa', token, ca: pem.cert });
    assert.notEqual(socket, 'closed');
    await ready;
    assert.equal(served.links.get('sb-aaaa')?.isReady, true);
    (socket as net.Socket).destroy();
    // Plain TCP to a TLS port never gets as far as the dial hello.
    assert.equal(await actAsAgent(served, { sandboxId: 'sb-aaaa', token }), 'closed');
  });
});
