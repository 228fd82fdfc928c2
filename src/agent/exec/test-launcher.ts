import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
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

/** Test support: where the relay's source is (image/relay/relay.c). */
export const RELAY_SOURCE = path.resolve(import.meta.dirname, '../../../image/relay/relay.c');

/** Builds relay.c into `directory` as the image does; undefined without a C compiler. */
export function buildRelay(directory: string): string | undefined {
  return buildImageProgram(RELAY_SOURCE, path.join(directory, 'relay'));
}

/**
 * The relay built into `directory`, behind a script that notes each start, and
 * how many starts it noted; undefined without a C compiler.
 */
export function buildCountedRelay(directory: string): { binary: string; starts: () => number } | undefined {
  const built = buildRelay(directory);
  if (built === undefined) return undefined;
  const marker = path.join(directory, 'relay-starts');
  const binary = path.join(directory, 'relay.sh');
  writeFileSync(binary, `#!/bin/sh\necho >>'${marker}'\nexec '${built}' "$@"\n`, { mode: 0o755 });
  return {
    binary,
    starts: () => (existsSync(marker) ? readFileSync(marker, 'utf8').split('\n').length - 1 : 0),
  };
}
