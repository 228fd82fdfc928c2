import { createHash } from 'node:crypto';
import path from 'node:path';
import type { LoadedPolicy } from '../policy/load.ts';
import { ENV_CONTROL_ADDRESS, ENV_CONTROL_TLS } from '../protocol/dial.ts';
import type { ContainerSpec, DialHome, WorkspaceSource } from '../runtime/driver.ts';

export const SANDBOX_HOME = '/home/sandbox';
export const SANDBOX_USER = { uid: 1000, gid: 1000 };

export interface SpecInput {
  id: string;
  workspace: WorkspaceSource;
  socketDir: string;
  user?: { uid: number; gid: number };
  /** Written by encodeSandboxLabels (labels.ts). */
  labels: Record<string, string>;
  command?: string[];
  identity?: { passwd: string; group: string };
  dialHome?: DialHome;
}

/** The worker container a policy asks for, for one sandbox. */
export function containerSpec(loaded: LoadedPolicy, input: SpecInput): ContainerSpec {
  const { policy } = loaded;
  const user = input.user ?? SANDBOX_USER;
  const spec: ContainerSpec = {
    // The state directory's hash keeps names apart when several control planes share an engine.
    name: `sandboxd-${input.id}-${createHash('sha256').update(path.dirname(input.socketDir)).digest('hex').slice(0, 6)}`,
    image: policy.image,
    hostname: 'sandbox',
    labels: input.labels,
    user,
    env: { HOME: SANDBOX_HOME, TMPDIR: '/tmp', SANDBOXD_SANDBOX_ID: input.id },
    workingDir: '/workspace',
    runtime: policy.runtime,
    nanoCpus: Math.round(policy.resources.cpus * 1e9),
    memoryBytes: policy.resources.memory,
    pidsLimit: policy.resources.pids,
    nofile: policy.resources.nofile,
    tmpfs: [
      { target: '/tmp', sizeBytes: policy.tmpfs.tmp, mode: '1777' },
      { target: SANDBOX_HOME, sizeBytes: policy.tmpfs.home, mode: '0700', uid: user.uid, gid: user.gid },
    ],
    seccompProfile: loaded.seccompProfile,
    workspace: input.workspace,
    socketDir: input.socketDir,
  };
  if (input.command !== undefined) spec.command = input.command;
  if (input.identity !== undefined) spec.identity = input.identity;
  if (input.dialHome !== undefined) {
    spec.dialHome = input.dialHome;
    spec.env[ENV_CONTROL_ADDRESS] = input.dialHome.address;
    if (input.dialHome.caFile !== undefined) spec.env[ENV_CONTROL_TLS] = '1';
  }
  return spec;
}
