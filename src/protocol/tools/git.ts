import { z } from 'zod';
import type { AgentLimits } from '../limits.ts';
import { replyBudget, textBytes } from '../reply-budget.ts';
import { defineAgentTool, nonNegativeInt, PathInput, positiveInt } from '../tool-spec.ts';

/**
 * The read-only git tools. Every path input is workspace-relative; every path in a
 * structured result is workspace-relative too, while diff text keeps git's own
 * paths, relative to the repository root (`repo_root`, '.' for the workspace).
 */

/** A revision or ref as a tool input; a leading '-' would read as an option to git. */
export const RevInput = z
  .string()
  .min(1)
  .max(1024)
  .refine((value) => !value.startsWith('-'), { message: 'a revision must not start with "-"' });

const MAX_DIFF_BYTES = 1024 * 1024;
const DEFAULT_DIFF_BYTES = 64 * 1024;
const MAX_PATHSPECS = 256;
const MAX_OUTPUT_PATH_CHARS = 16_384;
const MAX_LISTED_FILES = 10_000;
const MAX_PARENTS = 1024;
const MAX_PERSON_CHARS = 4096;
const MAX_DATE_CHARS = 64;
const MAX_SUBJECT_CHARS = 8192;
const MAX_BODY_CHARS = 65_536;
const MAX_BLAME_LINE_CHARS = 65_536;
const MAX_BLAME_LINES = 10_000;

/** Paths in results: git may hold names longer than the workspace input limit. */
const OutputPath = z.string().max(MAX_OUTPUT_PATH_CHARS);
const RepoRoot = OutputPath.describe(
  'repository root relative to the workspace, "." for the workspace itself',
);
const ObjectId = z.string().regex(/^[0-9a-f]{4,64}$/);
const Count = z.number().int().min(0);

// ---------------------------------------------------------------- git_status

export const GitStatusInput = z
  .object({
    path: PathInput.default('.').describe('directory or file to report on; its repository is used'),
    include_untracked: z.boolean().default(true),
    max_entries: positiveInt(10_000).default(1000),
  })
  .strict();
export type GitStatusInput = z.infer<typeof GitStatusInput>;

export const GitStatusEntry = z.object({
  path: OutputPath,
  /** The path before a rename or copy. */
  orig_path: OutputPath.optional(),
  /** Porcelain v2 letters: '.' unmodified, M, T, A, D, R, C, U; '?' for untracked. */
  index_status: z.string().length(1),
  worktree_status: z.string().length(1),
  kind: z.enum(['changed', 'renamed', 'copied', 'unmerged', 'untracked']),
});
export type GitStatusEntry = z.infer<typeof GitStatusEntry>;

export const GitStatusOutput = z.object({
  repo_root: RepoRoot,
  /** Branch name, null when HEAD is detached. */
  branch: z.string().max(4096).nullable(),
  /** Commit HEAD points at, null before the first commit. */
  head: ObjectId.nullable(),
  is_detached: z.boolean(),
  upstream: z.string().max(4096).nullable(),
  ahead: Count.nullable(),
  behind: Count.nullable(),
  entries: z.array(GitStatusEntry).max(MAX_LISTED_FILES),
  /** Entries git reported; a lower bound when git's output passed the agent's cap. */
  total_entries: Count,
  truncated: z.boolean(),
});
export type GitStatusOutput = z.infer<typeof GitStatusOutput>;

export const GitStatusTool = defineAgentTool({
  name: 'git_status',
  title: 'Git status',
  description:
    'Branch, upstream, ahead/behind and the changed, renamed, unmerged and untracked files of the repository holding `path`.',
  isReadOnly: true,
  input: GitStatusInput,
  output: GitStatusOutput,
  reply: (input, limits) => {
    const entries = Math.min(input.max_entries, limits.maxResults);
    return replyBudget(
      entries * FILE_STAT_REPLY.bytes + textBytes(2 * MAX_PERSON_CHARS),
      entries * FILE_STAT_REPLY.elements,
    );
  },
});

// ---------------------------------------------------------------- shared diff shapes

export const GitFileStat = z.object({
  path: OutputPath,
  /** The path before a rename or copy. */
  old_path: OutputPath.optional(),
  /** Lines added and deleted; null for a binary file. */
  additions: Count.nullable(),
  deletions: Count.nullable(),
  is_binary: z.boolean(),
});
export type GitFileStat = z.infer<typeof GitFileStat>;

