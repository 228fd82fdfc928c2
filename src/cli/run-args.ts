import { parseArgs } from 'node:util';
import type { z } from 'zod';
import { Bytes, Duration } from '../policy/units.ts';
import { checkMemberName } from './host-archive.ts';
import { UsageError } from './usage.ts';

/**
 * How big a checkout the copy takes. The host packs its own folder, so this only
 * stops a runaway (a checkout with a huge build cache) from filling the volume.
 */
export const COPY_MAX_BYTES = 16 * 1024 ** 3;

/** What `--artifacts` may bring back to the host by default: a test report, a build, not a disk. */
export const ARTIFACTS_MAX_BYTES = 1024 ** 3;
export const ARTIFACTS_MAX_FILES = 100_000;

export interface RunOptions {
  workspace: string;
  policy: string;
  timeoutMs: number | undefined;
  env: Record<string, string>;
  /**
   * Run over the folder itself (--in-place), not over a copy of it in a fresh
   * volume (the default): the command's writes then land in the host folder.
   */
  isInPlace: boolean;
  /** With --in-place: let the command write the folder's .git (read-only by default). */
  isGitWritable: boolean;
  /** Workspace-relative paths copied out when the command has finished. */
  artifacts: string[];
  artifactsDir: string | undefined;
  artifactsMaxBytes: number;
  artifactsMaxFiles: number;
  /** Pass the command's output on byte for byte, runner commands and escape sequences included. */
  isRawOutput: boolean;
  command: string[];
}

function checkArtifactPath(input: string): string {
  let normal: string | undefined;
  try {
    normal = checkMemberName(input);
  } catch {
    throw new UsageError(`--artifacts ${input}: give a path relative to the workspace, inside it`);
  }
  if (normal === undefined) throw new UsageError('--artifacts .: name the files or directories to copy out');
  return normal;
}

function parseEnv(entries: string[], hostEnv: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of entries) {
    const equals = entry.indexOf('=');
    const name = equals === -1 ? entry : entry.slice(0, equals);
    const value = equals === -1 ? hostEnv[name] : entry.slice(equals + 1);
    if (value === undefined) throw new UsageError(`--env ${name}: not set in this environment`);
    env[name] = value;
  }
  return env;
}

function parseWith<T>(schema: z.ZodType<T>, flag: string, value: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new UsageError(`${flag}: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

export function parseRunArgs(args: string[], hostEnv: NodeJS.ProcessEnv = process.env): RunOptions {
  const separator = args.indexOf('--');
  if (separator === -1 || separator === args.length - 1) {
    throw new UsageError('run needs a command after --, e.g. sandboxd run --workspace . -- npm test');
  }
  const { values, positionals } = parseArgs({
    args: args.slice(0, separator),
    allowPositionals: true,
    options: {
      workspace: { type: 'string', short: 'w' },
      policy: { type: 'string', short: 'p', default: 'default' },
      timeout: { type: 'string', short: 't' },
      env: { type: 'string', short: 'e', multiple: true, default: [] },
      copy: { type: 'boolean', default: false },
      'in-place': { type: 'boolean', default: false },
      'git-write': { type: 'boolean', default: false },
      artifacts: { type: 'string', short: 'a', multiple: true, default: [] },
      'artifacts-dir': { type: 'string' },
      'artifacts-max-bytes': { type: 'string' },
      'artifacts-max-files': { type: 'string' },
      'raw-output': { type: 'boolean', default: false },
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]} before --`);
  if (values.workspace === undefined) throw new UsageError('run needs --workspace DIR');
  if (values.copy && values['in-place']) throw new UsageError('--copy and --in-place exclude each other');
  if (values['git-write'] && !values['in-place']) {
    throw new UsageError('--git-write only makes sense with --in-place (a copy has no host .git to protect)');
  }
  if (values['artifacts-dir'] !== undefined && values.artifacts.length === 0) {
    throw new UsageError('--artifacts-dir needs at least one --artifacts PATH');
  }
  const timeout = values.timeout;
  const maxBytes = values['artifacts-max-bytes'];
  const maxFiles = values['artifacts-max-files'];
  if (maxFiles !== undefined && !/^[1-9]\d{0,8}$/.test(maxFiles)) {
    throw new UsageError('--artifacts-max-files: a whole number from 1');
  }
  return {
    workspace: values.workspace,
    policy: values.policy,
    timeoutMs:
      timeout === undefined
        ? undefined
        : parseWith(Duration, '--timeout', /^\d+$/.test(timeout) ? `${timeout}s` : timeout),
    env: parseEnv(values.env, hostEnv),
    isInPlace: values['in-place'],
    isGitWritable: values['git-write'],
    artifacts: values.artifacts.map(checkArtifactPath),
    artifactsDir: values['artifacts-dir'],
    artifactsMaxBytes:
      maxBytes === undefined ? ARTIFACTS_MAX_BYTES : parseWith(Bytes, '--artifacts-max-bytes', maxBytes),
    artifactsMaxFiles: maxFiles === undefined ? ARTIFACTS_MAX_FILES : Number(maxFiles),
    isRawOutput: values['raw-output'],
    command: args.slice(separator + 1),
  };
}
