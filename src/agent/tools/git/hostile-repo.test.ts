import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readdir, realpath, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gitTools } from './index.ts';
import { callTool, createTestRepo, type TestRepo, testGitEnv, toolErrorOf } from './test-repo.ts';

/**
 * A repository whose .git/config (and .gitattributes) tries every way we know to
 * make a read-only git command run a program. Each vector touches a marker file.
 * The same repository, copied, first proves with plain git that the vectors are
 * live; then the five tools run on the original and no marker may appear.
 */
describe('a repository with a hostile configuration', () => {
  let repo: TestRepo;
  let markers = '';
  let copy = '';

  const script = async (name: string, body: string): Promise<string> => {
    const file = path.join(markers, 'bin', name);
    await writeFile(file, `#!/bin/sh\n${body}\n`);
    await chmod(file, 0o755);
    return file;
  };
  const touch = (marker: string): string => `touch ${path.join(markers, 'hits', marker)}`;
  const hits = async (): Promise<string[]> => (await readdir(path.join(markers, 'hits'))).sort();

  before(async () => {
    markers = await realpath(await mkdtemp(path.join(tmpdir(), 'sandboxd-pwned-')));
    await mkdir(path.join(markers, 'bin'));
    await mkdir(path.join(markers, 'hits'));
    await mkdir(path.join(markers, 'hooks'));
    repo = await createTestRepo();

    await repo.write(
      '.gitattributes',
      [
        '*.txt diff=evil',
        '*.cln filter=clean-evil',
        '*.prc filter=proc-evil',
        '*.inc filter=inc-evil',
        '*.dot filter=dotted.name',
        '',
      ].join('\n'),
    );
    for (const name of ['file.txt', 'plain.ext', 'a.cln', 'a.prc', 'a.inc', 'a.dot', 'gone.txt']) {
      await repo.write(name, `original ${name}\n`);
    }
    repo.commit('initial');

    // HEAD becomes a commit carrying a (bogus) signature, which log.showSignature would verify.
    const tree = repo.git(['rev-parse', 'HEAD^{tree}']).trim();
    const parent = repo.git(['rev-parse', 'HEAD']).trim();
    const signed = path.join(markers, 'signed-commit');
    await writeFile(
      signed,
      `tree ${tree}\nparent ${parent}\nauthor Ada Author <ada@example.test> 1700000000 +0000\n` +
        'committer Ada Author <ada@example.test> 1700000000 +0000\n' +
        'gpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEE\n -----END PGP SIGNATURE-----\n\nsigned commit\n',
    );
    const signedSha = repo.git(['hash-object', '-t', 'commit', '-w', signed]).trim();
    repo.git(['update-ref', 'refs/heads/main', signedSha]);

    // gone.txt's blob is removed: reading it makes a partial clone fetch from its promisor remote.
    const gone = repo.git(['rev-parse', 'HEAD:gone.txt']).trim();
    await unlink(path.join(repo.root, '.git', 'objects', gone.slice(0, 2), gone.slice(2)));

    for (const name of ['file.txt', 'plain.ext', 'a.cln', 'a.prc', 'a.inc', 'a.dot']) {
      await repo.write(name, `original ${name}\nchanged\n`);
    }

    for (const hook of ['post-index-change', 'reference-transaction', 'post-checkout', 'pre-commit']) {
      await writeFile(path.join(markers, 'hooks', hook), `#!/bin/sh\n${touch(`hook-${hook}`)}\n`);
      await chmod(path.join(markers, 'hooks', hook), 0o755);
    }
    const gpg = await script('gpg', `${touch('gpg-program')}\nexit 1`);
    const filterProcess = await script('filter-process', `${touch('filter-process')}\nexit 1`);
    const included = path.join(markers, 'included.config');
    await writeFile(included, `[filter "inc-evil"]\n\tclean = "${touch('filter-included')}; cat"\n`);

    const config: [string, string][] = [
      ['core.fsmonitor', `${touch('fsmonitor')}; false`],
      ['core.hooksPath', path.join(markers, 'hooks')],
      ['core.pager', `${touch('pager')}; cat`],
      ['pager.log', `${touch('pager-log')}; cat`],
      ['pager.diff', `${touch('pager-diff')}; cat`],
      ['diff.external', `${touch('diff-external')}; true`],
      ['diff.evil.command', `${touch('diff-driver-command')}; true`],
      ['diff.evil.textconv', `${touch('textconv')}; cat`],
      ['filter.clean-evil.clean', `${touch('filter-clean')}; cat`],
      ['filter.clean-evil.smudge', `${touch('filter-smudge')}; cat`],
      ['filter.clean-evil.required', 'true'],
      ['filter.proc-evil.process', filterProcess],
      ['filter.dotted.name.clean', `${touch('filter-dotted')}; cat`],
      ['include.path', included],
      ['log.showSignature', 'true'],
      ['gpg.program', gpg],
      ['core.repositoryFormatVersion', '1'],
      ['extensions.partialClone', 'origin'],
      ['remote.origin.url', `ext::sh -c ${touch('lazy-fetch').replaceAll(' ', '% ')}`],
      ['remote.origin.promisor', 'true'],
      ['protocol.ext.allow', 'always'],
      ['protocol.allow', 'always'],
      ['core.sshCommand', `${touch('ssh-command')}; false`],
      ['core.gitProxy', `${touch('git-proxy')}; false`],
      ['credential.helper', `!${touch('credential-helper')}`],
      ['core.askPass', `${touch('askpass')}`],
    ];
    for (const [key, value] of config) repo.git(['config', key, value]);

    copy = await realpath(await mkdtemp(path.join(tmpdir(), 'sandboxd-pwned-copy-')));
    await cp(repo.root, copy, { recursive: true });
  });

  after(async () => {
    await repo.cleanup();
    await rm(copy, { recursive: true, force: true });
    await rm(markers, { recursive: true, force: true });
  });

  it('plants vectors that plain git does run', async () => {
    const plain = (args: string[]): void => {
      // Output goes to a pipe as it does for the tools: git skips some work when stdout is /dev/null.
      try {
        execFileSync('git', args, { cwd: copy, env: testGitEnv(), stdio: 'pipe' });
      } catch {
        // Several vectors make git fail after running them; the markers tell what ran.
      }
    };
    // Only the changed files: every copied file is stat-dirty, and comparing gone.txt would end git early.
    plain(['diff', '--', 'file.txt', 'plain.ext', 'a.cln', 'a.inc', 'a.dot']);
    // The process filter fails its handshake, which ends git: on its own, after the others.
    plain(['diff', '--', 'a.prc']);
    plain(['status']);
    plain(['log', '-1', '--format=%H']);
    plain(['blame', 'file.txt']);
    plain(['cat-file', 'blob', 'HEAD:gone.txt']);
    assert.deepEqual(await hits(), [
      'diff-driver-command',
      'diff-external',
      'filter-clean',
      'filter-dotted',
      'filter-included',
      'filter-process',
      'filter-smudge',
      'fsmonitor',
      'gpg-program',
      'hook-post-index-change',
      'lazy-fetch',
      'textconv',
    ]);
    for (const hit of await hits()) await rm(path.join(markers, 'hits', hit));
  });

  it('runs none of them from any git tool', async () => {
    const context = repo.context;
    const status = await callTool(gitTools.git_status, context, {});
    assert.ok(status.result.entries.some((entry) => entry.path === 'a.cln'));

    const unstaged = await callTool(gitTools.git_diff, context, {});
    assert.deepEqual(unstaged.result.files.map((file) => file.path).sort(), [
      'a.cln',
      'a.dot',
      'a.inc',
      'a.prc',
      'file.txt',
      'plain.ext',
    ]);
    assert.match(unstaged.result.diff, /\+changed/);
    await callTool(gitTools.git_diff, context, { staged: true, unstaged: true });

    const log = await callTool(gitTools.git_log, context, {});
    assert.equal(log.result.commits[0]?.subject, 'signed commit');
    await callTool(gitTools.git_show, context, {});
    await callTool(gitTools.git_show, context, { rev: 'HEAD~1', paths: ['file.txt', 'a.cln'] });
    // The full diff needs gone.txt's missing blob: the lazy fetch is refused, so git fails.
    const lazy = await toolErrorOf(() => callTool(gitTools.git_show, context, { rev: 'HEAD~1' }));
    assert.equal(lazy.code, 'GIT_ERROR');
    await callTool(gitTools.git_show, context, { path: 'file.txt' });
    await callTool(gitTools.git_show, context, { path: 'a.cln' });
    const gone = await toolErrorOf(() => callTool(gitTools.git_show, context, { path: 'gone.txt' }));
    assert.ok(['NOT_FOUND', 'GIT_ERROR'].includes(gone.code), gone.code);

    const blame = await callTool(gitTools.git_blame, context, { path: 'file.txt' });
    assert.equal(blame.result.lines.length, 2);
    await callTool(gitTools.git_blame, context, { path: 'file.txt', rev: 'HEAD' });
    await callTool(gitTools.git_blame, context, { path: 'a.cln' });

    assert.deepEqual(await hits(), []);
  });
});
