import { chmod, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

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

export async function prepareStateDir(stateDir: string): Promise<void> {
  await mkdir(path.join(stateDir, 'sockets'), { recursive: true, mode: 0o711 });
  // Other host users need not list sandboxes; the engine (root) still reaches the socket dirs.
  await chmod(stateDir, 0o711);
  await chmod(path.join(stateDir, 'sockets'), 0o711);
}

export function socketDirFor(stateDir: string, sandboxId: string): string {
  return path.join(stateDir, 'sockets', sandboxId);
}
