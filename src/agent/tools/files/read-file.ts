import type { z } from 'zod';
import { ToolError } from '#protocol/errors';
import type { ReadFileResult, ReadFileTool } from '#protocol/tools/files';
import { binaryFileError, isBinary, SNIFF_BYTES } from '../binary.ts';
import type { ToolHandler } from '../context.ts';
import { summarize } from '../summary.ts';
import { type OpenedFile, openRegularFile, parseEncoding, readAt } from './file-access.ts';
import { readLineRange } from './line-range.ts';
import { formatBytes } from './text.ts';

type ReadFileInput = z.output<(typeof ReadFileTool)['input']>;
type Result = z.input<typeof ReadFileResult>;

/**
 * read_file: a range of lines as UTF-8 text, or the leading bytes as base64.
 * Both are bounded by max_bytes and by the sandbox's maxFileBytes.
 */
export const readFile: ToolHandler<typeof ReadFileTool> = async (context, input) => {
  const encoding = parseEncoding(input.encoding);
  if (encoding === 'base64' && (input.start_line !== undefined || input.end_line !== undefined)) {
    throw new ToolError('INVALID_ARGUMENT', "start_line and end_line apply to encoding 'utf8' only");
  }
  const startLine = input.start_line ?? 1;
  if (input.end_line !== undefined && input.end_line < startLine) {
    throw new ToolError('INVALID_ARGUMENT', `end_line ${input.end_line} is before start_line ${startLine}`);
  }
  const maxBytes = Math.min(input.max_bytes, context.limits.maxFileBytes);
  const file = await openRegularFile(context.workspaceRoot, input.path);
  try {
    if (encoding === 'base64') return await readBase64(file, maxBytes);
    return await readText(file, input, startLine, maxBytes, context.limits.maxFileBytes);
  } finally {
    await file.handle.close();
  }
};

async function readBase64(file: OpenedFile, maxBytes: number) {
  const bytes = await readAt(file.handle, 0, Math.min(maxBytes, file.sizeBytes));
  const isTruncated = bytes.length < file.sizeBytes;
  const result: Result = {
    path: file.displayPath,
    encoding: 'base64',
    content: bytes.toString('base64'),
    size_bytes: file.sizeBytes,
    bytes_returned: bytes.length,
    truncated: isTruncated,
  };
  const extent = isTruncated
    ? `the first ${formatBytes(bytes.length)} of ${formatBytes(file.sizeBytes)} (max_bytes)`
    : `all ${formatBytes(bytes.length)}`;
  return { summary: `Read ${file.displayPath} as base64: ${extent}`, result };
}

async function readText(
  file: OpenedFile,
  input: ReadFileInput,
  startLine: number,
  maxBytes: number,
  countBudgetBytes: number,
) {
  const head = await readAt(file.handle, 0, SNIFF_BYTES);
  refuseBinary(file.displayPath, head, true);

  const requestedEnd = input.end_line ?? Number.POSITIVE_INFINITY;
  const lastLine = Math.min(requestedEnd, startLine + input.max_lines - 1);
  const range = await readLineRange(file.handle, { startLine, lastLine, maxBytes, countBudgetBytes });
  if (range.totalLines !== null && startLine > Math.max(range.totalLines, 1)) {
    throw new ToolError(
      'INVALID_ARGUMENT',
      `start_line ${startLine} is past the end of ${file.displayPath} (${range.totalLines} lines)`,
      { details: { path: file.displayPath, total_lines: range.totalLines } },
    );
  }
  refuseBinary(file.displayPath, range.content, false);

  const isTruncated = range.isByteLimited || (range.hasMoreLines && range.endLine < requestedEnd);
  const result: Result = {
    path: file.displayPath,
    encoding: 'utf8',
    content: range.content.toString('utf8'),
    size_bytes: file.sizeBytes,
    bytes_returned: range.content.length,
    truncated: isTruncated,
    start_line: startLine,
    end_line: range.endLine,
    total_lines: range.totalLines,
  };
  if (range.hasMoreLines) result.next_start_line = range.endLine + 1;
  if (range.isLineCut) result.is_line_cut = true;
  return { summary: summarize(textHeader(result, range.isByteLimited), result.content, '\n'), result };
}

function refuseBinary(displayPath: string, bytes: Buffer, isHead: boolean): void {
  if (isBinary(bytes, isHead)) {
    throw binaryFileError(displayPath, "read it with encoding 'base64' (or view_image for images)");
  }
}

function textHeader(result: Result, isByteLimited: boolean): string {
  const path = result.path;
  const of = result.total_lines === null ? '' : ` of ${result.total_lines}`;
  if (result.total_lines === 0) return `Read ${path}: empty file`;
  let header = `Read ${path} lines ${result.start_line}-${result.end_line}${of}`;
  if (result.is_line_cut) header += ` (line ${result.end_line} cut at max_bytes)`;
  else if (result.truncated) header += isByteLimited ? ' (stopped at max_bytes)' : ' (stopped at max_lines)';
  if (result.next_start_line !== undefined) {
    header += `; more: read_file ${JSON.stringify({ path, start_line: result.next_start_line })}`;
  }
  return header;
}
