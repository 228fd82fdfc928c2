/**
 * Builds the two bundles: dist/agent.mjs (the agent, one self-contained file
 * baked into the worker image) and dist/cli.mjs (the control plane and CLI,
 * with npm dependencies left as imports).
 */
import { cpSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const version = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version as string;
const started = performance.now();

await Promise.all([
  build({
    entryPoints: [path.join(root, 'src/agent/main.ts')],
    outfile: path.join(root, 'dist/agent.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    minify: true,
    legalComments: 'none',
    define: { SANDBOXD_VERSION: JSON.stringify(version) },
    logLevel: 'warning',
  }),
  build({
    entryPoints: [path.join(root, 'src/cli/main.ts')],
    outfile: path.join(root, 'dist/cli.mjs'),
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node22',
    sourcemap: true,
    define: { SANDBOXD_VERSION: JSON.stringify(version) },
    logLevel: 'warning',
  }),
]);
// The dashboard's script and style sheet, beside the bundle that serves them (src/http/ui/assets.ts).
cpSync(path.join(root, 'src/http/ui/assets'), path.join(root, 'dist/assets'), { recursive: true });
console.error(`build: dist/agent.mjs and dist/cli.mjs in ${Math.round(performance.now() - started)} ms`);
