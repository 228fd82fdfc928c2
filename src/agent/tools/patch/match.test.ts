import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ErrorCode, ToolError } from '#protocol/errors';
import { locateHunks, spliceHunks } from './match.ts';
import type { Hunk, HunkLine } from './parse.ts';

/** A hunk from diff-style lines: ' ctx', '-old', '+new'. */
function hunk(lines: string[], options: { anchors?: string[]; isEndOfFile?: boolean } = {}): Hunk {
  const kinds = { ' ': 'context', '-': 'remove', '+': 'add' } as const;
  return {
    anchors: options.anchors ?? [],
    isEndOfFile: options.isEndOfFile ?? false,
    patchLine: 1,
    lines: lines.map((line): HunkLine => ({ kind: kinds[line[0] as ' ' | '-' | '+'], text: line.slice(1) })),
  };
}

function apply(file: string[], hunks: Hunk[]): string[] {
  return spliceHunks(file, locateHunks(file, hunks, 'f.txt'), (text) => text);
}

function assertFails(file: string[], hunks: Hunk[], code: ErrorCode): ToolError {
  let caught: ToolError | undefined;
  assert.throws(
    () => locateHunks(file, hunks, 'f.txt'),
    (error: unknown) => {
      assert.ok(error instanceof ToolError);
      assert.equal(error.code, code, error.message);
      caught = error;
      return true;
    },
  );
  return caught as ToolError;
}

const twoFunctions = ['function a() {', '  return 1;', '}', '', 'function b() {', '  return 1;', '}'];

describe('locateHunks', () => {
  it('applies a hunk whose context matches exactly one place', () => {
    assert.deepEqual(apply(['a', 'b', 'c'], [hunk([' a', '-b', '+B', ' c'])]), ['a', 'B', 'c']);
  });

  it('applies several hunks given in any order', () => {
    const file = ['1', '2', '3', '4', '5', '6'];
    assert.deepEqual(apply(file, [hunk([' 5', '-6', '+six']), hunk(['-1', '+one', ' 2'])]), [
      'one',
      '2',
      '3',
      '4',
      '5',
      'six',
    ]);
  });

  it('reports context that is not in the file', () => {
    const error = assertFails(['a', 'b'], [hunk([' a', '-x'])], 'PATCH_CONTEXT_NOT_FOUND');
    assert.equal(error.details?.hunk, 1);
  });

  it('reports context that matches more than one place, with the candidate lines', () => {
    const error = assertFails(
      twoFunctions,
      [hunk(['-  return 1;', '+  return 2;'])],
      'PATCH_CONTEXT_AMBIGUOUS',
    );
    assert.deepEqual(error.details?.candidate_lines, [2, 6]);
  });

  it('uses an @@ anchor to pick the place after it', () => {
    const result = apply(twoFunctions, [
      hunk(['-  return 1;', '+  return 2;'], { anchors: ['function b() {'] }),
    ]);
    assert.deepEqual(result.slice(4), ['function b() {', '  return 2;', '}']);
    assert.equal(result[1], '  return 1;');
  });

  it('finds an anchor written without indentation or only in part', () => {
    const file = [
      'class A:',
      '    def run(self):',
      '        pass',
      'class B:',
      '    def run(self):',
      '        pass',
    ];
    const partial = apply(file, [hunk(['-        pass', '+        return 1'], { anchors: ['class B'] })]);
    assert.equal(partial[5], '        return 1');
    const chained = apply(file, [
      hunk(['-        pass', '+        return 1'], { anchors: ['class B:', 'def run(self):'] }),
    ]);
    assert.equal(chained[5], '        return 1');
  });

  it('lets the hunk repeat the anchor line as its first context line', () => {
    const result = apply(twoFunctions, [
      hunk([' function b() {', '-  return 1;', '+  return 3;'], { anchors: ['function b() {'] }),
    ]);
    assert.equal(result[5], '  return 3;');
  });

  it('reports an anchor that is not in the file', () => {
    const error = assertFails(
      twoFunctions,
      [hunk(['-  return 1;'], { anchors: ['function c()'] })],
      'PATCH_CONTEXT_NOT_FOUND',
    );
    assert.equal(error.details?.anchor, 'function c()');
  });

  it('reports an anchor whose occurrences lead to different places as ambiguous', () => {
    const file = ['if (x) {', '  y();', '}', 'if (x) {', '  y();', '}'];
    assertFails(file, [hunk(['-  y();'], { anchors: ['if (x) {'] })], 'PATCH_CONTEXT_AMBIGUOUS');
  });

  it('anchors a hunk marked End of File at the last lines', () => {
    const file = ['x', 'end', 'x', 'end'];
    assert.deepEqual(apply(file, [hunk([' x', '-end', '+fin'], { isEndOfFile: true })]), [
      'x',
      'end',
      'x',
      'fin',
    ]);
    assert.deepEqual(apply(file, [hunk(['+tail'], { isEndOfFile: true })]), [...file, 'tail']);
    assertFails(['end', 'x'], [hunk(['-end'], { isEndOfFile: true })], 'PATCH_CONTEXT_NOT_FOUND');
  });

  it('inserts a hunk without context after its anchor or into an empty file, and nowhere else', () => {
    assert.deepEqual(apply(['a', 'b'], [hunk(['+new'], { anchors: ['a'] })]), ['a', 'new', 'b']);
    assert.deepEqual(apply([], [hunk(['+first'])]), ['first']);
    assertFails(['a'], [hunk(['+new'])], 'PATCH_CONTEXT_AMBIGUOUS');
  });

  it('ignores trailing whitespace only when nothing matches exactly, keeping the file version of context', () => {
    const file = ['alpha  ', 'beta\t', 'gamma'];
    const placements = locateHunks(file, [hunk([' alpha', '-beta', '+BETA'])], 'f.txt');
    assert.equal(placements[0]?.isWhitespaceTolerant, true);
    assert.deepEqual(
      spliceHunks(file, placements, (text) => text),
      ['alpha  ', 'BETA', 'gamma'],
    );
    const exact = locateHunks(['x  ', 'x'], [hunk(['-x'])], 'f.txt');
    assert.deepEqual([exact[0]?.start, exact[0]?.isWhitespaceTolerant], [1, false]);
    assertFails(['x  ', 'x\t'], [hunk(['-x '])], 'PATCH_CONTEXT_AMBIGUOUS');
  });

  it('does not ignore leading whitespace', () => {
    assertFails(['    indented'], [hunk(['-indented'])], 'PATCH_CONTEXT_NOT_FOUND');
  });

  it('refuses hunks that cover the same lines but accepts hunks that touch', () => {
    const file = ['1', '2', '3', '4'];
    const error = assertFails(file, [hunk([' 1', '-2']), hunk([' 2', '-3'])], 'PATCH_HUNKS_OVERLAP');
    assert.deepEqual(error.details?.hunks, [1, 2]);
    assert.deepEqual(apply(file, [hunk([' 1', '-2']), hunk(['-3', ' 4'])]), ['1', '4']);
    assertFails(
      file,
      [hunk(['+a'], { anchors: ['2'] }), hunk(['+b'], { anchors: ['2'] })],
      'PATCH_HUNKS_OVERLAP',
    );
  });
});
