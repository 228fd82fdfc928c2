import { chmod, rm } from 'node:fs/promises';
import type net from 'node:net';

/**
 * Binds `server` to a socket file in a sandbox's socket directory, replacing a
 * stale one, and opens it to the agent, which runs unprivileged: the directory
 * stays root's and read-only to it, so connect() is all the sandbox can do there.
 */
export async function listenOnSocketFile(server: net.Server, socketPath: string): Promise<void> {
  await rm(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(socketPath, 0o666);
}
