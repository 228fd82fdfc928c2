import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/client';
import { Arena, codeOf, KNOWN_CODES, type Structured, tally } from './arena.ts';

/**
 * Path fuzzing: a few thousand generated paths against every tool that takes a
 * path. Each call must answer a typed error or a success that stays inside
 * /workspace, nothing may appear outside /workspace, and the server keeps serving.
 */

let arena: Arena;
before(async () => {
  // Two CPUs for the attacker here: the fuzz is thousands of calls, not an exhaustion case.
  arena = await Arena.open({ attacker: { resources: { cpus: 2 } } });
});
after(() => arena?.close());

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Path pieces an attacker would try. */
const PIECES = [
  '',
  '.',
  '..',
  '...',
  '....',
  'f.txt',
  'dir',
  'links',
  'links/root',
  'links/passwd',
  '.git',
  '.git/config',
  '/',
  '//',
  '~',
  '~root',
  '\\',
  '..\\..',
  '%2e%2e',
  '%2e%2e%2f',
  '%252e%252e',
  '..%2f',
  '%00',
  '\u0000',
  'a\u0000b',
  '\u2024',
  '\u2024\u2024',
  '\u2025',
  '\uff0e\uff0e',
  '\uff0e',
  '\u2215',
  '\u2044',
  '\uff0f',
  '\u29f8',
  '\u202e',
  '\u202etxt.f',
  '\u200b',
  '\u200d..',
  '\ufeff',
  '\u0085',
  '\u00a0',
  '\ud800',
  '\udfff',
  '\ud83d\ude00',
  'e\u0301',
  'ｆ.txt',
  'a\nb',
  'a\rb',
  'a\tb',
  ' ',
  ' ..',
  '.. ',
  '-rf',
  '--help',
  '-',
  '*',
  '**',
  '?',
  '[a]',
  '{a,b}',
  '$(touch /tmp/fuzz-pwned)',
  '`touch /tmp/fuzz-pwned2`',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal shell expansion, on purpose
  '${HOME}',
  "'",
  '"',
  ';',
  '|',
  '&',
  '>',
  'CON',
  'nul',
  'x'.repeat(255),
  'x'.repeat(256),
  '/etc/passwd',
  '/proc/self/root',
  '/proc/1/root',
  '/workspace',
  '/workspace/../etc',
  '/run/sandboxd/control.sock',
  'file:///etc/passwd',
  'C:\\Windows',
  '\\\\server\\share',
  '\\\\?\\C:\\',
];

/** Hand-written nasties every tool gets. */
function corePaths(): string[] {
  const paths = new Set<string>([
    ...PIECES,
    '../etc/passwd',
    '../../../../../../etc/passwd',
    '/etc/passwd',
    'dir/../../etc/passwd',
    'dir/../dir/../../tmp',
    './././',
    '/./',
    'f.txt/',
    'f.txt/.',
    'f.txt/..',
    'f.txt/../..',
    'links/root/etc/passwd',
    'links/root/tmp/fuzz-escape',
    'links/passwd/',
    'links/root/',
    './/..//..//etc',
    '..;/etc',
    '..%c0%af..%c0%afetc',
    '%2e%2e/%2e%2e/etc/passwd',
    '\u2024\u2024/\u2024\u2024/etc/passwd',
    '\uff0e\uff0e/\uff0e\uff0e/etc/passwd',
    '..\u2215..\u2215etc\u2215passwd',
    '..\\..\\etc\\passwd',
    '\u202e/dwssap/cte',
    `${'x'.repeat(10_000)}`,
    `${'a/'.repeat(2100)}f`,
    `${'./'.repeat(2047)}f.txt`,
    `${'../'.repeat(1365)}etc`,
    `${'x/'.repeat(100)}${'../'.repeat(101)}etc/passwd`,
    `dir/${'x'.repeat(300)}/f`,
    'dir/\u0000/../../etc/passwd',
    '\u0000../etc/passwd',
    '~/.bashrc',
    '~sandbox',
    '$HOME',
    '.git/hooks/pre-commit',
    '.git/../../etc',
  ]);
  return [...paths];
}

/** Generated paths: random joins of pieces with assorted separators, prefixes and suffixes. */
function generatedPaths(count: number, seed: number): string[] {
  const next = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const separators = ['/', '/', '/', '//', '\\', '/./', '%2f', '\u2215', ''];
  const prefixes = ['', '', '', '/', './', '../', '~/', '\\', '/workspace/'];
  const suffixes = ['', '', '', '/', '/.', '/..', '\u0000', '%00', ' '];
  const paths = new Set<string>();
  while (paths.size < count) {
    const length = 1 + Math.floor(next() * 6);
    const parts = Array.from({ length }, () => pick(PIECES));
    let path = pick(prefixes);
    for (const [index, part] of parts.entries()) path += (index === 0 ? '' : pick(separators)) + part;
    path += pick(suffixes);
    if (next() < 0.05) path = path.repeat(1 + Math.floor(next() * 40));
    paths.add(path);
  }
  return [...paths];
}

type Builder = (path: string) => Record<string, unknown>;

/** Every tool that takes a path, with the call that puts the fuzzed path in it. */
const TOOLS: [string, Builder][] = [
  ['read_file', (path) => ({ path })],
  ['write_file', (path) => ({ path, content: 'fuzz\n', create_dirs: true })],
  ['list_dir', (path) => ({ path })],
  ['list_files', (path) => ({ path })],
  ['search_text', (path) => ({ query: 'needle', path })],
  ['view_image', (path) => ({ path })],
  ['git_status', (path) => ({ path })],
  ['git_diff', (path) => ({ path })],
  ['git_log', (path) => ({ path })],
  ['git_show', (path) => ({ rev: 'HEAD', path })],
  ['git_blame', (path) => ({ path })],
  ['exec_command', (path) => ({ cmd: 'pwd', workdir: path })],
  ['apply_patch', (path) => ({ patch: `*** Begin Patch\n*** Add File: ${path}\n+fuzz\n*** End Patch` })],
];

