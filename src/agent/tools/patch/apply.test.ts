import assert from 'node:assert/strict';
import { access, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ApplyPatchResult, ApplyPatchTool } from '#protocol/tools/patch';
import { applyPatch } from './apply.ts';
import { createWorkspace, envelope, rejectsWith, type TestWorkspace } from './test-workspace.ts';

let ws: TestWorkspace;
beforeEach(async () => {
  ws = await createWorkspace();
});
afterEach(() => ws.remove());

const run = (patch: string, isDryRun = false) => applyPatch(ws.context, { patch, dry_run: isDryRun });

describe('apply_patch', () => {
  it('adds, updates, moves and deletes files in one patch and reports each', async () => {
    await ws.write('src/a.ts', 'const a = 1;\nexport { a };\n');
    await ws.write('src/old.ts', 'x\ny\n');
    await ws.write('gone.txt', 'bye\n');
    const outcome = await run(
      envelope(
        '*** Add File: src/b.ts',
        '+export const b = 2;',
        '*** Update File: src/a.ts',
        '@@',
        '-const a = 1;',
        '+const a = 10;',
        '*** Update File: src/old.ts',
        '*** Move to: lib/deep/new.ts',
        '@@',
        ' x',
        '-y',
        '+z',
        '*** Delete File: gone.txt',
      ),
    );
    assert.equal(await ws.read('src/b.ts'), 'export const b = 2;\n');
    assert.equal(await ws.read('src/a.ts'), 'const a = 10;\nexport { a };\n');
    assert.equal(await ws.read('lib/deep/new.ts'), 'x\nz\n');
    await assert.rejects(access(path.join(ws.root, 'src/old.ts')));
    await assert.rejects(access(path.join(ws.root, 'gone.txt')));
    assert.deepEqual(outcome.result, {
      dry_run: false,
      files: [
        { path: 'src/b.ts', action: 'add', hunks: 0, lines_added: 1, lines_removed: 0 },
        { path: 'src/a.ts', action: 'update', hunks: 1, lines_added: 1, lines_removed: 1 },
        {
          path: 'src/old.ts',
          action: 'move',
          move_to: 'lib/deep/new.ts',
          hunks: 1,
          lines_added: 1,
          lines_removed: 1,
        },
        { path: 'gone.txt', action: 'delete', hunks: 0, lines_added: 0, lines_removed: 1 },
      ],
      files_changed: 4,
      lines_added: 3,
      lines_removed: 3,
      warnings: [],
    });
    assert.equal(
      outcome.summary,
      'Applied patch: 4 files changed (+3 -3): A src/b.ts, M src/a.ts, R src/old.ts -> lib/deep/new.ts, D gone.txt',
    );
    assert.doesNotThrow(() => ApplyPatchResult.parse(outcome.result));
    assert.equal(ApplyPatchTool.name, 'apply_patch');
  });

  it('applies several hunks, an @@ anchor and an End of File hunk to one file', async () => {
    await ws.write('m.py', ['def a():', '    return 1', '', 'def b():', '    return 1', ''].join('\n'));
    await run(
      envelope(
        '*** Update File: m.py',
        '@@ def b():',
        '-    return 1',
        '+    return 2',
        '@@',
        '+',
        '+def c():',
        '+    return 3',
        '*** End of File',
        '@@ def a():',
        '-    return 1',
        '+    return 0',
      ),
    );
    assert.equal(
      await ws.read('m.py'),
      ['def a():', '    return 0', '', 'def b():', '    return 2', '', 'def c():', '    return 3', ''].join(
        '\n',
      ),
    );
  });

  it('keeps CRLF line endings of a CRLF file', async () => {
    await ws.write('w.txt', 'one\r\ntwo\r\nthree\r\n');
    await run(envelope('*** Update File: w.txt', '@@', ' one', '-two', '+2', '+2.5', ' three'));
    assert.equal(await ws.read('w.txt'), 'one\r\n2\r\n2.5\r\nthree\r\n');
  });

  it('keeps a UTF-8 BOM and a missing final newline', async () => {
    await ws.write('bom.txt', Buffer.from('\uFEFFfirst\nlast', 'utf8'));
    await run(envelope('*** Update File: bom.txt', '@@', ' first', '-last', '+final'));
    const bytes = await readFile(path.join(ws.root, 'bom.txt'));
    assert.deepEqual(bytes, Buffer.from('\uFEFFfirst\nfinal', 'utf8'));
  });

  it('keeps the mode bits of an updated and of a moved file', async () => {
    await ws.write('run.sh', '#!/bin/sh\necho hi\n', 0o755);
    await ws.write('tool.sh', '#!/bin/sh\n', 0o750);
    await run(
      envelope(
        '*** Update File: run.sh',
        '@@',
        '-echo hi',
        '+echo hello',
        '*** Update File: tool.sh',
        '*** Move to: bin/tool.sh',
      ),
    );
    assert.equal((await stat(path.join(ws.root, 'run.sh'))).mode & 0o7777, 0o755);
    assert.equal((await stat(path.join(ws.root, 'bin/tool.sh'))).mode & 0o7777, 0o750);
    assert.equal(await ws.read('run.sh'), '#!/bin/sh\necho hello\n');
  });

  it('writes nothing in a dry run but reports what would change', async () => {
    await ws.write('a.txt', 'a\n');
    await ws.write('d.txt', 'd\n');
    const before = await ws.snapshot();
    const outcome = await run(
      envelope(
        '*** Update File: a.txt',
        '*** Move to: moved/a.txt',
        '@@',
        '-a',
        '+A',
        '*** Add File: new/dir/b.txt',
        '+b',
        '*** Delete File: d.txt',
      ),
      true,
    );
    assert.deepEqual(await ws.snapshot(), before);
    assert.equal(outcome.result.dry_run, true);
    assert.equal(outcome.result.files_changed, 3);
    assert.match(
      outcome.summary,
      /^Dry run, nothing written: the patch applies cleanly; 3 files would change \(\+2 -2\)/,
    );
  });

  it('reports a hunk matched only after ignoring trailing whitespace', async () => {
    await ws.write('t.txt', 'keep   \nold\n');
    const outcome = await run(envelope('*** Update File: t.txt', '@@', ' keep', '-old', '+new'));
    assert.equal(await ws.read('t.txt'), 'keep   \nnew\n');
    assert.deepEqual(outcome.result.warnings, [
      't.txt: hunk 1 matched only when trailing whitespace is ignored',
    ]);
    assert.match(outcome.summary, /\nwarning: t\.txt: hunk 1/);
  });

  it('refuses to add a file that exists and to update or delete one that does not', async () => {
    await ws.write('here.txt', 'x\n');
    await rejectsWith(run(envelope('*** Add File: here.txt', '+y')), 'ALREADY_EXISTS');
    await rejectsWith(run(envelope('*** Update File: nope.txt', '@@', '-x')), 'NOT_FOUND');
    await rejectsWith(run(envelope('*** Delete File: nope.txt')), 'NOT_FOUND');
    await ws.write('there.txt', 'z\n');
    await rejectsWith(run(envelope('*** Update File: here.txt', '*** Move to: there.txt')), 'ALREADY_EXISTS');
    assert.equal(await ws.read('here.txt'), 'x\n');
  });

  it('refuses binary files and patches that name a file twice', async () => {
    await ws.write('blob.bin', Buffer.from([1, 0, 2, 10]));
    await rejectsWith(run(envelope('*** Update File: blob.bin', '@@', '-x')), 'BINARY_FILE');
    await ws.write('a.txt', 'a\n');
    const twice = envelope('*** Update File: a.txt', '@@', '-a', '+b', '*** Delete File: ./a.txt');
    await rejectsWith(run(twice), 'INVALID_ARGUMENT');
  });

  it('writes nothing when any hunk of any file fails to match', async () => {
    await ws.write('a.txt', 'a\n');
    await ws.write('b.txt', 'b\nb\nc\n');
    const before = await ws.snapshot();
    const patch = (body: string[]) =>
      run(envelope('*** Update File: a.txt', '@@', '-a', '+A', '*** Add File: c.txt', '+c', ...body));
    await rejectsWith(patch(['*** Update File: b.txt', '@@', '-x']), 'PATCH_CONTEXT_NOT_FOUND');
    await rejectsWith(patch(['*** Update File: b.txt', '@@', '-b']), 'PATCH_CONTEXT_AMBIGUOUS');
    const overlap = ['*** Update File: b.txt', '@@', ' b', '-c', '@@', '-c', '+C'];
    await rejectsWith(patch(overlap), 'PATCH_HUNKS_OVERLAP');
    assert.deepEqual(await ws.snapshot(), before);
  });
});
