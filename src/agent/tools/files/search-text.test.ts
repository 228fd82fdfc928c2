import assert from 'node:assert/strict';
import { symlink } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileTools } from './index.ts';
import { runRipgrep } from './ripgrep.ts';
import { call, makeWorkspace, rejectsWith, type TestWorkspace } from './test-workspace.ts';

const tool = fileTools.search_text;

describe('search_text', () => {
  let ws: TestWorkspace;
  const search = (input: unknown) => call(tool, ws.context, input);

  before(async () => {
    ws = await makeWorkspace();
    await ws.write('.gitignore', 'vendor/\n');
    await ws.write('src/a.ts', 'const total = price * (1 + rate);\nlet x = a.b;\nconst Total = 2;\n');
    await ws.write('src/b.ts', 'one\ntwo\nneedle here\nthree\nneedle again\nfour\nfive\n');
    await ws.write('vendor/lib.ts', 'needle in vendor\n');
    await ws.write('.hidden/h.ts', 'needle hidden\n');
    await ws.write('src/long.txt', `${'x'.repeat(5000)}needle${'y'.repeat(5000)}\n`);
    await ws.write('src/-flag.txt', '--help\n');
    await symlink(path.join(ws.outside, 'secret.txt'), path.join(ws.root, 'src/leak.txt'));
    await symlink(ws.outside, path.join(ws.root, 'outdir'));
  });
  after(() => ws.cleanup());

  it('finds a literal string with path, line and column', async () => {
    const { result, summary } = await search({ query: 'price * (1 + rate)' });
    assert.equal(result.matches.length, 1);
    assert.deepEqual(result.matches[0], {
      path: 'src/a.ts',
      line_number: 1,
      column: 15,
      preview: 'const total = price * (1 + rate);',
      preview_truncated: false,
    });
    assert.equal(result.total_matches_seen, 1);
    assert.equal(result.truncated, false);
    assert.match(
      summary,
      /^Found 1 matching line for "price \* \(1 \+ rate\)" in \.\nsrc\/a.ts:1:15: const total/,
    );
  });

  it('treats regex characters literally unless regex is true', async () => {
    const literal = await search({ query: 'a.b' });
    assert.deepEqual(
      literal.result.matches.map((match) => match.line_number),
      [2],
    );
    const regex = await search({ query: 'n[e]+dle (here|again)', regex: true, path: 'src' });
    assert.deepEqual(
      regex.result.matches.map((match) => match.line_number),
      [3, 5],
    );
  });

  it('matches case-insensitively when asked', async () => {
    assert.equal((await search({ query: 'total', path: 'src/a.ts' })).result.matches.length, 1);
    assert.equal(
      (await search({ query: 'total', path: 'src/a.ts', case_sensitive: false })).result.matches.length,
      2,
    );
  });

  it('skips ignored, hidden and symlinked files', async () => {
    const { result } = await search({ query: 'needle' });
    const paths = new Set(result.matches.map((match) => match.path));
    assert.deepEqual([...paths], ['src/b.ts', 'src/long.txt']);
    assert.equal((await search({ query: 'top secret' })).result.matches.length, 0);
  });

  it('filters files with include and exclude globs', async () => {
    const ts = await search({ query: 'needle', include_globs: ['*.ts'] });
    assert.deepEqual([...new Set(ts.result.matches.map((match) => match.path))], ['src/b.ts']);
    const notTs = await search({ query: 'needle', glob: '**/*', exclude_globs: '*.ts' });
    assert.deepEqual([...new Set(notTs.result.matches.map((match) => match.path))], ['src/long.txt']);
  });

  it('returns context lines before and after each match', async () => {
    const { result, summary } = await search({ query: 'needle', path: 'src/b.ts', context_lines: 1 });
    assert.deepEqual(result.matches[0]?.context_before, [{ line_number: 2, text: 'two' }]);
    assert.deepEqual(result.matches[0]?.context_after, [{ line_number: 4, text: 'three' }]);
    assert.deepEqual(result.matches[1]?.context_before, [{ line_number: 4, text: 'three' }]);
    assert.deepEqual(result.matches[1]?.context_after, [{ line_number: 6, text: 'four' }]);
    assert.match(summary, /src\/b.ts-2-two\nsrc\/b.ts:3:1: needle here\nsrc\/b.ts-4-three\n--/);
    const wide = await search({ query: 'needle', path: 'src/b.ts', context_lines: 2 });
    assert.deepEqual(
      wide.result.matches[0]?.context_after?.map((line) => line.text),
      ['three', 'needle again'],
      'a nearby match is context too',
    );
  });

  it('bounds a long line preview around the match', async () => {
    const { result } = await search({ query: 'needle', path: 'src/long.txt', max_preview_bytes: 40 });
    const match = result.matches[0];
    assert.ok(match);
    assert.equal(match.column, 5001);
    assert.equal(match.preview_truncated, true);
    assert.ok(Buffer.byteLength(match.preview) <= 40);
    assert.ok(match.preview.includes('needle'), match.preview);
    assert.equal(match.preview_offset, 5000 - 10);
  });

  it('stops ripgrep once max_results is exceeded', async () => {
    const lines = Array.from({ length: 2000 }, (_, index) => `hit ${index}\n`).join('');
    for (let file = 0; file < 20; file++) await ws.write(`many/f${String(file).padStart(2, '0')}.txt`, lines);
    const { result, summary } = await search({ query: 'hit', path: 'many', max_results: 5 });
    assert.equal(result.matches.length, 5);
    assert.equal(result.truncated, true);
    assert.equal(result.total_matches_seen, 6, 'ripgrep was stopped right after the cap');
    assert.deepEqual(
      result.matches.map((match) => `${match.path}:${match.line_number}`),
      ['many/f00.txt:1', 'many/f00.txt:2', 'many/f00.txt:3', 'many/f00.txt:4', 'many/f00.txt:5'],
    );
    assert.match(summary, /stopped at max_results 5; more exist/);
  });

  it('caps max_results at the sandbox limit', async () => {
    const tight = { ...ws.context, limits: { ...ws.context.limits, maxResults: 3 } };
    const { result } = await call(tool, tight, { query: 'hit', path: 'many', max_results: 1000 });
    assert.equal(result.matches.length, 3);
  });

  it('searches for a query that looks like a flag', async () => {
    const { result } = await search({ query: '--help' });
    assert.deepEqual(
      result.matches.map((match) => match.path),
      ['src/-flag.txt'],
    );
  });

  it('says so when nothing matches', async () => {
    const { result, summary } = await search({ query: 'zebra-unicorn' });
    assert.deepEqual([result.matches, result.total_matches_seen, result.truncated], [[], 0, false]);
    assert.match(summary, /^No matches/);
  });

  it('refuses an invalid regex with the ripgrep message', async () => {
    const error = await rejectsWith(search({ query: 'a(', regex: true }), 'INVALID_ARGUMENT');
    assert.match(error.message, /regex parse error|unclosed group/);
  });

  it('refuses a multi-line query', async () => {
    await rejectsWith(search({ query: 'a\nb' }), 'INVALID_ARGUMENT');
  });

  it('refuses paths that leave the workspace', async () => {
    await rejectsWith(search({ query: 'x', path: '/etc' }), 'ABSOLUTE_PATH_DENIED');
    await rejectsWith(search({ query: 'x', path: '../outside' }), 'PATH_OUTSIDE_WORKSPACE');
    await rejectsWith(search({ query: 'x', path: 'src\0' }), 'INVALID_ARGUMENT');
    await rejectsWith(search({ query: 'secret', path: 'outdir' }), 'SYMLINK_ESCAPE');
    await rejectsWith(search({ query: 'secret', path: 'src/leak.txt' }), 'SYMLINK_ESCAPE');
  });

  it('rejects unknown keys and out-of-range numbers', async () => {
    await rejectsWith(search({ query: 'x', include_hidden: true }), 'INVALID_ARGUMENT');
    await rejectsWith(search({ query: 'x', context_lines: 21 }), 'INVALID_ARGUMENT');
    await rejectsWith(search({ query: '' }), 'INVALID_ARGUMENT');
  });
});

describe('runRipgrep', () => {
  it('kills the process as soon as onRecord has enough', { timeout: 10_000 }, async () => {
    const records: string[] = [];
    const exit = await runRipgrep({
      binary: 'yes',
      cwd: '/',
      args: ['line'],
      delimiter: 0x0a,
      onRecord: (record) => records.push(record.toString()) < 3,
    });
    assert.deepEqual(records, ['line', 'line', 'line']);
    assert.equal(exit.isStopped, true);
    assert.equal(exit.hasTimedOut, false);
  });

  it('kills a run that outlives its time limit', async () => {
    const started = Date.now();
    const exit = await runRipgrep({
      binary: 'sleep',
      cwd: '/',
      args: ['30'],
      delimiter: 0x0a,
      onRecord: () => true,
      timeoutMs: 50,
    });
    assert.equal(exit.hasTimedOut, true);
    assert.ok(Date.now() - started < 5000);
  });

  it('reports a missing ripgrep as an internal error', async () => {
    const run = runRipgrep({
      binary: 'rg-that-does-not-exist',
      cwd: '/',
      args: [],
      delimiter: 0x0a,
      onRecord: () => true,
    });
    await rejectsWith(run, 'INTERNAL_ERROR');
  });
});
