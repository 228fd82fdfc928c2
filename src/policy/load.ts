import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { policyDir } from './package-files.ts';
import { Policy } from './schema.ts';
import { seccompMismatch } from './seccomp-runtime.ts';

/** A policy file that cannot be used; the message names the file, the field and the problem. */
export class PolicyError extends Error {
  readonly file: string;

  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'PolicyError';
    this.file = file;
  }
}

/** The seccomp profile a policy names, read once per file and kept as the JSON text Docker wants. */
export interface LoadedPolicy {
  policy: Policy;
  file: string;
  seccompProfile: string;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const field = issue.path.length > 0 ? issue.path.map(String).join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') return `${field}: unknown field(s) ${issue.keys.join(', ')}`;
  return `${field}: ${issue.message}`;
}

/** Resolves `--policy NAME` (a name in the policy directory) or a path to a YAML file. */
export function policyFile(nameOrPath: string, directory = policyDir()): string {
  if (nameOrPath.includes('/') || nameOrPath.endsWith('.yaml') || nameOrPath.endsWith('.yml')) {
    return path.resolve(nameOrPath);
  }
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(nameOrPath)) {
    throw new PolicyError(nameOrPath, 'a policy name is lower-case letters, digits, - and _');
  }
  return path.join(directory, `${nameOrPath}.yaml`);
}

export async function loadPolicy(nameOrPath: string, directory = policyDir()): Promise<LoadedPolicy> {
  const file = policyFile(nameOrPath, directory);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new PolicyError(file, `cannot read the policy (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true, maxAliasCount: 100 });
  } catch (error) {
    const where = error instanceof YAMLParseError && error.linePos ? ` at line ${error.linePos[0].line}` : '';
    throw new PolicyError(file, `not valid YAML${where}: ${(error as Error).message.split('\n')[0]}`);
  }
  const parsed = Policy.safeParse(raw);
  if (!parsed.success) {
    throw new PolicyError(file, parsed.error.issues.slice(0, 5).map(describeIssue).join('; '));
  }
  const { runtime, seccomp } = parsed.data;
  const seccompFile = path.join(path.dirname(file), 'seccomp', seccomp.profile);
  let profile: unknown;
  try {
    profile = JSON.parse(await readFile(seccompFile, 'utf8'));
  } catch (error) {
    throw new PolicyError(file, `seccomp.profile: cannot load ${seccompFile}: ${(error as Error).message}`);
  }
  const mismatch = seccompMismatch(runtime, profile);
  if (mismatch !== undefined) {
    throw new PolicyError(file, `seccomp.profile: ${seccomp.profile} ${mismatch} (runtime: ${runtime})`);
  }
  return { policy: parsed.data, file, seccompProfile: JSON.stringify(profile) };
}
