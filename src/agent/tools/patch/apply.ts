import type { ToolOutcome } from '#protocol/tool-spec';
import type { ApplyPatchResult, ApplyPatchTool, PatchFileResult } from '#protocol/tools/patch';
import type { ToolContext, ToolHandler } from '../context.ts';
import { summarize as fitSummary } from '../summary.ts';
import { type BeforeCommitStep, commitPlans } from './commit.ts';
import { agentPathLocks, type PathLocks } from './lock.ts';
import { parsePatch } from './parse.ts';
import { type FilePlan, planOperation, resolveOperations } from './plan.ts';

/**
 * apply_patch inside the agent: parse, resolve every path, take the locks, read
 * and match every hunk of every file, and only then write, all or nothing.
 */

export interface ApplyPatchOptions {
  /** Locks shared with other patches; the agent-wide set unless a test brings its own. */
  locks?: PathLocks;
  beforeCommitStep?: BeforeCommitStep;
}

export const applyPatch: ToolHandler<typeof ApplyPatchTool> = (context, input) =>
  applyPatchWith(context, input, {});

export async function applyPatchWith(
  context: ToolContext,
  input: { patch: string; dry_run: boolean },
  options: ApplyPatchOptions,
): Promise<ToolOutcome<ApplyPatchResult>> {
  const { operations } = parsePatch(input.patch);
  const resolved = await resolveOperations(context.workspaceRoot, operations);
  const paths = resolved.flatMap(({ target, moveTarget }) =>
    moveTarget === undefined ? [target.absolute] : [target.absolute, moveTarget.absolute],
  );
  const release = await (options.locks ?? agentPathLocks).acquire(paths);
  try {
    const plans: FilePlan[] = [];
    for (const operation of resolved) {
      plans.push(await planOperation(context.workspaceRoot, operation, context.limits));
    }
    const warnings = plans.flatMap((plan) => plan.warnings);
    if (!input.dry_run) warnings.push(...(await commitPlans(plans, options.beforeCommitStep)));
    const result = summarize(
      plans.map((plan) => plan.result),
      input.dry_run,
      warnings,
    );
    return { summary: describe(result), result };
  } finally {
    release();
  }
}

function summarize(files: PatchFileResult[], isDryRun: boolean, warnings: string[]): ApplyPatchResult {
  return {
    dry_run: isDryRun,
    files,
    files_changed: files.length,
    lines_added: files.reduce((sum, file) => sum + file.lines_added, 0),
    lines_removed: files.reduce((sum, file) => sum + file.lines_removed, 0),
    warnings,
  };
}

const ACTION_LETTERS = { add: 'A', update: 'M', delete: 'D', move: 'R' } as const;
const MAX_LISTED_FILES = 20;
const MAX_LISTED_WARNINGS = 5;

/** `Applied patch: 2 files changed (+5 -3): M src/a.ts, A src/b.ts` and any warnings. */
function describe(result: ApplyPatchResult): string {
  const count = `${result.files_changed} file${result.files_changed === 1 ? '' : 's'}`;
  const head = result.dry_run
    ? `Dry run, nothing written: the patch applies cleanly; ${count} would change`
    : `Applied patch: ${count} changed`;
  const listed = result.files.slice(0, MAX_LISTED_FILES).map((file) => {
    const letter = ACTION_LETTERS[file.action];
    return file.move_to === undefined
      ? `${letter} ${file.path}`
      : `${letter} ${file.path} -> ${file.move_to}`;
  });
  const hidden = result.files.length - listed.length;
  if (hidden > 0) listed.push(`and ${hidden} more`);
  const lines = [`${head} (+${result.lines_added} -${result.lines_removed}): ${listed.join(', ')}`];
  for (const warning of result.warnings.slice(0, MAX_LISTED_WARNINGS)) lines.push(`warning: ${warning}`);
  return fitSummary(lines.join('\n'));
}
