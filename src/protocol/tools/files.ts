import { z } from 'zod';
import { base64Bytes, NAME_MAX_BYTES, PATH_MAX_BYTES, replyBudget, textBytes } from '../reply-budget.ts';
import { defineAgentTool, nonNegativeInt, PathInput, positiveInt } from '../tool-spec.ts';

// Static ceilings of the inputs. The agent clamps further to its AgentLimits
// (maxFileBytes, maxResults), which the policy may set lower.
const MAX_LINE_NUMBER = 1_000_000_000;
const MAX_BYTES_INPUT = 1024 * 1024 * 1024;
const MAX_RESULTS_INPUT = 100_000;
const MAX_WRITE_CHARS = 64 * 1024 * 1024;

export const DEFAULT_READ_LINES = 2000;
/** Fits, with its status line, in one model-facing summary (MAX_SUMMARY_BYTES). */
export const DEFAULT_READ_BYTES = 60 * 1024;
export const DEFAULT_IMAGE_BYTES = 5 * 1024 * 1024;

/** An encoding name; the agent answers UNSUPPORTED_ENCODING for anything but utf8 and base64. */
const EncodingInput = z.string().max(32).default('utf8');

const Glob = z
  .string()
  .min(1)
  .max(1024)
  .refine((value) => !value.includes('\0'), 'glob contains a NUL byte');
/** One glob or a list of them; `**` crosses directories, a glob without `/` matches a name at any depth. */
export const GlobList = z.union([Glob, z.array(Glob).max(64)]);
export type GlobList = z.infer<typeof GlobList>;

// read_file

export const ReadFileInput = z.strictObject({
  path: PathInput.describe('File to read, relative to the workspace root.'),
  start_line: positiveInt(MAX_LINE_NUMBER).optional().describe('First line to return, 1-based (default 1).'),
  end_line: positiveInt(MAX_LINE_NUMBER).optional().describe('Last line to return, inclusive.'),
  max_lines: positiveInt(MAX_LINE_NUMBER).default(DEFAULT_READ_LINES).describe('Most lines to return.'),
  max_bytes: positiveInt(MAX_BYTES_INPUT)
    .default(DEFAULT_READ_BYTES)
    .describe('Most bytes of content to return; whole lines only, unless the first line alone is longer.'),
  encoding: EncodingInput.describe(
    "'utf8' (default) returns text lines; 'base64' returns the raw bytes from the start of the file.",
  ),
});

export const ReadFileResult = z.object({
  path: z.string(),
  encoding: z.enum(['utf8', 'base64']),
  content: z.string(),
  size_bytes: nonNegativeInt(),
  bytes_returned: nonNegativeInt(),
  /** A limit (max_lines, max_bytes, the sandbox's file limit) stopped the read before the requested end. */
  truncated: z.boolean(),
  start_line: positiveInt().optional(),
  /** Last line returned; start_line - 1 when no line was returned. */
  end_line: nonNegativeInt().optional(),
  /** Null when the file is too large to count its lines cheaply. */
  total_lines: nonNegativeInt().nullable().optional(),
  /** Set when lines remain after end_line: call read_file again with this start_line. */
  next_start_line: positiveInt().optional(),
  /** The single line returned is longer than max_bytes and was cut at a character boundary. */
  is_line_cut: z.boolean().optional(),
});

export const ReadFileTool = defineAgentTool({
  name: 'read_file',
  title: 'Read file',
  description:
    'Read a text file of the workspace as a range of lines (UTF-8), streaming so large files are cheap to page. ' +
    'The result says which lines came back, how many the file has, and next_start_line when more remain. ' +
    "Binary files are refused with BINARY_FILE; use encoding 'base64' to get their raw bytes.",
  isReadOnly: true,
  input: ReadFileInput,
  output: ReadFileResult,
  // Text (base64 is smaller): at most max_bytes of the file, within the sandbox's file limit.
  reply: (input, limits) => replyBudget(textBytes(Math.min(input.max_bytes, limits.maxFileBytes))),
});

// write_file

export const WriteFileInput = z.strictObject({
  path: PathInput.describe('File to write, relative to the workspace root.'),
  content: z.string().max(MAX_WRITE_CHARS).describe('The whole new content of the file.'),
  create_dirs: z.boolean().default(false).describe('Create missing parent directories.'),
  overwrite: z.boolean().default(true).describe('Replace an existing file; false fails with ALREADY_EXISTS.'),
  encoding: EncodingInput.describe("'utf8' (default) or 'base64' for binary content."),
});

