import { MAX_SUMMARY_BYTES } from '../../../protocol/tool-spec.ts';
import { cutUtf8 } from '../utf8.ts';

/** `text` cut to at most `maxBytes` of UTF-8, and whether it was cut. */
export function boundText(text: string, maxBytes: number): { text: string; isCut: boolean } {
  if (Buffer.byteLength(text) <= maxBytes) return { text, isCut: false };
  return { text: cutUtf8(Buffer.from(text), maxBytes).toString('utf8'), isCut: true };
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/**
 * A model-facing summary: a status line, then as many body lines as fit in
 * MAX_SUMMARY_BYTES. When lines are left out, the last line says how many, so
 * the model knows the structured result holds the rest.
 */
export function composeSummary(
  header: string,
  lines: readonly string[],
  maxBytes = MAX_SUMMARY_BYTES,
): string {
  const reserve = 96;
  let used = Buffer.byteLength(header);
  const kept: string[] = [header];
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] as string;
    const size = Buffer.byteLength(line) + 1;
    if (used + size > maxBytes - reserve) {
      kept.push(`… ${plural(lines.length - index, 'more line')} in the structured result`);
      break;
    }
    kept.push(line);
    used += size;
  }
  return kept.join('\n');
}

/** A status line followed by a block of raw text (file content), cut to fit the summary budget. */
export function composeTextSummary(header: string, body: string, maxBytes = MAX_SUMMARY_BYTES): string {
  if (body === '') return header;
  const room = maxBytes - Buffer.byteLength(header) - 96;
  const bounded = boundText(body, Math.max(0, room));
  if (!bounded.isCut) return `${header}\n${body}`;
  return `${header}\n${bounded.text}\n… text cut at ${formatBytes(maxBytes)}; the structured result has all of it`;
}