export const GitPatch = z.object({
  /** Unified diff text, cut at a line boundary to fit max_bytes. */
  diff: z.string().max(MAX_DIFF_BYTES),
  truncated: z.boolean(),
  returned_bytes: Count,
  /** Size of the whole diff; a lower bound when `is_total_exact` is false. */
  total_bytes: Count,
  is_total_exact: z.boolean(),
  files: z.array(GitFileStat).max(MAX_LISTED_FILES),
  files_truncated: z.boolean(),
});
export type GitPatch = z.infer<typeof GitPatch>;

/** The largest file entry (status or stat) and commit the schemas allow, as reply bytes and elements. */
const FILE_STAT_REPLY = { bytes: 2 * textBytes(MAX_OUTPUT_PATH_CHARS) + 128, elements: 6 };

/** A patch of at most `maxBytes` of diff text, with the stats of as many files as the agent lists. */
function patchReply(maxBytes: number, limits: AgentLimits) {
  const files = Math.min(limits.maxResults, MAX_LISTED_FILES);
  return {
    bytes: textBytes(maxBytes) + files * FILE_STAT_REPLY.bytes,
    elements: 16 + files * FILE_STAT_REPLY.elements,
  };
}

const PathspecsInput = z.array(PathInput).max(MAX_PATHSPECS);

// ---------------------------------------------------------------- git_diff

export const GitDiffInput = z
  .object({
    path: PathInput.optional().describe('file or directory to limit the diff to'),
    paths: PathspecsInput.optional().describe('more files or directories to limit the diff to'),
    staged: z.boolean().default(false).describe('include changes staged in the index'),
    unstaged: z.boolean().default(true).describe('include changes not yet staged'),
    context_lines: nonNegativeInt(1000).default(3),
    max_bytes: positiveInt(MAX_DIFF_BYTES).default(DEFAULT_DIFF_BYTES),
  })
  .strict();
export type GitDiffInput = z.infer<typeof GitDiffInput>;

export const GitDiffOutput = GitPatch.extend({
  repo_root: RepoRoot,
  /** What was compared: staged → head_to_index, unstaged → index_to_worktree, both → head_to_worktree. */
  compared: z.enum(['head_to_index', 'index_to_worktree', 'head_to_worktree']),
});
export type GitDiffOutput = z.infer<typeof GitDiffOutput>;

export const GitDiffTool = defineAgentTool({
  name: 'git_diff',
  title: 'Git diff',
  description:
    'Unified diff of unstaged (default) and/or staged changes, bounded to max_bytes, with per-file added/deleted line counts.',
  isReadOnly: true,
  input: GitDiffInput,
  output: GitDiffOutput,
  reply: (input, limits) => {
    const patch = patchReply(input.max_bytes, limits);
    return replyBudget(patch.bytes, patch.elements);
  },
});

// ---------------------------------------------------------------- git_log

export const GitCommit = z.object({
  sha: ObjectId,
  short_sha: ObjectId,
  parents: z.array(ObjectId).max(MAX_PARENTS),
  author_name: z.string().max(MAX_PERSON_CHARS),
  author_email: z.string().max(MAX_PERSON_CHARS),
  /** ISO 8601 with the author's offset. */
  author_date: z.string().max(MAX_DATE_CHARS),
  committer_date: z.string().max(MAX_DATE_CHARS),
  subject: z.string().max(MAX_SUBJECT_CHARS),
  /** The message after the subject; absent when there is none. */
  body: z.string().max(MAX_BODY_CHARS).optional(),
  body_truncated: z.boolean().optional(),
});
export type GitCommit = z.infer<typeof GitCommit>;

const COMMIT_REPLY = {
  bytes:
    textBytes(2 * MAX_PERSON_CHARS + 2 * MAX_DATE_CHARS + MAX_SUBJECT_CHARS + MAX_BODY_CHARS) +
    (MAX_PARENTS + 2) * 70 +
    256,
  elements: 12 + MAX_PARENTS,
};

export const GitLogInput = z
  .object({
    path: PathInput.optional().describe('only commits touching this file or directory'),
    ref: RevInput.optional().describe('revision to start from, default HEAD'),
    max_count: positiveInt(500).default(20),
    skip: nonNegativeInt(1_000_000).default(0),
  })
  .strict();
export type GitLogInput = z.infer<typeof GitLogInput>;

export const GitLogOutput = z.object({
  repo_root: RepoRoot,
  commits: z.array(GitCommit).max(500),
  /** More commits follow; call again with skip + max_count. */
  has_more: z.boolean(),
});
export type GitLogOutput = z.infer<typeof GitLogOutput>;