/** What in a success would show that a call left /workspace. */
function escapeIn(tool: string, result: Structured): string | undefined {
  const text = JSON.stringify(result);
  if (text.includes('root:x:0:0')) return 'content of /etc/passwd';
  const relative = (value: unknown) =>
    typeof value !== 'string' || (!value.startsWith('/') && value !== '..' && !value.startsWith('../'));
  switch (tool) {
    case 'exec_command':
      return String(result.stdout ?? '').startsWith('/workspace') ? undefined : `pwd ${result.stdout}`;
    case 'write_file':
      return relative(result.path) && relative(result.resolved_path) ? undefined : `wrote ${result.path}`;
    case 'list_dir':
      return (result.entries as { path: string }[]).every((entry) => relative(entry.path))
        ? undefined
        : 'listed outside';
    case 'list_files':
      return (result.files as string[]).every(relative) ? undefined : 'listed outside';
    case 'apply_patch':
      return (result.files as { path: string }[]).every((file) => relative(file.path))
        ? undefined
        : 'patched outside';
    default:
      return relative(result.path) && relative(result.repo_root) ? undefined : `path ${result.path}`;
  }
}

describe('adversarial: path fuzzing', () => {
  it('thousands of generated paths against every path-taking tool', () =>
    arena.case('fuzz.paths', async () => {
      await arena.sh(
        arena.a,
        `set -e
cd /workspace && mkdir -p dir links && echo needle > f.txt && echo needle > dir/g.txt
ln -sfn / links/root && ln -sfn /etc/passwd links/passwd
git init -q . && git -c user.name=f -c user.email=f@f add -A && git -c user.name=f -c user.email=f@f commit -qm fuzz
touch /home/sandbox/.fuzz-marker /dev/shm/.fuzz-marker
touch /tmp/.fuzz-marker
sleep 1`,
      );
      const core = corePaths();
      const generated = generatedPaths(2000, 7);
      const jobs: [string, Builder, string][] = [];
      for (const path of core) for (const [tool, build] of TOOLS) jobs.push([tool, build, path]);
      for (const [index, path] of generated.entries()) {
        const [tool, build] = TOOLS[index % TOOLS.length] as [string, Builder];
        jobs.push([tool, build, path]);
      }
      const pool: Client[] = [];
      for (let index = 0; index < 4; index++) pool.push(await arena.clientFor(arena.a));
      const codes: string[] = [];
      const problems: string[] = [];
      let cursor = 0;
      const started = Date.now();
      await Promise.all(
        Array.from({ length: 8 }, async (_, worker) => {
          const client = pool[worker % pool.length] as Client;
          while (cursor < jobs.length) {
            const [tool, build, path] = jobs[cursor++] as [string, Builder, string];
            let result: Structured;
            try {
              result = await arena.call(client, tool, build(path), 60_000);
            } catch (error) {
              problems.push(
                `${tool} ${JSON.stringify(path).slice(0, 80)} threw ${(error as Error).message.slice(0, 120)}`,
              );
              continue;
            }
            const code = codeOf(result);
            codes.push(code);
            if (code === 'ok') {
              const leak = escapeIn(tool, result);
              if (leak !== undefined) problems.push(`${tool} ${JSON.stringify(path).slice(0, 80)}: ${leak}`);
            } else if (!KNOWN_CODES.has(code) || code === 'INTERNAL_ERROR') {
              problems.push(
                `${tool} ${JSON.stringify(path).slice(0, 80)} → ${code} ${result.error?.message?.slice(0, 120)}`,
              );
            }
          }
        }),
      );
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      for (const client of pool) await client.close().catch(() => undefined);
      // Nothing may have appeared outside /workspace: the root is read-only anyway, and the
      // tools must never write to /tmp, $HOME or /dev/shm either. (The reference marker is made
      // last: gVisor's clock is finer than Linux's tick, and the markers made after it in $HOME
      // and /dev/shm made those directories newer than it.)
      const outside = await arena.sh(
        arena.a,
        `find / -xdev -path /workspace -prune -o -newer /tmp/.fuzz-marker -print 2>/dev/null | head -20
find /tmp /home/sandbox /dev/shm /run -newer /tmp/.fuzz-marker ! -name .fuzz-marker 2>/dev/null | head -20
ls /tmp/fuzz-pwned /tmp/fuzz-pwned2 /tmp/fuzz-escape 2>/dev/null; true`,
      );
      const created = (
        await arena.sh(arena.a, 'cd /workspace && find . -newer /tmp/.fuzz-marker | wc -l')
      ).trim();
      const info = await arena.call(arena.a, 'server_info', {});
      assert.deepEqual(problems, [], `${problems.length} problems`);
      assert.equal(outside.trim(), '', 'nothing was created outside /workspace');
      assert.equal(info.ok, true);
      assert.equal(codes.length, jobs.length);
      return {
        attempted: `${jobs.length} calls in ${seconds} s: ${core.length} hand-written paths against each of ${TOOLS.length} tools (${TOOLS.map(([tool]) => tool).join(', ')}) and ${generated.length} generated ones round-robin (absolute, .., NUL, %2e%2e, U+2024/U+FF0E/U+2215/U+202E/lone surrogates, backslashes, ./././, trailing slashes, empty, 10 KB names)`,
        result: `${tally(codes)}; no INTERNAL_ERROR, no success outside /workspace; nothing new outside /workspace (${created} entries created inside it); server_info still answers`,
      };
    }));
});
