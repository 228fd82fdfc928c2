/**
 * What the audit log keeps of a tool call's arguments: where and how, never
 * what. File contents, patches, stdin, written characters and environment
 * values are replaced by their size; other strings are cut short and anything
 * that looks like a credential in them (a bearer token, `password=…`, a URL's
 * user:password) is masked. A row outlives the sandbox and is read by people
 * who may not see the workspace.
 */

/** Arguments that carry workspace content or input: only their size is kept. */
const CONTENT_KEYS = new Set(['content', 'patch', 'stdin', 'chars', 'data', 'input']);
/** Whose values are secrets by name: only the names are kept. */
const NAMES_ONLY_KEYS = new Set(['env']);

const MAX_STRING_CHARS = 200;
const MAX_ARRAY_ITEMS = 10;

const SECRET_PATTERNS: RegExp[] = [
  /\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}/gi,
  /\b([A-Za-z0-9_-]*(?:password|passwd|secret|token|api[_-]?key|auth)[A-Za-z0-9_-]*)(\s*[=:]\s*)("[^"]*"|'[^']*'|\S+)/gi,
  /(\/\/[^/\s:@]+):[^/\s@]+@/g,
  /\b(?:gh[pousr]_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|xox[abprs]-[A-Za-z0-9-]{10,})\b/g,
];

/** A string with what looks like a credential masked, cut to MAX_STRING_CHARS. */
export function maskSecrets(text: string): string {
  let masked = text;
  masked = masked.replace(SECRET_PATTERNS[0] as RegExp, (_match, scheme: string) => `${scheme} ***`);
  masked = masked.replace(
    SECRET_PATTERNS[1] as RegExp,
    (_match, name: string, separator: string) => `${name}${separator}***`,
  );
  masked = masked.replace(SECRET_PATTERNS[2] as RegExp, '$1:***@');
  masked = masked.replace(SECRET_PATTERNS[3] as RegExp, '***');
  return masked.length > MAX_STRING_CHARS ? `${masked.slice(0, MAX_STRING_CHARS)}…` : masked;
}

function summarizeValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return maskSecrets(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return value;
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_ARRAY_ITEMS).map((item) => summarizeValue(item, depth + 1));
    return value.length > MAX_ARRAY_ITEMS ? [...items, `… ${value.length - MAX_ARRAY_ITEMS} more`] : items;
  }
  if (typeof value === 'object' && depth < 2) return summarizeArguments(value as Record<string, unknown>);
  return `(${typeof value})`;
}

/** The files an apply_patch names, from its `*** Add/Update/Delete File:` headers. */
function patchedFiles(patch: string): string[] {
  const files: string[] = [];
  for (const match of patch.matchAll(/^\*\*\* (?:Add|Update|Delete) File: (.+)$/gm)) {
    if (files.length >= MAX_ARRAY_ITEMS) break;
    files.push(maskSecrets((match[1] as string).trim()));
  }
  return files;
}

export function summarizeArguments(args: Record<string, unknown>, depth = 0): Record<string, unknown> {
  const summary: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(args)) {
    if (value === undefined) continue;
    if (CONTENT_KEYS.has(key)) {
      const bytes = typeof value === 'string' ? Buffer.byteLength(value) : JSON.stringify(value).length;
      summary[key] =
        key === 'patch' && typeof value === 'string' ? { bytes, files: patchedFiles(value) } : { bytes };
    } else if (NAMES_ONLY_KEYS.has(key) && typeof value === 'object' && value !== null) {
      summary[key] = { names: Object.keys(value).slice(0, MAX_ARRAY_ITEMS * 3) };
    } else {
      summary[key] = summarizeValue(value, depth);
    }
  }
  return summary;
}
