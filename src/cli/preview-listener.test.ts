import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Previews } from '../preview/service.ts';
import { memorySandboxes } from '../sandbox/test-sandboxes.ts';
import { listenForPreviews } from './preview-listener.ts';
import { CannotStart } from './usage.ts';

/** Why the IPv6 cases cannot run here, or false when this machine has ::1. */
async function noIpv6Loopback(): Promise<string | false> {
  const probe = net.createServer();
  return new Promise((resolve) => {
    probe.once('error', () => resolve('this machine has no ::1'));
    probe.listen(0, '::1', () => probe.close(() => resolve(false)));
  });
}

async function previewsFor(t: Parameters<typeof memorySandboxes>[0]): Promise<Previews> {
  const { manager } = await memorySandboxes(t);
  const previews = new Previews({
    manager,
    addressing: { domain: 'localhost', scheme: 'http', urlPort: 0 },
    log: pino({ level: 'silent' }),
    isDurable: false,
  });
  t.after(async () => previews.close());
  return previews;
}

/** The status line a listener answers a request for a host that names no preview with. */
function statusLine(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host, () =>
      socket.end('GET / HTTP/1.1\r\nHost: nothing.example\r\n\r\n'),
    );
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    socket.on('end', () => resolve(text.split('\r\n')[0] ?? ''));
    socket.on('error', reject);
  });
}

const skip = await noIpv6Loopback();

describe('the preview listener on loopback', { skip }, () => {
  it('takes its port on 127.0.0.1 and ::1 both, and names it in preview URLs', async (t) => {
    const previews = await previewsFor(t);
    const { servers, port } = await listenForPreviews(previews, 0, '127.0.0.1', 'hint');
    t.after(() => {
      for (const server of servers) server.close();
    });
    assert.equal(servers.length, 2);
    assert.equal(previews.addressing.urlPort, port);
    assert.equal(await statusLine('127.0.0.1', port), 'HTTP/1.1 404 Not Found');
    assert.equal(await statusLine('::1', port), 'HTTP/1.1 404 Not Found');
  });

  it('refuses to start when another program holds the port on ::1', async (t) => {
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '::1', resolve));
    t.after(() => squatter.close());
    const taken = (squatter.address() as net.AddressInfo).port;
    const previews = await previewsFor(t);
    await assert.rejects(
      listenForPreviews(previews, taken, '127.0.0.1', 'choose another'),
      (error: Error) => {
        assert.ok(error instanceof CannotStart);
        assert.match(error.message, new RegExp(`port ${taken} is taken on ::1 .*choose another`));
        return true;
      },
    );
  });
});