export const WriteFileResult = z.object({
  path: z.string(),
  /** The file actually written when `path` is a symlink inside the workspace. */
  resolved_path: z.string().optional(),
  bytes_written: nonNegativeInt(),
  created: z.boolean(),
});

export const WriteFileTool = defineAgentTool({
  name: 'write_file',
  title: 'Write file',
  description:
    'Create or replace a whole file atomically (temp file in the same directory, fsync, rename); ' +
    'an existing file keeps its mode. A symlink inside the workspace is written through to its target. ' +
    'For edits to existing files prefer apply_patch.',
  isReadOnly: false,
  input: WriteFileInput,
  output: WriteFileResult,
  reply: () => replyBudget(),
});

// list_dir

export const EntryType = z.enum(['file', 'dir', 'symlink', 'other']);
export type EntryType = z.infer<typeof EntryType>;

export const ListDirInput = z.strictObject({
  path: PathInput.default('.').describe('Directory to list, relative to the workspace root.'),
  recursive: z.boolean().default(false).describe('Descend into subdirectories (never through symlinks).'),
  max_depth: positiveInt(64)
    .default(8)
    .describe('Deepest level listed when recursive; 1 is the directory itself.'),
  max_entries: positiveInt(MAX_RESULTS_INPUT).default(500).describe('Most entries to return.'),
  include_hidden: z.boolean().default(false).describe('Include names starting with a dot.'),
  include_ignored: z.boolean().default(false).describe('Include what .gitignore/.ignore exclude, and .git.'),
  sort: z
    .enum(['name', 'mtime', 'size'])
    .default('name')
    .describe('name: by path; mtime: newest first; size: largest first.'),
});

export const DirEntry = z.object({
  name: z.string(),
  path: z.string(),
  type: EntryType,
  size: nonNegativeInt(),
  mtime: z.string(),
});
export type DirEntry = z.infer<typeof DirEntry>;

export const ListDirResult = z.object({
  path: z.string(),
  entries: z.array(DirEntry),
  /** More entries exist than were returned (max_entries); the shallowest are kept. */
  truncated: z.boolean(),
});

export const ListDirTool = defineAgentTool({
  name: 'list_dir',
  title: 'List directory',
  description:
    'List the entries of a workspace directory (files, directories, symlinks) with size and mtime, ' +
    'optionally recursive to max_depth. Hidden and git-ignored entries are left out unless asked for.',
  isReadOnly: true,
  input: ListDirInput,
  output: ListDirResult,
  reply: (input, limits) => {
    const entries = Math.min(input.max_entries, limits.maxResults);
    return replyBudget(entries * (textBytes(PATH_MAX_BYTES + NAME_MAX_BYTES) + 128), entries * 6);
  },
});

// list_files

export const ListFilesInput = z.strictObject({
  path: PathInput.default('.').describe('Directory to search, relative to the workspace root.'),
  patterns: GlobList.optional().describe('Globs a file must match (any of them), e.g. "**/*.ts".'),
  glob: GlobList.optional().describe('Same as patterns; both are combined.'),
  exclude_patterns: GlobList.optional().describe('Globs of files and directories to leave out.'),
  include_hidden: z.boolean().default(false).describe('Include names starting with a dot.'),
  include_ignored: z.boolean().default(false).describe('Include what .gitignore/.ignore exclude, and .git.'),
  max_results: positiveInt(MAX_RESULTS_INPUT).default(1000).describe('Most paths to return.'),
  sort: z
    .enum(['path', 'name', 'mtime', 'size'])
    .default('path')
    .describe('path (or name): by path; mtime: newest first; size: largest first.'),
});

export const ListFilesResult = z.object({
  path: z.string(),
  files: z.array(z.string()),
  truncated: z.boolean(),
  warnings: z.array(z.string()).optional(),
});

export const ListFilesTool = defineAgentTool({
  name: 'list_files',
  title: 'List files',
  description:
    'List the files under a workspace directory, recursively, filtered by globs. Respects .gitignore ' +
    '(also outside a git repository); hidden and ignored files only when asked for. Symlinks are not followed.',
  isReadOnly: true,
  input: ListFilesInput,
  output: ListFilesResult,
  reply: (input, limits) => {
    const files = Math.min(input.max_results, limits.maxResults);
    return replyBudget(files * textBytes(PATH_MAX_BYTES), files);
  },
});

// search_text

