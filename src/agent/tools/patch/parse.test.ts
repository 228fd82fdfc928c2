import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ToolError } from '#protocol/errors';
import { parsePatch } from './parse.ts';

const envelope = (...lines: string[]) => ['*** Begin Patch', ...lines, '*** End Patch'].join('\n');

function assertInvalidAt(text: string, line: number, pattern: RegExp) {
  assert.throws(
    () => parsePatch(text),
    (error: unknown) => {
      assert.ok(error instanceof ToolError);
      assert.equal(error.code, 'INVALID_ARGUMENT');
      assert.equal(error.details?.line, line);
      assert.match(error.message, pattern);
      return true;
    },
  );
}

describe('parsePatch', () => {
  it('reads add, update with move, and delete sections', () => {
    const patch = parsePatch(
      envelope(
        '*** Add File: docs/new.md',
        '+# Title',
        '+',
        '+body',
        '*** Update File: src/a.ts',
        '*** Move to: src/b.ts',
        '@@ function main() {',
        ' const x = 1;',
        '-return x;',
        '+return x + 1;',
        '*** Delete File: old.txt',
      ),
    );
    assert.deepEqual(patch.operations, [
      { kind: 'add', path: 'docs/new.md', lines: ['# Title', '', 'body'], patchLine: 2 },
      {
        kind: 'update',
        path: 'src/a.ts',
        moveTo: 'src/b.ts',
        patchLine: 6,
        hunks: [
          {
            anchors: ['function main() {'],
            isEndOfFile: false,
            patchLine: 8,
            lines: [
              { kind: 'context', text: 'const x = 1;' },
              { kind: 'remove', text: 'return x;' },
              { kind: 'add', text: 'return x + 1;' },
            ],
          },
        ],
      },
      { kind: 'delete', path: 'old.txt', patchLine: 12 },
    ]);
  });

  it('splits hunks at @@ lines and marks a hunk that ends at the end of the file', () => {
    const [update] = parsePatch(
      envelope('*** Update File: a.txt', '@@', ' a', '-b', '@@', ' y', '+z', '*** End of File'),
    ).operations;
    assert.equal(update?.kind, 'update');
    if (update?.kind !== 'update') return;
    assert.equal(update.hunks.length, 2);
    assert.equal(update.hunks[0]?.isEndOfFile, false);
    assert.equal(update.hunks[1]?.isEndOfFile, true);
    assert.deepEqual(update.hunks[1]?.anchors, []);
  });

  it('nests consecutive @@ lines as a chain of anchors', () => {
    const [update] = parsePatch(
      envelope('*** Update File: a.py', '@@ class A:', '@@     def run(self):', '-x', '+y'),
    ).operations;
    assert.ok(update?.kind === 'update');
    assert.deepEqual(update.hunks[0]?.anchors, ['class A:', '    def run(self):']);
  });

  it('tolerates CRLF, trailing spaces on markers, blank lines around sections and no final newline', () => {
    const text = [
      '',
      '*** Begin Patch  ',
      '*** Add File: a.txt   ',
      '+one',
      '',
      '*** Delete File: b.txt',
      '',
      '*** End Patch \t',
    ].join('\r\n');
    assert.deepEqual(parsePatch(text).operations, [
      { kind: 'add', path: 'a.txt', lines: ['one'], patchLine: 3 },
      { kind: 'delete', path: 'b.txt', patchLine: 6 },
    ]);
  });

  it('unwraps a heredoc around the envelope', () => {
    const text = ["apply_patch <<'EOF'", envelope('*** Delete File: x'), 'EOF', ''].join('\n');
    assert.deepEqual(parsePatch(text).operations, [{ kind: 'delete', path: 'x', patchLine: 3 }]);
  });

  it('accepts a first hunk without @@ and a unified-diff range in the @@ line', () => {
    const [update] = parsePatch(
      envelope('*** Update File: a', ' a', '-b', '+c', '@@ -10,4 +10,4 @@ def f():', ' d', '-e'),
    ).operations;
    assert.ok(update?.kind === 'update');
    assert.deepEqual(
      update.hunks.map((hunk) => hunk.anchors),
      [[], ['def f():']],
    );
  });

  it('reads a bare blank line inside a hunk as an empty context line and drops blank lines closing it', () => {
    const [update] = parsePatch(
      envelope('*** Update File: a', '@@', ' a', '', '-b', '', '', '*** Delete File: c'),
    ).operations;
    assert.ok(update?.kind === 'update');
    assert.deepEqual(update.hunks[0]?.lines, [
      { kind: 'context', text: 'a' },
      { kind: 'context', text: '' },
      { kind: 'remove', text: 'b' },
    ]);
  });

  it('refuses a patch without *** End Patch, since it may have been cut off', () => {
    assertInvalidAt(['*** Begin Patch', '*** Update File: a', '@@', '-x'].join('\n'), 4, /End Patch/);
  });

  it('refuses a patch that does not start with *** Begin Patch', () => {
    assertInvalidAt('*** Update File: a\n*** End Patch', 1, /Begin Patch/);
  });

  it('refuses a hunk line without a prefix and names its line', () => {
    assertInvalidAt(envelope('*** Update File: a', '@@', ' a', 'b', '+c'), 5, /start with/);
  });

  it('refuses an update without hunks unless it moves the file', () => {
    assertInvalidAt(envelope('*** Update File: a', '*** Delete File: b'), 2, /no hunks/);
    const [move] = parsePatch(envelope('*** Update File: a', '*** Move to: b')).operations;
    assert.deepEqual(move, { kind: 'update', path: 'a', moveTo: 'b', hunks: [], patchLine: 2 });
  });

  it('refuses misplaced and unknown markers', () => {
    assertInvalidAt(envelope('*** Update File: a', '@@', '-x', '*** Move to: b'), 5, /unexpected marker/);
    assertInvalidAt(envelope('*** Update File: a', '*** End of File'), 3, /must follow/);
    assertInvalidAt(envelope('*** Update File: a', '@@', '-x', '*** End of File', '+y'), 6, /expected '@@'/);
    assertInvalidAt(envelope('*** Rename File: a'), 2, /expected '\*\*\* Add File:'/);
    assertInvalidAt(envelope('*** Delete File: a', '-gone'), 3, /expected/);
  });

  it('refuses content lines of an added file without +', () => {
    assertInvalidAt(envelope('*** Add File: a', '+x', 'y'), 4, /starts with '\+'/);
  });

  it('refuses a second *** End Patch inside the patch and an empty patch', () => {
    assertInvalidAt(
      envelope('*** Delete File: a', '*** End Patch', '*** Delete File: b'),
      3,
      /before the end/,
    );
    assertInvalidAt(envelope(), 1, /no file operations/);
  });

  it('refuses a marker without a path', () => {
    assertInvalidAt(envelope('*** Add File:   '), 2, /missing path/);
  });
});
