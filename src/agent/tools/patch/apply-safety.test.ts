import assert from 'node:assert/strict';
import { readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ApplyPatchOptions, applyPatchWith } from './apply.ts';
import { PathLocks } from './lock.ts';
import { createWorkspace, envelope, rejectsWith, type TestWorkspace } from './test-workspace.ts';

let ws: TestWorkspace;
beforeEach(async () => {
  ws = await createWorkspace();
});
afterEach(() => ws.remove());

const run = (patch: string, options: ApplyPatchOptions = {}) =>
  applyPatchWith(ws.context, { patch, dry_run: false }, { locks: new PathLocks(), ...options });

/** Adds a file first and then breaks the second; the add must be undone. */
const twoFiles = envelope(
  '*** Update File: a.txt',
  '@@',
  '-a',
  '+A',
  '*** Update File: sub/b.txt',
  '@@',
  '-b',
  '+B',
  '*** Add File: new/dir/c.txt',
  '+c',
);

describe('apply_patch paths', () => {
  for (const [name, bad, code] of [
    ['a path with ..', '../escape.txt', 'PATH_OUTSIDE_WORKSPACE'],
    ['an absolute path', '/etc/passwd', 'ABSOLUTE_PATH_DENIED'],
    ['a path with a NUL byte', 'nul\0.txt', 'INVALID_ARGUMENT'],
  ] as const) {
    it(`refuses ${name} and writes nothing`, async () => {
      await ws.write('ok.txt', 'ok\n');
      const before = await ws.snapshot();
      await rejectsWith(run(envelope('*** Add File: fine.txt', '+x', `*** Add File: ${bad}`, '+y')), code);
      await rejectsWith(run(envelope('*** Update File: ok.txt', `*** Move to: ${bad}`)), code);
      assert.deepEqual(await ws.snapshot(), before);
      assert.deepEqual(await readdir(ws.outside), []);
    });
  }

  it('refuses a symlink that leaves the workspace, as file or as directory', async () => {
    await writeFile(path.join(ws.outside, 'secret.txt'), 'secret\n');
    await symlink(path.join(ws.outside, 'secret.txt'), path.join(ws.root, 'link.txt'));
    await symlink(ws.outside, path.join(ws.root, 'out'));
    await rejectsWith(
      run(envelope('*** Update File: link.txt', '@@', '-secret', '+owned')),
      'SYMLINK_ESCAPE',
    );
    await rejectsWith(run(envelope('*** Delete File: link.txt')), 'SYMLINK_ESCAPE');
    await rejectsWith(run(envelope('*** Add File: out/new.txt', '+x')), 'SYMLINK_ESCAPE');
    assert.equal(await readFile(path.join(ws.outside, 'secret.txt'), 'utf8'), 'secret\n');
    assert.deepEqual(await readdir(ws.outside), ['secret.txt']);
  });

  it('refuses to patch through a symlink inside the workspace and names its target', async () => {
    await ws.write('real.txt', 'x\n');
    await symlink('real.txt', path.join(ws.root, 'alias.txt'));
    const error = await rejectsWith(
      run(envelope('*** Update File: alias.txt', '@@', '-x', '+y')),
      'PATCH_FAILED',
    );
    assert.equal(error.details?.symlink_target, 'real.txt');
    assert.equal(await ws.read('real.txt'), 'x\n');
  });
});

describe('apply_patch rollback', () => {
  beforeEach(async () => {
    await ws.write('a.txt', 'a\n', 0o640);
    await ws.write('sub/b.txt', 'b\n');
  });

  it('restores the first file byte for byte when writing the second fails', async () => {
    const before = await ws.snapshot();
    const error = await rejectsWith(
      run(twoFiles, {
        beforeCommitStep: ({ index }) => {
          if (index === 1) throw new Error('disk on fire');
        },
      }),
      'PATCH_FAILED',
    );
    assert.equal(error.details?.path, 'sub/b.txt');
    assert.match(error.message, /disk on fire/);
    // Same bytes and mode, no temp or backup files, no directories left from the add.
    assert.deepEqual(await ws.snapshot(), before);
  });

  it('reports which files it could not restore', async () => {
    const error = await rejectsWith(
      run(
        envelope('*** Update File: sub/b.txt', '@@', '-b', '+B', '*** Update File: a.txt', '@@', '-a', '+A'),
        {
          beforeCommitStep: async ({ index }) => {
            if (index !== 1) return;
            await rm(path.join(ws.root, 'sub'), { recursive: true });
            throw new Error('second write failed');
          },
        },
      ),
      'PATCH_ROLLBACK_FAILED',
    );
    assert.deepEqual(error.details?.files, ['sub/b.txt']);
    assert.equal(await ws.read('a.txt'), 'a\n');
  });

  it('refuses with PATCH_CONFLICT when a file changes between read and rename, losing nobody’s update', async () => {
    const error = await rejectsWith(
      run(twoFiles, {
        beforeCommitStep: async ({ index }) => {
          if (index === 1) await ws.write('sub/b.txt', 'b\nwritten meanwhile\n');
        },
      }),
      'PATCH_CONFLICT',
    );
    assert.equal(error.retryable, true);
    assert.equal(error.details?.path, 'sub/b.txt');
    assert.equal(await ws.read('sub/b.txt'), 'b\nwritten meanwhile\n');
    assert.equal(await ws.read('a.txt'), 'a\n');
    assert.deepEqual(await readdir(ws.root), ['a.txt', 'sub']);
  });

  it('detects a concurrent write that keeps the file size', async () => {
    await rejectsWith(
      run(envelope('*** Update File: a.txt', '@@', '-a', '+A'), {
        beforeCommitStep: () => ws.write('a.txt', 'z\n'),
      }),
      'PATCH_CONFLICT',
    );
    assert.equal(await ws.read('a.txt'), 'z\n');
  });
});

describe('apply_patch concurrency', () => {
  const first = envelope('*** Update File: c.txt', '@@', '-one', '+ONE', ' two');
  const second = envelope('*** Update File: c.txt', '@@', ' two', '-three', '+THREE');

  beforeEach(() => ws.write('c.txt', 'one\ntwo\nthree\n'));

  it('runs two patches of the same file one after the other, keeping both changes', async () => {
    const locks = new PathLocks();
    let later: Promise<unknown> | undefined;
    let isLaterSettled = false;
    await applyPatchWith(
      ws.context,
      { patch: first, dry_run: false },
      {
        locks,
        beforeCommitStep: async () => {
          later = applyPatchWith(ws.context, { patch: second, dry_run: false }, { locks }).finally(() => {
            isLaterSettled = true;
          });
          // Ample time for an unlocked patch to read and write; a locked one cannot start at all.
          await sleep(50);
          assert.equal(isLaterSettled, false, 'the second patch must wait for the first');
        },
      },
    );
    await later;
    assert.equal(await ws.read('c.txt'), 'ONE\ntwo\nTHREE\n');
    assert.equal(locks.size, 0);
  });

  it('without a shared lock the loser gets PATCH_CONFLICT instead of overwriting the winner', async () => {
    await rejectsWith(
      run(first, {
        beforeCommitStep: async () => {
          await run(second);
        },
      }),
      'PATCH_CONFLICT',
    );
    assert.equal(await ws.read('c.txt'), 'one\ntwo\nTHREE\n');
  });
});
