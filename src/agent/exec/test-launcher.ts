import { execFileSync } from 'node:child_process';
import path from 'node:path';

/** Test support: where the launcher's source is, for tests that build it as the image does. */
export const LAUNCHER_SOURCE = path.resolve(import.meta.dirname, '../../../image/launcher/launcher.c');

/** Builds launcher.c into `directory` as the image does; undefined on a host without a C compiler. */
export function buildLauncher(directory: string): string | undefined {
  const binary = path.join(directory, 'launcher');
  try {
    execFileSync('cc', ['-std=gnu17', '-O2', '-Wall', '-Wextra', '-Werror', '-o', binary, LAUNCHER_SOURCE], {
      stdio: 'pipe',
    });
    return binary;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
