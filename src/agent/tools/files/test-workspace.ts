import assert from 'node:assert/strict';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { z } from 'zod';
import { ToolError } from '#protocol/errors';
import { defaultAgentLimits } from '#protocol/limits';
import type { ToolOutcome, ToolSpec } from '#protocol/tool-spec';
import type { ToolContext, ToolHandler } from '../context.ts';

/** Test support: a temp workspace with a sibling directory outside it. */
export interface TestWorkspace {
  root: string;
  /** A directory next to the workspace, holding secret.txt: what an escape would reach. */
  outside: string;
  context: ToolContext;
  write(relative: string, content: string | Buffer): Promise<string>;
  cleanup(): Promise<void>;
}

export async function makeWorkspace(): Promise<TestWorkspace> {
  const base = await realpath(await mkdtemp(path.join(tmpdir(), 'sandboxd-files-')));
  const root = path.join(base, 'workspace');
  const outside = path.join(base, 'outside');
  await mkdir(root);
  await mkdir(outside);
  await writeFile(path.join(outside, 'secret.txt'), 'top secret\n');
  return {
    root,
    outside,
    context: { workspaceRoot: root, limits: defaultAgentLimits },
    async write(relative, content) {
      const absolute = path.join(root, relative);
      await mkdir(path.dirname(absolute), { recursive: true });
      await writeFile(absolute, content);
      return absolute;
    },
    cleanup: () => rm(base, { recursive: true, force: true }),
  };
}

interface Tool<S extends ToolSpec> {
  spec: S;
  handler: ToolHandler<S>;
}

/**
 * Calls a tool the way the agent does: the input through the spec's schema
 * (defaults, strictness), and the result checked against the output schema.
 */
export async function call<S extends ToolSpec>(
  tool: Tool<S>,
  context: ToolContext,
  input: unknown,
): Promise<ToolOutcome<z.output<S['output']>>> {
  const parsed = tool.spec.input.safeParse(input);
  if (!parsed.success) throw new ToolError('INVALID_ARGUMENT', parsed.error.message);
  const outcome = await tool.handler(context, parsed.data as z.output<S['input']>);
  assert.ok(outcome.summary.length > 0, 'a summary for the model');
  return {
    summary: outcome.summary,
    result: tool.spec.output.parse(outcome.result) as z.output<S['output']>,
  };
}

/** Asserts that `promise` fails with a ToolError of `code`; returns it. */
export async function rejectsWith(promise: Promise<unknown>, code: string): Promise<ToolError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ToolError, `expected a ToolError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}
