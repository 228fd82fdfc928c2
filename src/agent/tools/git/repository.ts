import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { ToolError } from '#protocol/errors';
import { isNotFound, mapFsError, resolveInWorkspace } from '../../paths.ts';
import type { ToolContext } from '../context.ts';
import { type GitInvocation, type GitOutput, gitEnvironment, runGit } from './run-git.ts';

/** A repository found inside the workspace, with the environment every call into it uses. */
export interface Repository {
  workspaceRoot: string;
  /** Real absolute path of the work tree root; every git call runs here. */
  root: string;
  /** The same, relative to the workspace root ('.' for the workspace itself). */
  rootRelative: string;
  /** 'sha1' or 'sha256'. */
  objectFormat: string;
  env: Readonly<Record<string, string>>;
}

export type GitCall = Omit<GitInvocation, 'cwd' | 'env'>;

/** Runs git at the repository root with its hardened environment. */
export function git(repository: Repository, call: GitCall): Promise<GitOutput> {
  return runGit({ ...call, cwd: repository.root, env: repository.env });
}

/** More filter drivers than any real repository configures; past this we refuse rather than guess. */
const MAX_FILTER_DRIVERS = 256;
const MAX_CONFIG_LISTING_BYTES = 1024 * 1024;

/**
 * Finds the repository that holds a workspace-relative path. Discovery stops at
 * the workspace root, and a work tree or git directory that lies outside the
 * workspace (core.worktree, a gitdir file) is refused.
 */
export async function openRepository(context: ToolContext, inputPath = '.'): Promise<Repository> {
  const workspaceRoot = context.workspaceRoot;
  const resolved = await resolveInWorkspace(workspaceRoot, inputPath);
  const start = await nearestDirectory(resolved.absolute, workspaceRoot);
  const base = { ceilingDirectory: path.dirname(workspaceRoot) };
  const discoveryEnv = gitEnvironment(base);
  const located = await locate(start, discoveryEnv, inputPath);
  const root = await realpath(located.toplevel);
  const places = [
    ['work tree', root],
    ['git directory', await realpath(located.gitDir)],
    ['common git directory', await realpath(located.commonDir)],
  ] as const;
  for (const [what, location] of places) {
    if (!isWithin(workspaceRoot, location)) {
      throw new ToolError(
        'PATH_OUTSIDE_WORKSPACE',
        `the ${what} of the repository at ${inputPath} lies outside the workspace`,
        {
          details: { path: inputPath },
        },
      );
    }
  }
  const configOverrides = await filterOverrides(root, discoveryEnv);
  return {
    workspaceRoot,
    root,
    rootRelative: path.relative(workspaceRoot, root) || '.',
    objectFormat: located.objectFormat,
    env: gitEnvironment({ ...base, configOverrides }),
  };
}

interface Located {
  toplevel: string;
  gitDir: string;
  commonDir: string;
  objectFormat: string;
}

/** Asks git where the repository around `start` is, as absolute paths. */
async function locate(
  start: string,
  env: Readonly<Record<string, string>>,
  inputPath: string,
): Promise<Located> {
  let output: GitOutput;
  try {
    output = await runGit({
      cwd: start,
      env,
      args: [
        'rev-parse',
        '--path-format=absolute',
        '--show-toplevel',
        '--git-dir',
        '--git-common-dir',
        '--show-object-format',
      ],
      maxStdoutBytes: 64 * 1024,
    });
  } catch (error) {
    if (error instanceof ToolError && /not a git repository/i.test(error.message)) {
      throw new ToolError(
        'GIT_ERROR',
        `not a git repository: ${inputPath} (nor any directory above it in the workspace)`,
        {
          details: { path: inputPath },
        },
      );
    }
    throw error;
  }
  const [toplevel, gitDir, commonDir, objectFormat] = output.stdout.toString('utf8').split('\n');
  if (!toplevel || !gitDir || !commonDir || !objectFormat) {
    throw new ToolError('GIT_ERROR', `unexpected output from git rev-parse in ${inputPath}`);
  }
  return { toplevel, gitDir, commonDir, objectFormat };
}

/**
 * Filter drivers (`filter.<name>.clean/smudge/process`) run a command on
 * worktree content during status and diff. Their names are free-form, so no
 * fixed `-c` can reach them: list the configured names and blank each one.
 * A driver without a command is a no-op, and `required=false` keeps git from
 * failing over it. The repository config can still change between this listing
 * and the call that follows; the container is the boundary for that race.
 */
