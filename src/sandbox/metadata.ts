import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { EgressAllowList } from '../policy/egress.ts';

/**
 * What a task attached to a sandbox after it was created (a warm-pool member
 * taken by /v1, an egress allow-list changed at run time): container labels
 * cannot change, so these live in the state
 * directory, one small file per sandbox, and reconcile reads them back.
 */
export const Assignment = z.object({
  tokenSha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  expiresAt: z.iso.datetime().optional(),
  owner: z.string().max(128).optional(),
  labels: z.record(z.string(), z.string()).default({}),
  /** The egress allow-list as last changed at run time (null: turned off); absent: the policy's. */
  egress: EgressAllowList.nullable().optional(),
});
export type Assignment = z.infer<typeof Assignment>;

function fileFor(stateDir: string, id: string): string {
  return path.join(stateDir, 'assignments', `${id}.json`);
}

export async function saveAssignment(stateDir: string, id: string, assignment: Assignment): Promise<void> {
  const file = fileFor(stateDir, id);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  // Random: two changes at once (two PATCHes) must not write one temporary file together.
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temporary, JSON.stringify(assignment), { mode: 0o600 });
  await rename(temporary, file);
}

/**
 * A sandbox's assignment: 'none' when it has no file (a pool member nobody took),
 * 'unreadable' when the file exists but cannot be read or parsed — a taken sandbox
 * whose task is unknown, which must never go back to the pool for another task.
 */
export type LoadedAssignment =
  | { state: 'none' }
  | { state: 'assigned'; assignment: Assignment }
  | { state: 'unreadable'; reason: string };

export async function loadAssignment(stateDir: string, id: string): Promise<LoadedAssignment> {
  let text: string;
  try {
    text = await readFile(fileFor(stateDir, id), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'none' };
    return { state: 'unreadable', reason: String(error) };
  }
  try {
    return { state: 'assigned', assignment: Assignment.parse(JSON.parse(text)) };
  } catch (error) {
    return {
      state: 'unreadable',
      reason: `not a valid assignment: ${(error as Error).message.slice(0, 200)}`,
    };
  }
}

export async function removeAssignment(stateDir: string, id: string): Promise<void> {
  await rm(fileFor(stateDir, id), { force: true });
}