export const GitLogTool = defineAgentTool({
  name: 'git_log',
  title: 'Git log',
  description:
    'Commits reachable from `ref` (default HEAD), newest first, optionally only those touching `path`.',
  isReadOnly: true,
  input: GitLogInput,
  output: GitLogOutput,
  reply: (input) =>
    replyBudget(input.max_count * COMMIT_REPLY.bytes, input.max_count * COMMIT_REPLY.elements),
});

// ---------------------------------------------------------------- git_show

export const GitShowInput = z
  .object({
    rev: RevInput.default('HEAD'),
    path: PathInput.optional().describe('show this file as it is in `rev` instead of the commit'),
    paths: PathspecsInput.optional().describe("limit the commit's diff to these files or directories"),
    include_diff: z.boolean().default(true),
    context_lines: nonNegativeInt(1000).default(3),
    max_bytes: positiveInt(MAX_DIFF_BYTES).default(DEFAULT_DIFF_BYTES),
  })
  .strict();
export type GitShowInput = z.infer<typeof GitShowInput>;

export const GitShowFile = z.object({
  path: OutputPath,
  oid: ObjectId,
  size_bytes: Count,
  content: z.string().max(MAX_DIFF_BYTES),
  truncated: z.boolean(),
});
export type GitShowFile = z.infer<typeof GitShowFile>;

export const GitShowOutput = z.object({
  repo_root: RepoRoot,
  rev: z.string().max(1024),
  kind: z.enum(['commit', 'file']),
  /** Set when kind is 'commit'. */
  commit: GitCommit.optional(),
  /** Set when kind is 'commit' and include_diff; a merge is diffed against its first parent. */
  patch: GitPatch.optional(),
  /** Set when kind is 'file'. */
  file: GitShowFile.optional(),
});
export type GitShowOutput = z.infer<typeof GitShowOutput>;

export const GitShowTool = defineAgentTool({
  name: 'git_show',
  title: 'Git show',
  description:
    'A commit (metadata and bounded diff), or with `path` the content of that file at `rev` (text only, bounded).',
  isReadOnly: true,
  input: GitShowInput,
  output: GitShowOutput,
  // A commit and its patch, or a file's content: budget for both.
  reply: (input, limits) => {
    const patch = patchReply(input.max_bytes, limits);
    return replyBudget(
      COMMIT_REPLY.bytes + patch.bytes + textBytes(input.max_bytes + MAX_OUTPUT_PATH_CHARS),
      COMMIT_REPLY.elements + patch.elements,
    );
  },
});

// ---------------------------------------------------------------- git_blame

export const GitBlameInput = z
  .object({
    path: PathInput,
    rev: RevInput.optional().describe('blame the file as of this revision; default the working tree'),
    start_line: positiveInt(100_000_000).optional(),
    end_line: positiveInt(100_000_000).optional(),
    max_lines: positiveInt(MAX_BLAME_LINES).default(1000),
  })
  .strict();
export type GitBlameInput = z.infer<typeof GitBlameInput>;

export const GitBlameLine = z.object({
  line_number: z.number().int().min(1),
  sha: ObjectId,
  author: z.string().max(MAX_PERSON_CHARS),
  author_email: z.string().max(MAX_PERSON_CHARS),
  /** ISO 8601 with the author's offset. */
  author_time: z.string().max(MAX_DATE_CHARS),
  summary: z.string().max(MAX_SUBJECT_CHARS),
  content: z.string().max(MAX_BLAME_LINE_CHARS),
});
export type GitBlameLine = z.infer<typeof GitBlameLine>;

export const GitBlameOutput = z.object({
  repo_root: RepoRoot,
  path: OutputPath,
  rev: z.string().max(1024).nullable(),
  lines: z.array(GitBlameLine).max(MAX_BLAME_LINES),
  /** More lines follow in the requested range; call again from the next line. */
  truncated: z.boolean(),
});
export type GitBlameOutput = z.infer<typeof GitBlameOutput>;

export const GitBlameTool = defineAgentTool({
  name: 'git_blame',
  title: 'Git blame',
  description:
    'For each line of a file (optionally a line range, optionally at `rev`), the commit and author that last changed it.',
  isReadOnly: true,
  input: GitBlameInput,
  output: GitBlameOutput,
  reply: (input) =>
    replyBudget(
      input.max_lines *
        (textBytes(2 * MAX_PERSON_CHARS + MAX_DATE_CHARS + MAX_SUBJECT_CHARS + MAX_BLAME_LINE_CHARS) + 128),
      input.max_lines * 8,
    ),
});
