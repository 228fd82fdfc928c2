import { z } from 'zod';
import { ToolError } from '../protocol/errors.ts';
import { defineTool, type ToolOutcome } from '../protocol/tool-spec.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { SnapshotId } from '../sandbox/snapshot-rules.ts';
import type { Snapshots, SnapshotView } from '../sandbox/snapshots.ts';
import type { WorkspaceTarget } from './target.ts';

const Checkpoint = z.object({
  checkpoint_id: z.string(),
  label: z.string().nullable(),
  files: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  created_at: z.string(),
  expires_at: z.string(),
});

export const CheckpointCreateTool = defineTool({
  name: 'checkpoint_create',
  title: 'Save a checkpoint of the workspace',
  description:
    'Saves every file of /workspace as it is now (running commands are paused for the copy, then go on), ' +
    'so that checkpoint_restore can bring it back after a risky change. ' +
    'Example: {"label": "before refactor"}. A sandbox keeps a bounded number of checkpoints; ' +
    'the result says how many are left.',
  isReadOnly: false,
  input: z.object({ label: z.string().max(256).optional() }).strict(),
  output: Checkpoint.extend({ remaining: z.number().int().nonnegative() }),
});

export const CheckpointListTool = defineTool({
  name: 'checkpoint_list',
  title: 'List the checkpoints',
  description: "This workspace's checkpoints, oldest first, and how many more may be saved.",
  isReadOnly: true,
  input: z.object({}).strict(),
  output: z.object({
    checkpoints: z.array(Checkpoint),
    limit: z.number().int().nonnegative(),
  }),
});

export const CheckpointRestoreTool = defineTool({
  name: 'checkpoint_restore',
  title: 'Roll the workspace back to a checkpoint',
  description:
    'Puts /workspace back exactly as it was at the checkpoint: every file made since is removed and every ' +
    'change undone. Running commands are stopped first (their count is returned); start them again after. ' +
    'Example: {"checkpoint_id": "snap-0123456789ab"}.',
  isReadOnly: false,
  input: z.object({ checkpoint_id: SnapshotId }).strict(),
  output: z.object({
    checkpoint_id: z.string(),
    stopped_commands: z.number().int().nonnegative(),
    files: z.number().int().nonnegative(),
    bytes: z.number().int().nonnegative(),
  }),
});

function checkpointOf(snapshot: SnapshotView): z.infer<typeof Checkpoint> {
  return {
    checkpoint_id: snapshot.snapshotId,
    label: snapshot.label,
    files: snapshot.files,
    bytes: snapshot.bytes,
    created_at: snapshot.createdAt.toISOString(),
    expires_at: snapshot.expiresAt.toISOString(),
  };
}

async function scope(target: WorkspaceTarget): Promise<{ snapshots: Snapshots; sandbox: Sandbox }> {
  if (target.snapshots === undefined) {
    throw new ToolError('SANDBOX_UNAVAILABLE', 'checkpoints are not available for this workspace', {
      retryable: false,
    });
  }
  return { snapshots: target.snapshots, sandbox: await target.sandbox() };
}

/** Only this sandbox's own, complete snapshots: an agent never sees or restores another's. */
async function ownCheckpoints(snapshots: Snapshots, sandbox: Sandbox): Promise<SnapshotView[]> {
  return (await snapshots.list({ sandboxId: sandbox.id })).filter(
    (snapshot) => snapshot.isComplete && !snapshot.isEphemeral,
  );
}

export async function checkpointCreate(
  target: WorkspaceTarget,
  input: z.infer<typeof CheckpointCreateTool.input>,
): Promise<ToolOutcome<z.infer<typeof CheckpointCreateTool.output>>> {
  const { snapshots, sandbox } = await scope(target);
  const snapshot = await snapshots.create(sandbox.id, { label: input.label });
  const remaining = Math.max(
    0,
    snapshots.limits.maxPerSandbox - (await ownCheckpoints(snapshots, sandbox)).length,
  );
  return {
    summary: `checkpoint ${snapshot.snapshotId} saved: ${snapshot.files} files, ${snapshot.bytes} bytes; ${remaining} more may be saved`,
    result: { ...checkpointOf(snapshot), remaining },
  };
}

export async function checkpointList(
  target: WorkspaceTarget,
): Promise<ToolOutcome<z.infer<typeof CheckpointListTool.output>>> {
  const { snapshots, sandbox } = await scope(target);
  const checkpoints = (await ownCheckpoints(snapshots, sandbox)).map(checkpointOf);
  const lines = checkpoints.map((checkpoint) =>
    `${checkpoint.checkpoint_id} ${checkpoint.created_at} ${checkpoint.label ?? ''}`.trimEnd(),
  );
  return {
    summary:
      checkpoints.length === 0
        ? 'no checkpoints yet'
        : `${checkpoints.length} checkpoint(s), oldest first:\n${lines.join('\n')}`,
    result: { checkpoints, limit: snapshots.limits.maxPerSandbox },
  };
}

export async function checkpointRestore(
  target: WorkspaceTarget,
  input: z.infer<typeof CheckpointRestoreTool.input>,
): Promise<ToolOutcome<z.infer<typeof CheckpointRestoreTool.output>>> {
  const { snapshots, sandbox } = await scope(target);
  const own = (await ownCheckpoints(snapshots, sandbox)).some(
    (snapshot) => snapshot.snapshotId === input.checkpoint_id,
  );
  if (!own) throw new ToolError('NOT_FOUND', `no checkpoint ${input.checkpoint_id} in this workspace`);
  const restored = await snapshots.restore(sandbox.id, input.checkpoint_id);
  return {
    summary:
      `workspace restored to ${restored.snapshotId} (${restored.files} files)` +
      (restored.stoppedCommands > 0 ? `; ${restored.stoppedCommands} running command(s) were stopped` : ''),
    result: {
      checkpoint_id: restored.snapshotId,
      stopped_commands: restored.stoppedCommands,
      files: restored.files,
      bytes: restored.bytes,
    },
  };
}
