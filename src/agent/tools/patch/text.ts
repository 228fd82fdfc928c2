import { ToolError } from '#protocol/errors';
import { binaryFileError, isBinary } from '../binary.ts';
import { type Placement, spliceHunks } from './match.ts';

/**
 * A text file as the patcher sees it: lines without their endings, each line
 * remembering its own ending so that a patch changes only the lines it names.
 */

export type LineEnding = '\n' | '\r\n';

export interface TextLine {
  text: string;
  /** '' only on a last line without a final newline. */
  eol: LineEnding | '';
}

export interface TextFile {
  hasBom: boolean;
  lines: TextLine[];
  /** The file's prevailing ending, given to added lines. */
  eol: LineEnding;
  hasFinalNewline: boolean;
}

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const UTF16_BOMS = [Buffer.from([0xff, 0xfe]), Buffer.from([0xfe, 0xff])];

/** Decodes UTF-8 text; refuses binary content and other encodings rather than corrupt them. */
export function decodeTextFile(bytes: Buffer, path: string): TextFile {
  if (UTF16_BOMS.some((bom) => bytes.subarray(0, 2).equals(bom))) {
    throw new ToolError('UNSUPPORTED_ENCODING', `${path} is UTF-16; apply_patch edits UTF-8 text only`, {
      details: { path },
    });
  }
  if (isBinary(bytes)) throw binaryFileError(path, 'apply_patch edits UTF-8 text only');
  const hasBom = bytes.subarray(0, 3).equals(UTF8_BOM);
  const content = (hasBom ? bytes.subarray(3) : bytes).toString('utf8');
  const lines: TextLine[] = [];
  let crlf = 0;
  let lf = 0;
  let start = 0;
  while (start < content.length) {
    const newline = content.indexOf('\n', start);
    if (newline === -1) {
      lines.push({ text: content.slice(start), eol: '' });
      break;
    }
    if (newline > start && content[newline - 1] === '\r') {
      lines.push({ text: content.slice(start, newline - 1), eol: '\r\n' });
      crlf++;
    } else {
      lines.push({ text: content.slice(start, newline), eol: '\n' });
      lf++;
    }
    start = newline + 1;
  }
  return {
    hasBom,
    lines,
    eol: crlf > lf ? '\r\n' : '\n',
    // An empty file gains a final newline like any file the patch adds.
    hasFinalNewline: lines.length === 0 || lines.at(-1)?.eol !== '',
  };
}

/** A new file from the `+` lines of `*** Add File`: LF endings, a final newline. */
export function newTextFile(lines: readonly string[]): TextFile {
  return {
    hasBom: false,
    lines: lines.map((text) => ({ text, eol: '\n' })),
    eol: '\n',
    hasFinalNewline: true,
  };
}

/** The file with the hunks applied; added lines take the file's prevailing ending. */
export function patchTextFile(file: TextFile, placements: readonly Placement[]): TextFile {
  const lines = spliceHunks(file.lines, placements, (text): TextLine => ({ text, eol: file.eol }));
  return { ...file, lines };
}

export function encodeTextFile(file: TextFile): Buffer {
  const parts: string[] = [];
  const last = file.lines.length - 1;
  file.lines.forEach((line, index) => {
    // A line that used to be last may no longer be, and the new last line keeps the old final-newline state.
    const eol = line.eol === '' ? file.eol : line.eol;
    parts.push(line.text, index < last || file.hasFinalNewline ? eol : '');
  });
  const body = Buffer.from(parts.join(''), 'utf8');
  return file.hasBom ? Buffer.concat([UTF8_BOM, body]) : body;
}
