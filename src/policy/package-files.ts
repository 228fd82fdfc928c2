import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

/**
 * The directory of sandboxd's package.json, found by walking up from this module.
 * Works from the sources (src/policy) and from the bundle (dist/), so policies/,
 * image/ and the agent bundle are found the same way in tests and installs.
 */
export function packageRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  let directory = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = path.join(directory, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === 'sandboxd') {
      cachedRoot = directory;
      return directory;
    }
    const parent = path.dirname(directory);
    if (parent === directory) throw new Error('cannot find the sandboxd package root');
    directory = parent;
  }
}

/** The directory policies are read from: SANDBOXD_POLICY_DIR, or the package's policies/. */
export function policyDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.SANDBOXD_POLICY_DIR ?? path.join(packageRoot(), 'policies');
}

let cachedVersion: string | undefined;

/** sandboxd's version, read once (every MCP request reports it). */
export function packageVersion(): string {
  cachedVersion ??= JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8'))
    .version as string;
  return cachedVersion;
}
