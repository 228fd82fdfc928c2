import type http from 'node:http';
import type net from 'node:net';
import type { ByteBudget } from '../egress/budget.ts';
import { meteredRelayArgs, meterRelay } from '../egress/splice.ts';
import {
  flushed,
  HANDOVER_BYTES,
  isRelayable,
  type RelayStarts,
  spawnRelay,
  stopReading,
  takeBuffered,
} from '../protocol/relay.ts';

/**
 * The length of a response body the relay may carry instead of Node: one the
 * head gives (Content-Length, no Transfer-Encoding, and the Content-Length among
 * the `headers` passed on) of at least HANDOVER_BYTES, on sockets the relay can
 * take, within the door's relay `starts` (one is taken); undefined when the
 * body stays in Node.
 */
export function relayableLength(
  request: http.IncomingMessage,
  reply: http.IncomingMessage,
  response: http.ServerResponse,
  headers: readonly string[],
  starts: RelayStarts,
): number | undefined {
  const status = reply.statusCode ?? 0;
  if (request.method === 'HEAD' || status === 204 || status === 304 || status < 200) return undefined;
  if (reply.headers['transfer-encoding'] !== undefined || !request.complete) return undefined;
  const header = reply.headers['content-length'];
  if (header === undefined || !/^\d{1,15}$/.test(header)) return undefined;
  const length = Number(header);
  if (length < HANDOVER_BYTES) return undefined;
  // The browser must be told the length the relay keeps to (a Connection header may have dropped it).
  const told: string[] = [];
  for (let index = 0; index < headers.length; index += 2) {
    if (headers[index]?.toLowerCase() === 'content-length') told.push((headers[index + 1] ?? '').trim());
  }
  if (told.length !== 1 || told[0] !== header) return undefined;
  const tunnel = reply.socket as net.Socket | null;
  const client = response.socket as net.Socket | null;
  if (tunnel === null || client === null || !isRelayable(tunnel) || !isRelayable(client)) return undefined;
  // Past the door's rate of relay starts the body stays in Node.
  return starts.take() ? length : undefined;
}

/**
 * Sends a response body of `length` bytes (relayableLength) from the sandbox's
 * tunnel to the browser with the control plane's relay, metered by `budget`.
 * Call from the reply's 'response' event, after writeHead with `Connection:
 * close`: the head goes out, the part of the body Node read already follows, the
 * relay carries exactly the rest and half-closes. Both connections end with it,
 * the tunnel's server never sees another request on it. Resolves with the
 * body's bytes that reached the browser's socket.
 */
export async function relayBody(
  reply: http.IncomingMessage,
  response: http.ServerResponse,
  length: number,
  budget: ByteBudget,
  binary: string,
): Promise<{ bytes: number; error?: string }> {
  const tunnel = reply.socket as net.Socket;
  const client = response.socket as net.Socket;
  const end = (bytes: number, error?: string) => {
    tunnel.destroy();
    client.destroy();
    return error === undefined ? { bytes } : { bytes, error };
  };
  stopReading(tunnel);
  response.flushHeaders();
  // The chunk that carried the head is parsed on after this event: its body bytes land in `reply`.
  await new Promise((resolve) => setImmediate(resolve));
  stopReading(client);
  // The body so far: what the parser gave `reply`, then what the socket read past it (the client
  // pauses the socket while `reply` is full, and bytes a paused socket read wait in its buffer).
  const head = [...takeBuffered(reply), ...takeBuffered(tunnel)];
  const bytes = head.reduce((sum, chunk) => sum + chunk.length, 0);
  if (bytes > length) return end(0, 'the body is longer than its Content-Length');
  if (budget.charge(bytes) === undefined) return end(0, 'the sandbox used up its preview byte budget');
  for (const chunk of head) client.write(chunk);
  await flushed(client);
  if (bytes === length || tunnel.destroyed || client.destroyed) return end(bytes);
  const child = spawnRelay(binary, meteredRelayArgs(length - bytes), tunnel, client, true);
  if (child === undefined) return end(bytes, 'the relay could not start');
  // The relay ends an idle body itself; Node's socket timeouts would see no reads and end a busy one.
  tunnel.setTimeout(0);
  client.setTimeout(0);
  const outcome = await meterRelay(child, budget);
  return end(bytes + outcome.sent, outcome.error);
}