async function filterOverrides(
  root: string,
  env: Readonly<Record<string, string>>,
): Promise<[string, string][]> {
  const listing = await runGit({
    cwd: root,
    env,
    args: ['config', '--list', '--name-only', '-z'],
    maxStdoutBytes: MAX_CONFIG_LISTING_BYTES,
  });
  if (listing.isCapped) {
    throw new ToolError('GIT_ERROR', 'the repository configuration is too large to check safely');
  }
  const drivers = new Set<string>();
  for (const name of listing.stdout.toString('utf8').split('\0')) {
    // git prints the section in lower case and keeps the subsection as written.
    if (!name.startsWith('filter.')) continue;
    const lastDot = name.lastIndexOf('.');
    if (lastDot > 'filter.'.length) drivers.add(name.slice('filter.'.length, lastDot));
  }
  if (drivers.size > MAX_FILTER_DRIVERS) {
    throw new ToolError(
      'GIT_ERROR',
      `the repository configures ${drivers.size} filter drivers; refusing to run git`,
    );
  }
  const overrides: [string, string][] = [];
  for (const driver of drivers) {
    overrides.push(
      [`filter.${driver}.clean`, ''],
      [`filter.${driver}.smudge`, ''],
      [`filter.${driver}.process`, ''],
      [`filter.${driver}.required`, 'false'],
    );
  }
  return overrides;
}

/** The path itself if it is a directory, else its closest existing ancestor inside the workspace. */
async function nearestDirectory(absolute: string, workspaceRoot: string): Promise<string> {
  let current = absolute;
  while (isWithin(workspaceRoot, current)) {
    try {
      if ((await stat(current)).isDirectory()) return current;
    } catch (error) {
      if (!isNotFound(error) && (error as NodeJS.ErrnoException).code !== 'ENOTDIR') {
        throw mapFsError(error, path.relative(workspaceRoot, current) || '.');
      }
    }
    if (current === workspaceRoot) break;
    current = path.dirname(current);
  }
  return workspaceRoot;
}

function isWithin(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root.endsWith('/') ? root : `${root}/`);
}

/** A workspace-relative input path as a literal pathspec relative to the repository root. */
export async function toPathspec(repository: Repository, input: string): Promise<string> {
  const resolved = await resolveInWorkspace(repository.workspaceRoot, input);
  const relative = path.relative(repository.root, resolved.absolute);
  if (relative === '..' || relative.startsWith('../') || path.isAbsolute(relative)) {
    throw new ToolError(
      'INVALID_ARGUMENT',
      `${input} is outside the repository at ${repository.rootRelative}`,
      {
        details: { path: input, repo_root: repository.rootRelative },
      },
    );
  }
  return relative === '' ? '.' : relative;
}

/** Pathspecs for an optional `path` and `paths` pair; empty means the whole repository. */
export async function toPathspecs(
  repository: Repository,
  single: string | undefined,
  many: readonly string[] | undefined,
): Promise<string[]> {
  const inputs = [...(single === undefined ? [] : [single]), ...(many ?? [])];
  return Promise.all(inputs.map((input) => toPathspec(repository, input)));
}

/** A path as git prints it (relative to the repository root) made relative to the workspace. */
export function toWorkspacePath(repository: Repository, gitPath: string): string {
  return repository.rootRelative === '.' ? gitPath : `${repository.rootRelative}/${gitPath}`;
}

/** Whether HEAD points at a commit; false on a branch with no commits yet. */
export async function hasHeadCommit(repository: Repository): Promise<boolean> {
  const output = await git(repository, {
    args: ['rev-parse', '--verify', '--quiet', 'HEAD^{commit}'],
    maxStdoutBytes: 1024,
    okExitCodes: [1],
  });
  return output.exitCode === 0;
}

/**
 * The commit a revision names, as a full object id: what git then receives is
 * hex, so it cannot read as an option even where `--end-of-options` is unknown
 * (git blame before 2.43). Any object other than a commit is refused.
 */
export async function resolveCommit(repository: Repository, rev: string): Promise<string> {
  const output = await git(repository, {
    args: ['rev-parse', '--verify', '--quiet', '--end-of-options', `${checkRev(rev)}^{commit}`],
    maxStdoutBytes: 1024,
    okExitCodes: [1],
  });
  const sha = output.stdout.toString('utf8').trim();
  if (output.exitCode !== 0 || !/^[0-9a-f]{40,64}$/.test(sha)) {
    throw new ToolError('GIT_ERROR', `unknown revision or not a commit: ${rev}`, { details: { rev } });
  }
  return sha;
}

/**
 * A revision from the model: never an option to git. Callers also put
 * `--end-of-options` in front of it where git accepts that.
 */
export function checkRev(rev: string, field = 'rev'): string {
  if (rev === '' || rev.startsWith('-')) {
    throw new ToolError('INVALID_ARGUMENT', `${field} must not be empty or start with "-": ${rev}`, {
      details: { [field]: rev },
    });
  }
  for (let index = 0; index < rev.length; index++) {
    const code = rev.charCodeAt(index);
    if (code < 0x20 || code === 0x7f) {
      throw new ToolError('INVALID_ARGUMENT', `${field} contains a control character`, {
        details: { [field]: rev },
      });
    }
  }
  return rev;
}
