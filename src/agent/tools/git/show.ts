import { ToolError } from '#protocol/errors';
import type { GitPatch, GitShowFile, GitShowInput, GitShowOutput, GitShowTool } from '#protocol/tools/git';
import { binaryFileError, isBinary } from '../binary.ts';
import type { ToolHandler } from '../context.ts';
import { listLines, summarize } from '../summary.ts';
import { cutAtLine } from '../utf8.ts';
import { COMMIT_FORMAT_FLAGS, parseCommits } from './commits.ts';
import { collectPatch, fileStatLines } from './patch.ts';
import {
  checkRev,
  git,
  openRepository,
  type Repository,
  resolveCommit,
  toPathspec,
  toPathspecs,
} from './repository.ts';

export const gitShow: ToolHandler<typeof GitShowTool> = async (context, input) => {
  const rev = checkRev(input.rev);
  const repository = await openRepository(context, input.path ?? '.');
  if (input.path !== undefined) {
    const file = await showFile(repository, rev, input.path, input.max_bytes);
    const result: GitShowOutput = { repo_root: repository.rootRelative, rev, kind: 'file', file };
    return { summary: fileSummary(rev, file), result };
  }
  const sha = await resolveCommit(repository, rev);
  const metadata = await git(repository, {
    args: ['log', ...COMMIT_FORMAT_FLAGS, '--max-count=1', '--no-walk', sha, '--'],
    maxStdoutBytes: 256 * 1024,
  });
  const commit = parseCommits(metadata.stdout.toString('utf8'))[0];
  if (commit === undefined) throw new ToolError('GIT_ERROR', `could not read commit ${sha}`);
  const result: GitShowOutput = { repo_root: repository.rootRelative, rev, kind: 'commit', commit };
  if (input.include_diff) result.patch = await commitPatch(repository, sha, input, context.limits.maxResults);
  return { summary: commitSummary(result), result };
};

async function commitPatch(
  repository: Repository,
  sha: string,
  input: GitShowInput,
  maxResults: number,
): Promise<GitPatch> {
  // A merge is diffed against its first parent: what it brought into the branch.
  return collectPatch(repository, {
    compare: ['show', '--format=', '--diff-merges=first-parent', sha],
    pathspecs: await toPathspecs(repository, undefined, input.paths),
    contextLines: input.context_lines,
    maxBytes: input.max_bytes,
    maxFiles: Math.min(maxResults, 10_000),
  });
}

/**
 * `rev:path` read as a blob with cat-file, which applies no filter or textconv.
 * The object name travels on stdin, so nothing in it can read as an option.
 */
async function showFile(
  repository: Repository,
  rev: string,
  input: string,
  maxBytes: number,
): Promise<GitShowFile> {
  const pathspec = await toPathspec(repository, input);
  if (pathspec === '.') {
    throw new ToolError('IS_DIRECTORY', `${input} is the repository root, not a file`, {
      details: { path: input },
    });
  }
  if (pathspec.includes('\n')) {
    throw new ToolError('INVALID_ARGUMENT', 'git_show cannot read a path containing a newline', {
      details: { path: input },
    });
  }
  const check = await git(repository, {
    args: ['cat-file', '--batch-check=%(objectname) %(objecttype) %(objectsize)'],
    input: `${rev}:${pathspec}\n`,
    maxStdoutBytes: 64 * 1024,
  });
  const [oid = '', type = '', size = ''] = check.stdout.toString('utf8').trim().split(' ');
  const details = { path: input, rev };
  if (!/^[0-9a-f]{40,64}$/.test(oid)) {
    throw new ToolError('NOT_FOUND', `${input} does not exist in ${rev}`, { details });
  }
  if (type === 'tree') throw new ToolError('IS_DIRECTORY', `${input} is a directory in ${rev}`, { details });
  if (type !== 'blob')
    throw new ToolError('INVALID_ARGUMENT', `${input} is a ${type} in ${rev}, not a file`, { details });
  const content = await git(repository, { args: ['cat-file', 'blob', oid], maxStdoutBytes: maxBytes + 1 });
  // Only a blob longer than maxBytes may end in a character cut by the read.
  if (isBinary(content.stdout, content.stdout.length > maxBytes)) {
    throw binaryFileError(`${input} in ${rev}`, 'read it with read_file encoding base64 at that revision', {
      ...details,
      size_bytes: Number(size),
    });
  }
  const cut = cutAtLine(content.stdout, maxBytes);
  return {
    path: repository.rootRelative === '.' ? pathspec : `${repository.rootRelative}/${pathspec}`,
    oid,
    size_bytes: Number(size),
    content: cut.text,
    truncated: cut.truncated,
  };
}

function fileSummary(rev: string, file: GitShowFile): string {
  const cut = file.truncated
    ? `, showing the first ${Buffer.byteLength(file.content)} (raise max_bytes for more)`
    : '';
  return summarize(`${file.path} at ${rev}: ${file.size_bytes} bytes${cut}`, file.content);
}

function commitSummary(result: GitShowOutput): string {
  const commit = result.commit;
  if (commit === undefined) return `${result.rev}`;
  const lines = [
    `commit ${commit.sha}${commit.parents.length > 1 ? ` (merge of ${commit.parents.map((p) => p.slice(0, 12)).join(' ')})` : ''}`,
    `Author: ${commit.author_name} <${commit.author_email}>  ${commit.author_date}`,
    '',
    `    ${commit.subject}`,
  ];
  if (commit.body !== undefined) lines.push('', ...commit.body.split('\n').map((line) => `    ${line}`));
  const patch = result.patch;
  if (patch === undefined) return summarize(lines.join('\n'));
  const cut = patch.truncated
    ? `\n(diff cut at ${patch.returned_bytes} of ${patch.total_bytes}${patch.is_total_exact ? '' : '+'} bytes; raise max_bytes or narrow paths)`
    : '';
  return summarize(
    `${lines.join('\n')}${cut}`,
    `${listLines(fileStatLines(patch.files), patch.files.length, 50)}\n\n${patch.diff}`,
  );
}
