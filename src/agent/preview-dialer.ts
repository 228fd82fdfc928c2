import net from 'node:net';
import { ToolError } from '#protocol/errors';
import { LargeReads } from '#protocol/large-reads';
import type { PreviewOpen } from '#protocol/preview';
import type { Dialer } from './dial.ts';
import { relaySplice } from './relay.ts';

/** A local server that neither accepts nor refuses within this is reported as not listening. */
const LOCAL_CONNECT_TIMEOUT_MS = 5000;

/** Loopback addresses a dev server may listen on: `localhost` is ::1 first for some (Vite on Node ≥ 17). */
const LOOPBACKS = ['127.0.0.1', '::1'] as const;

function connectOnce(address: string, port: number, reads: LargeReads): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({
      host: address,
      port,
      allowHalfOpen: true,
      noDelay: true,
      onread: reads.options,
    });
    const timer = setTimeout(
      () => socket.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
      LOCAL_CONNECT_TIMEOUT_MS,
    );
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(reads.attach(socket));
    });
  });
}

/**
 * The agent's half of a preview tunnel: connects to the port on the sandbox's
 * loopback, dials the control plane's preview socket, names the tunnel, and
 * splices. The server's bytes (the heavy direction) arrive in large reads.
 */
export class PreviewDialer {
  readonly #dialer: Dialer;
  readonly #tunnels = new Set<net.Socket>();

  /** Tunnels dial home as the link does: the preview socket, or the agent port over TCP. */
  constructor(dialer: Dialer) {
    this.#dialer = dialer;
  }

  get activeTunnels(): number {
    return this.#tunnels.size;
  }

  async open({ port, tunnelId }: PreviewOpen): Promise<Record<string, never>> {
    const reads = new LargeReads();
    let local: net.Socket | undefined;
    let lastCode = 'ECONNREFUSED';
    for (const address of LOOPBACKS) {
      try {
        local = await connectOnce(address, port, reads);
        break;
      } catch (error) {
        lastCode = (error as NodeJS.ErrnoException).code ?? 'ECONNREFUSED';
      }
    }
    if (local === undefined) {
      throw new ToolError(
        'PORT_NOT_LISTENING',
        `nothing accepts connections on port ${port} in the sandbox (${lastCode})`,
        {
          details: { port },
        },
      );
    }
    const { socket: tunnel, connectEvent } = this.#dialer.dial('preview', { allowHalfOpen: true });
    try {
      await new Promise<void>((resolve, reject) => {
        tunnel.once('error', reject);
        tunnel.once(connectEvent, () => {
          tunnel.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      local.destroy();
      tunnel.destroy();
      throw new ToolError(
        'SANDBOX_UNAVAILABLE',
        `cannot reach the control plane's preview socket (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    tunnel.write(`${JSON.stringify({ tunnel: tunnelId })}\n`);
    this.#tunnels.add(tunnel);
    void relaySplice(tunnel, local, reads).finally(() => this.#tunnels.delete(tunnel));
    return {};
  }

  closeAll(): void {
    for (const tunnel of this.#tunnels) tunnel.destroy();
  }
}
