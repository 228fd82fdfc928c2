import { execFileSync } from 'node:child_process';
import path from 'node:path';

/** Test support: where the launcher's source is, for tests that build it as the image does. */
export const LAUNCHER_SOURCE = path.resolve(import.meta.dirname, '../../../image/launcher/launcher.c');

/** Builds launcher.c into `directory` as the image does; undefined on a host without a C compiler. */
export function buildLauncher(directory: string): string | undefined {
  return buildImageProgram(LAUNCHER_SOURCE, path.join(directory, 'launcher'));
}

/** Builds one of the image's C programs (image/…/*.c) into `binary`; undefined without a C compiler. */
export function buildImageProgram(source: string, binary: string): string | undefined {
  try {
    execFileSync('cc', ['-std=gnu17', '-O2', '-Wall', '-Wextra', '-Werror', '-o', binary, source], {
      stdio: 'pipe',
    });
    return binary;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