export const SearchTextInput = z.strictObject({
  query: z
    .string()
    .min(1)
    .max(4096)
    .describe('Text to find on one line; a regular expression when regex is true.'),
  path: PathInput.default('.').describe('File or directory to search, relative to the workspace root.'),
  regex: z.boolean().default(false).describe('Treat query as a (Rust-syntax) regular expression.'),
  case_sensitive: z.boolean().default(true),
  include_globs: GlobList.optional().describe('Only search files matching these globs.'),
  glob: GlobList.optional().describe('Same as include_globs; both are combined.'),
  exclude_globs: GlobList.optional().describe('Skip files and directories matching these globs.'),
  context_lines: nonNegativeInt(20).default(0).describe('Lines of context before and after each match.'),
  max_results: positiveInt(MAX_RESULTS_INPUT).default(100).describe('Most matching lines to return.'),
  max_preview_bytes: positiveInt(64 * 1024)
    .default(400)
    .describe('Longest preview of a line, in bytes.'),
});

export const ContextLine = z.object({ line_number: positiveInt(), text: z.string() });

export const SearchMatch = z.object({
  path: z.string(),
  line_number: positiveInt(),
  /** 1-based byte column of the first match on the line. */
  column: positiveInt(),
  preview: z.string(),
  preview_truncated: z.boolean(),
  /** Byte offset in the line where a cut preview starts, when it does not start at 0. */
  preview_offset: positiveInt().optional(),
  context_before: z.array(ContextLine).optional(),
  context_after: z.array(ContextLine).optional(),
});
export type SearchMatch = z.infer<typeof SearchMatch>;

export const SearchTextResult = z.object({
  query: z.string(),
  path: z.string(),
  matches: z.array(SearchMatch),
  /** Matching lines seen before the search stopped; more than matches.length when truncated. */
  total_matches_seen: nonNegativeInt(),
  truncated: z.boolean(),
  warnings: z.array(z.string()).optional(),
});

export const SearchTextTool = defineAgentTool({
  name: 'search_text',
  title: 'Search text',
  description:
    'Search file contents in the workspace with ripgrep: a literal string by default, a regular expression ' +
    'with regex: true. Respects .gitignore and skips hidden and binary files; stops after max_results ' +
    'matching lines (results are in path order).',
  isReadOnly: true,
  input: SearchTextInput,
  output: SearchTextResult,
  // Each match: its path, its preview and up to context_lines lines before and after, each cut to max_preview_bytes.
  reply: (input, limits) => {
    const matches = Math.min(input.max_results, limits.maxResults);
    const lines = 1 + 2 * input.context_lines;
    const perMatch = textBytes(PATH_MAX_BYTES) + lines * (textBytes(input.max_preview_bytes) + 32) + 192;
    return replyBudget(matches * perMatch, matches * (10 + 3 * (lines - 1)));
  },
});

// view_image

export const ImageMimeType = z.enum(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);
export type ImageMimeType = z.infer<typeof ImageMimeType>;

export const ViewImageInput = z.strictObject({
  path: PathInput.describe('PNG, JPEG, GIF or WebP file, relative to the workspace root.'),
  max_bytes: positiveInt(MAX_BYTES_INPUT).default(DEFAULT_IMAGE_BYTES).describe('Largest file accepted.'),
  max_width: positiveInt(1_000_000).optional().describe('Refuse images wider than this.'),
  max_height: positiveInt(1_000_000).optional().describe('Refuse images taller than this.'),
  auto_resize: z.boolean().default(false).describe('Accepted, but this sandbox cannot resize: see resized.'),
});

export const ViewImageResult = z.object({
  path: z.string(),
  mime_type: ImageMimeType,
  width: positiveInt(),
  height: positiveInt(),
  size_bytes: nonNegativeInt(),
  /** Always false: the sandbox has no image library to resize with. */
  resized: z.boolean(),
  /** The control plane moves this into one MCP image content block. */
  image: z.object({ data: z.string(), mime_type: ImageMimeType }),
  warnings: z.array(z.string()).optional(),
});

export const ViewImageTool = defineAgentTool({
  name: 'view_image',
  title: 'View image',
  description:
    'Show a PNG, JPEG, GIF or WebP image from the workspace (detected by its bytes, not its name) with its ' +
    'dimensions. Resizing is not available in the sandbox: an image over max_bytes, max_width or max_height ' +
    'is refused with OUTPUT_TOO_LARGE, whatever auto_resize says. Other files: UNSUPPORTED_ENCODING.',
  isReadOnly: true,
  input: ViewImageInput,
  output: ViewImageResult,
  reply: (input, limits) => replyBudget(base64Bytes(Math.min(input.max_bytes, limits.maxFileBytes))),
});
