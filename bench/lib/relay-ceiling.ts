import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { stopReading } from '../../src/protocol/relay.ts';

/**
 * What a relay can reach on this machine at best: the relay binary (the
 * control plane's copy) between curl and the same server, with nothing else
 * in the way — no container, no proxy, no metering, no Node in the byte path.
 * `oneHop`: one relay process, TCP to TCP. `twoHops`: two relay processes with
 * a Unix socket between them, the shape of a tunnel (the worker's relay, the
 * socket across the container's boundary, the control plane's relay). Each
 * port answers as the target does.
 */
export async function relayCeiling(
  binary: string,
  targetPort: number,
): Promise<{ oneHop: number; twoHops: number; close(): Promise<void> }> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-bench-ceiling-'));
  const socketPath = path.join(directory, 'hop.sock');
  const sockets = new Set<net.Socket>();
  /** Hands two connected sockets to a relay process; both go when it exits. */
  const relay = (a: net.Socket, b: net.Socket) => {
    stopReading(a);
    stopReading(b);
    const child = spawn(binary, [], { stdio: [a, b, 'ignore'] });
    child.once('exit', () => {
      a.destroy();
      b.destroy();
    });
  };
  /** A listener whose connections are relayed to what `dial` connects. */
  const front = (dial: () => net.Socket) =>
    net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (accepted) => {
      sockets.add(accepted);
      const onward = dial();
      sockets.add(onward);
      onward.once('connect', () => relay(accepted, onward));
      onward.once('error', () => accepted.destroy());
    });
  const toTarget = () => net.connect({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true });
  const middle = front(toTarget);
  const oneHopServer = front(toTarget);
  const twoHopsServer = front(() => net.connect({ path: socketPath, allowHalfOpen: true }));
  await new Promise<void>((resolve) => middle.listen(socketPath, resolve));
  const listen = async (server: net.Server) => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return (server.address() as net.AddressInfo).port;
  };
  const oneHop = await listen(oneHopServer);
  const twoHops = await listen(twoHopsServer);
  return {
    oneHop,
    twoHops,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      for (const server of [middle, oneHopServer, twoHopsServer]) server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
