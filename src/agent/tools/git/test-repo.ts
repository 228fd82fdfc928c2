import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { z } from 'zod';
import { ToolError } from '#protocol/errors';
import { defaultAgentLimits } from '#protocol/limits';
import type { ToolSpec } from '#protocol/tool-spec';
import type { ToolContext, ToolHandler } from '../context.ts';

/** Test support: a throwaway workspace with a git repository and fixed identities and dates. */
export interface TestRepo {
  /** Real path of the workspace (and, unless told otherwise, of the repository). */
  root: string;
  context: ToolContext;
  /** Runs the test's own git (not the hardened one) in the workspace or a subdirectory. */
  git(args: readonly string[], cwd?: string): string;
  write(relative: string, content: string | Buffer): Promise<void>;
  /** Stages everything and commits with the next fixed date; returns the commit id. */
  commit(message: string): string;
  cleanup(): Promise<void>;
}

let dateCounter = 0;

/** A fixed, increasing date per commit, with a +02:00 zone so offsets are visible in results. */
export function nextDate(): string {
  dateCounter++;
  const day = String((dateCounter % 28) + 1).padStart(2, '0');
  return `2024-03-${day}T10:00:00+02:00`;
}

export function testGitEnv(date = '2024-03-01T10:00:00+02:00'): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: tmpdir(),
    LANG: 'C.UTF-8',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: 'Ada Author',
    GIT_AUTHOR_EMAIL: 'ada@example.test',
    GIT_AUTHOR_DATE: date,
    GIT_COMMITTER_NAME: 'Carl Committer',
    GIT_COMMITTER_EMAIL: 'carl@example.test',
    GIT_COMMITTER_DATE: date,
  };
}

export async function createTestRepo(options: { init?: boolean } = {}): Promise<TestRepo> {
  const root = await realpath(await mkdtemp(path.join(tmpdir(), 'sandboxd-git-')));
  const run = (args: readonly string[], cwd = root, date?: string): string =>
    execFileSync('git', args, {
      cwd,
      env: testGitEnv(date),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  if (options.init !== false) run(['init', '-q', '-b', 'main']);
  return {
    root,
    context: { workspaceRoot: root, limits: defaultAgentLimits },
    git: (args, cwd) => run(args, cwd === undefined ? root : path.join(root, cwd)),
    async write(relative, content) {
      await mkdir(path.dirname(path.join(root, relative)), { recursive: true });
      await writeFile(path.join(root, relative), content);
    },
    commit(message) {
      run(['add', '-A']);
      run(['commit', '-q', '--allow-empty', '-m', message], root, nextDate());
      return run(['rev-parse', 'HEAD']).trim();
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

/** Calls a tool the way the agent does: input parsed by the spec, result checked against it. */
export async function callTool<S extends ToolSpec>(
  tool: { spec: S; handler: ToolHandler<S> },
  context: ToolContext,
  input: z.input<S['input']>,
): Promise<{ summary: string; result: z.output<S['output']> }> {
  const outcome = await tool.handler(context, tool.spec.input.parse(input) as z.output<S['input']>);
  return {
    summary: outcome.summary,
    result: tool.spec.output.parse(outcome.result) as z.output<S['output']>,
  };
}

/** Runs `action` and returns the ToolError it rejects with; fails if it resolves or throws something else. */
export async function toolErrorOf(action: () => Promise<unknown>): Promise<ToolError> {
  try {
    await action();
  } catch (error) {
    if (error instanceof ToolError) return error;
    throw error;
  }
  throw new Error('expected a ToolError, but the call succeeded');
}
