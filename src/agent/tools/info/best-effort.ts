import { readFile } from 'node:fs/promises';

/** What a probe could not read and why; it ends up in the tool's `notes`. */
export type Notes = string[];

export function errorCode(error: unknown): string {
  if (error instanceof Error && 'code' in error && typeof error.code === 'string') return error.code;
  return error instanceof Error ? error.message : String(error);
}

/**
 * The text of a file, or null with a note: a probe of the environment reports
 * what it could not see rather than failing the whole check.
 */
export async function readTextOrNull(file: string, notes: Notes): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    notes.push(`${file}: unreadable (${errorCode(error)})`);
    return null;
  }
}
