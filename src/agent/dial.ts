import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { AGENT_SOCKET_DIR, AGENT_SOCKET_NAME } from '#protocol/agent-api';
import {
  AGENT_AUTH_DIR,
  AGENT_CA_FILE,
  AGENT_TOKEN_FILE,
  type DialChannel,
  type DialHello,
  ENV_CONTROL_ADDRESS,
  ENV_CONTROL_TLS,
  parseAddress,
} from '#protocol/dial';
import { EGRESS_SOCKET_NAME } from '#protocol/egress';
import { PREVIEW_SOCKET_NAME } from '#protocol/preview';

export interface DialOptions {
  allowHalfOpen?: boolean;
  /** Large reads for a tunnel's download direction (protocol/large-reads.ts). */
  onread?: net.OnReadOpts;
}

export interface Dialed {
  socket: net.Socket;
  /** The event after which the connection carries bytes both ways. */
  connectEvent: 'connect' | 'secureConnect';
}

/**
 * How the agent reaches the control plane, for its link and for each egress and
 * preview tunnel alike: one function, so the two transports cannot drift apart.
 */
export interface Dialer {
  /** For logs: the socket directory or the address. */
  readonly target: string;
  dial(channel: DialChannel, options?: DialOptions): Dialed;
}

/** The sockets in the read-only socket directory: the socket a connection arrives on says who it is. */
export function unixDialer(socketDir: string): Dialer {
  return {
    target: socketDir,
    dial(channel, options = {}) {
      const name = { link: AGENT_SOCKET_NAME, egress: EGRESS_SOCKET_NAME, preview: PREVIEW_SOCKET_NAME }[
        channel
      ];
      return {
        socket: net.connect({ path: path.join(socketDir, name), ...options }),
        connectEvent: 'connect',
      };
    },
  };
}

export interface TcpDialerOptions {
  address: string;
  sandboxId: string;
  token: string;
  /** PEM of the CA that signed the agent port's certificate: TLS. */
  ca?: string;
}

/**
 * The agent port over TCP (or TLS): the first line says which sandbox, its
 * token and the channel; written at once, the kernel holds it until connected.
 */
export function tcpDialer(options: TcpDialerOptions): Dialer {
  const { host, port } = parseAddress(options.address);
  return {
    target: options.address,
    dial(channel, dialOptions = {}) {
      const hello: DialHello = { sandboxId: options.sandboxId, token: options.token, channel };
      const line = `${JSON.stringify(hello)}\n`;
      if (options.ca === undefined) {
        const socket = net.connect({ host, port, noDelay: true, ...dialOptions });
        socket.write(line);
        return { socket, connectEvent: 'connect' };
      }
      // Half-open (a tunnel's upload ends before its download) is the TCP socket's to allow.
      const raw = net.connect({
        host,
        port,
        noDelay: true,
        allowHalfOpen: dialOptions.allowHalfOpen ?? false,
      });
      const socket = tls.connect({
        socket: raw,
        // The name (or address) the certificate must be for; with `socket` it would default to localhost.
        host,
        ca: options.ca,
        ...(net.isIP(host) === 0 ? { servername: host } : {}),
      });
      const { onread } = dialOptions;
      if (onread !== undefined) feedReads(socket, onread);
      socket.write(line);
      return { socket, connectEvent: 'secureConnect' };
    },
  };
}

/** tls.connect takes no `onread`: hand its decrypted chunks to the same callback, pausing as it asks. */
function feedReads(socket: tls.TLSSocket, onread: net.OnReadOpts): void {
  const callback = onread.callback as (bytes: number, buffer: Uint8Array) => boolean;
  socket.on('data', (chunk: Buffer) => {
    if (callback(chunk.length, chunk) === false) socket.pause();
  });
}

/**
 * TCP when the control plane gave an address (no shared socket directory),
 * else the socket directory. The token is read from its read-only mount.
 */
export async function dialerFromEnv(env: NodeJS.ProcessEnv): Promise<Dialer> {
  const address = env[ENV_CONTROL_ADDRESS];
  if (address === undefined || address === '') {
    const socketPath = env.SANDBOXD_SOCKET ?? path.join(AGENT_SOCKET_DIR, AGENT_SOCKET_NAME);
    return unixDialer(path.dirname(socketPath));
  }
  const token = (await readFile(path.join(AGENT_AUTH_DIR, AGENT_TOKEN_FILE), 'utf8')).trim();
  const sandboxId = env.SANDBOXD_SANDBOX_ID ?? '';
  const ca =
    env[ENV_CONTROL_TLS] === '1'
      ? await readFile(path.join(AGENT_AUTH_DIR, AGENT_CA_FILE), 'utf8')
      : undefined;
  return tcpDialer({ address, sandboxId, token, ...(ca === undefined ? {} : { ca }) });
}
