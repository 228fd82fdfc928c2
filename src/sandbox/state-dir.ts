import { chmod, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LABEL_SOCKET_DIR, LABEL_STATE_DIR } from '../runtime/labels.ts';

/**
 * Where the control plane keeps its state: one socket directory per sandbox,
 * the operator token. Root-owned and private; the engine bind-mounts the socket
 * directories, so under compose the path must be the same inside and outside.
 */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SANDBOXD_STATE_DIR) return path.resolve(env.SANDBOXD_STATE_DIR);
  if (process.getuid?.() === 0) return '/var/lib/sandboxd';
  const base = env.XDG_STATE_HOME ?? path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'sandboxd');
}

/**
 * Private to its owner (0700), parents of the socket directories included: a
 * container reaches its own socket through its bind mount, which the engine sets
 * up as root, so no other host user needs to pass through here — and none can
 * connect to an agent socket and pose as the agent or the control plane.
 */
export async function prepareStateDir(stateDir: string): Promise<void> {
  await mkdir(path.join(stateDir, 'sockets'), { recursive: true, mode: 0o700 });
  await chmod(stateDir, 0o700);
  await chmod(path.join(stateDir, 'sockets'), 0o700);
}

export function socketDirFor(stateDir: string, sandboxId: string): string {
  return path.join(stateDir, 'sockets', sandboxId);
}

/** The state directory a container belongs to; containers of v0.1 say it only through their socket dir. */
export function stateDirOf(labels: Record<string, string>): string | undefined {
  const stated = labels[LABEL_STATE_DIR];
  if (stated !== undefined) return stated;
  const socketDir = labels[LABEL_SOCKET_DIR];
  return socketDir === undefined ? undefined : path.dirname(path.dirname(socketDir));
}
