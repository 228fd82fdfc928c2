import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { HOST_LIST_NAME, HostList } from './egress.ts';
import { policyDir } from './package-files.ts';
import { POLICY_NAME_PATTERN, Policy } from './schema.ts';
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
  /** The host lists its egress section includes, by name (policies/hosts/NAME.yaml), canonical. */
  hostLists: Record<string, string[]>;
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
  if (!POLICY_NAME_PATTERN.test(nameOrPath)) {
    throw new PolicyError(nameOrPath, 'a policy name is lower-case letters, digits, - and _');
  }
  return path.join(directory, `${nameOrPath}.yaml`);
}

/** A YAML file parsed and checked with `schema`; every failure names the file, the field and the problem. */
async function loadYaml<S extends z.ZodType>(file: string, what: string, schema: S): Promise<z.output<S>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new PolicyError(
      file,
      `cannot read the ${what} (${(error as NodeJS.ErrnoException).code ?? error})`,
    );
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true, maxAliasCount: 100 });
  } catch (error) {
    const where = error instanceof YAMLParseError && error.linePos ? ` at line ${error.linePos[0].line}` : '';
    throw new PolicyError(file, `not valid YAML${where}: ${(error as Error).message.split('\n')[0]}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new PolicyError(file, parsed.error.issues.slice(0, 5).map(describeIssue).join('; '));
  }
  return parsed.data;
}

/**
 * The host lists `names` (policies/hosts/NAME.yaml in the policy directory), each
 * checked and in canonical form. A policy and PATCH /v1/sandboxes/:id include them by name.
 */
export async function loadHostLists(
  names: readonly string[],
  directory = policyDir(),
): Promise<Record<string, string[]>> {
  const lists: Record<string, string[]> = {};
  for (const name of names) {
    if (!HOST_LIST_NAME.test(name)) throw new PolicyError(name, 'a host-list name is [a-z0-9_-]');
    const file = path.join(directory, 'hosts', `${name}.yaml`);
    lists[name] = (await loadYaml(file, 'host list', HostList)).hosts;
  }
  return lists;
}

export async function loadPolicy(nameOrPath: string, directory = policyDir()): Promise<LoadedPolicy> {
  const file = policyFile(nameOrPath, directory);
  const policy = await loadYaml(file, 'policy', Policy);
  const { runtime, seccomp } = policy;
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
  const includes = policy.network === 'none' ? [] : policy.network.egress.include;
  let hostLists: Record<string, string[]>;
  try {
    hostLists = await loadHostLists(includes, path.dirname(file));
  } catch (error) {
    throw new PolicyError(file, `network.egress.include: ${(error as Error).message}`);
  }
  return { policy, file, seccompProfile: JSON.stringify(profile), hostLists };
}
