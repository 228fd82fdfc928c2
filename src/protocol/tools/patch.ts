import { z } from 'zod';
import { PATH_MAX_BYTES, replyBudget, textBytes } from '../reply-budget.ts';
import { defineAgentTool, nonNegativeInt } from '../tool-spec.ts';

/** Largest patch text apply_patch accepts. */
export const MAX_PATCH_CHARS = 8 * 1024 * 1024;

export const PatchFileAction = z.enum(['add', 'update', 'delete', 'move']);
export type PatchFileAction = z.infer<typeof PatchFileAction>;

/** What the patch did (or, in a dry run, would do) to one file. */
export const PatchFileResult = z.object({
  /** Workspace-relative path as the patch names it (normalised). */
  path: z.string(),
  action: PatchFileAction,
  /** New path of a moved file. */
  move_to: z.string().optional(),
  /** Hunks applied to the file; 0 for add, delete and a pure move. */
  hunks: nonNegativeInt(),
  lines_added: nonNegativeInt(),
  lines_removed: nonNegativeInt(),
});
export type PatchFileResult = z.infer<typeof PatchFileResult>;

export const ApplyPatchResult = z.object({
  dry_run: z.boolean(),
  files: z.array(PatchFileResult),
  files_changed: nonNegativeInt(),
  lines_added: nonNegativeInt(),
  lines_removed: nonNegativeInt(),
  /** Things the model should know although the patch applied, e.g. a whitespace-tolerant match. */
  warnings: z.array(z.string()),
});
export type ApplyPatchResult = z.infer<typeof ApplyPatchResult>;

export const ApplyPatchTool = defineAgentTool({
  name: 'apply_patch',
  title: 'Apply patch',
  description: [
    'Edit files in the workspace with one patch: add, update, move or delete files, all or nothing.',
    'Format (paths relative to the workspace root):',
    '*** Begin Patch',
    '*** Add File: path/new.txt      (every following line starts with +)',
    '*** Update File: path/old.txt',
    '*** Move to: path/renamed.txt   (optional, right after Update File)',
    '@@ optional anchor line, e.g. a function signature the hunk lies after',
    ' context line (leading space)',
    '-removed line',
    '+added line',
    '*** End of File                 (optional: the hunk must sit at the end of the file)',
    '*** Delete File: path/gone.txt',
    '*** End Patch',
    'Context and removed lines must match exactly one place in the current file; give about 3 lines of',
    'context and an @@ anchor when the same lines occur more than once. Nothing is written unless every',
    'hunk of every file matches. Mode bits, a UTF-8 BOM and CRLF/LF line endings are kept.',
    'dry_run: true checks the patch and reports what would change without writing.',
    'Example: {"patch":"*** Begin Patch\\n*** Update File: src/app.py\\n@@ def main():\\n-    print(\\"hi\\")\\n+    print(\\"hello\\")\\n*** End Patch"}',
  ].join('\n'),
  isReadOnly: false,
  input: z
    .object({
      patch: z.string().max(MAX_PATCH_CHARS),
      dry_run: z.boolean().default(false),
    })
    .strict(),
  output: ApplyPatchResult,
  // A file or a hunk takes at least three characters of patch; each gives a file result or a warning.
  reply: (input) => {
    const items = Math.ceil(input.patch.length / 3) + 1;
    return replyBudget(textBytes(input.patch.length) + items * (textBytes(PATH_MAX_BYTES) + 256), items * 8);
  },
});
