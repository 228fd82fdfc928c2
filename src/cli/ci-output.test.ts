import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CiOutputEscaper, DEFUSED_PREFIX, escapeDiagnostic } from './ci-output.ts';

function escaped(...chunks: string[]): string {
  const escaper = new CiOutputEscaper();
  return chunks.map((chunk) => escaper.write(chunk)).join('') + escaper.end();
}

describe("sandboxd run's output in CI", () => {
  it('defuses runner commands at the start of a line, indented or split across chunks', () => {
    assert.equal(escaped('ok\n::add-mask::secret\n'), `ok\n${DEFUSED_PREFIX}::add-mask::secret\n`);
    assert.equal(escaped('  ::stop-commands::t\n'), `${DEFUSED_PREFIX}  ::stop-commands::t\n`);
    assert.equal(escaped(':', ':error::x\n'), `${DEFUSED_PREFIX}::error::x\n`);
    assert.equal(escaped('a\n', ':', ':', 'set-env::x'), `a\n${DEFUSED_PREFIX}::set-env::x`);
  });

  it('treats a lone carriage return as a line end and any Unicode white space as indentation, as the runner does', () => {
    assert.equal(escaped('x\r::error::y\n'), `x\r${DEFUSED_PREFIX}::error::y\n`);
    assert.equal(escaped('\u00a0::warning::z'), `${DEFUSED_PREFIX}\u00a0::warning::z`);
    assert.equal(escaped(' '.repeat(60), '::notice::n'), `${DEFUSED_PREFIX}${' '.repeat(60)}::notice::n`);
  });

  it('leaves "::" inside a line alone, and defuses "##[" anywhere', () => {
    assert.equal(escaped('std::vector and a::b\n'), 'std::vector and a::b\n');
    assert.equal(escaped('x ##[group]title\n'), 'x #\u200b#[group]title\n');
    assert.equal(escaped('x #', '#', '[warning]w'), 'x #\u200b#[warning]w');
  });

  it('shows control characters and escape sequences, but passes colours, tabs and line ends', () => {
    assert.equal(escaped('\x1b]52;c;aGk=\x07'), '\\x1b]52;c;aGk=\\x07');
    assert.equal(escaped('\x1b[2J\x1b[H'), '\\x1b[2J\\x1b[H');
    assert.equal(escaped('\x1b[31mred\x1b[0m\tok\r\n'), '\x1b[31mred\x1b[0m\tok\r\n');
    assert.equal(escaped('\x1b[3', '1mred'), '\x1b[31mred');
    assert.equal(escaped('a\bb\u009bc\x7f'), 'a\\x08b\\x9bc\\x7f');
  });

  it('gives back what it held when the stream ends', () => {
    assert.equal(escaped('tail:'), 'tail:');
    assert.equal(escaped('x\n:'), 'x\n:');
    assert.equal(escaped('\x1b['), '\\x1b[');
  });
});

describe('diagnostics about what the sandbox named', () => {
  it('stay on one line and carry no runner command or escape sequence', () => {
    assert.equal(escapeDiagnostic('dist/a\n::error::x\x1b]0;t\x07'), 'dist/a\\n::error::x\\x1b]0;t\\x07');
  });
});
