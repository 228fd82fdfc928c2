import assert from 'node:assert/strict';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  realpath,
  rm,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type ErrorCode, ToolError } from '#protocol/errors';
import { defaultAgentLimits } from '#protocol/limits';
import type { ToolContext } from '../context.ts';

/** A throwaway workspace for the apply_patch tests, with a sibling directory outside it. */
export interface TestWorkspace {
  root: string;
  outside: string;
  context: ToolContext;
  write(relative: string, content: string | Buffer, mode?: number): Promise<void>;
  read(relative: string): Promise<string>;
  /** Every entry under the workspace with its mode and content, to prove nothing was written. */
  snapshot(): Promise<Record<string, string>>;
  remove(): Promise<void>;
}

export async function createWorkspace(): Promise<TestWorkspace> {
  const base = await realpath(await mkdtemp(path.join(tmpdir(), 'sandboxd-patch-')));
  const root = path.join(base, 'workspace');
  const outside = path.join(base, 'outside');
  await mkdir(root);
  await mkdir(outside);
  return {
    root,
    outside,
    context: { workspaceRoot: root, limits: defaultAgentLimits },
    async write(relative, content, mode) {
      const file = path.join(root, relative);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, content);
      if (mode !== undefined) await chmod(file, mode);
    },
    read: (relative) => readFile(path.join(root, relative), 'utf8'),
    snapshot: () => snapshot(root),
    remove: () => rm(base, { recursive: true, force: true }),
  };
}

async function snapshot(root: string): Promise<Record<string, string>> {
  const entries: Record<string, string> = {};
  const walk = async (directory: string) => {
    for (const name of (await readdir(directory)).sort()) {
      const absolute = path.join(directory, name);
      const relative = path.relative(root, absolute);
      const stats = await lstat(absolute);
      if (stats.isSymbolicLink()) {
        entries[relative] = `link -> ${await readlink(absolute)}`;
      } else if (stats.isDirectory()) {
        entries[relative] = 'dir';
        await walk(absolute);
      } else {
        entries[relative] =
          `${(stats.mode & 0o7777).toString(8)} ${(await readFile(absolute)).toString('base64')}`;
      }
    }
  };
  await walk(root);
  return entries;
}

export const envelope = (...lines: string[]) => ['*** Begin Patch', ...lines, '*** End Patch', ''].join('\n');

/** Awaits a rejection with the given contract code and returns the error for further checks. */
export async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<ToolError> {
  let caught: ToolError | undefined;
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ToolError, `expected a ToolError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    caught = error;
    return true;
  });
  return caught as ToolError;
}
