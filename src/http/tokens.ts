import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { newToken, sha256Hex } from '../sandbox/tokens.ts';

export interface OperatorToken {
  sha256: string;
  /** Set only when the token was generated now, so it can be shown once. */
  generated?: string;
  source: 'env' | 'file' | 'generated';
}

/**
 * The operator token: from SANDBOXD_TOKEN, or the one saved in the state
 * directory (0600), or a new one generated and saved there.
 */
export async function loadOperatorToken(
  stateDir: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<OperatorToken> {
  if (env.SANDBOXD_TOKEN !== undefined && env.SANDBOXD_TOKEN.length > 0) {
    if (env.SANDBOXD_TOKEN.length < 16) throw new Error('SANDBOXD_TOKEN must be at least 16 characters');
    return { sha256: sha256Hex(env.SANDBOXD_TOKEN), source: 'env' };
  }
  const file = path.join(stateDir, 'operator-token');
  let saved = '';
  try {
    saved = (await readFile(file, 'utf8')).trim();
  } catch (error) {
    // Not there yet: generate one below. Any other failure is the operator's to see.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (saved.length >= 16) {
    // A copy restored from a backup, or a hand edit, may have left it readable by others.
    await chmod(file, 0o600);
    return { sha256: sha256Hex(saved), source: 'file' };
  }
  const token = newToken();
  await writeFile(file, `${token}\n`, { mode: 0o600, flag: 'w' });
  await chmod(file, 0o600);
  return { sha256: sha256Hex(token), generated: token, source: 'generated' };
}

/** The bearer token of a request, from the Authorization header only. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}
