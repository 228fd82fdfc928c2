import {
  LABEL_CONTROL_SOCKET,
  LABEL_CREATED,
  LABEL_EXPIRES,
  LABEL_GIT,
  LABEL_ID,
  LABEL_LIFETIME,
  LABEL_OWNER,
  LABEL_OWNS_VOLUME,
  LABEL_POLICY,
  LABEL_POOL,
  LABEL_SOCKET_DIR,
  LABEL_STATE_DIR,
  LABEL_TOKEN_SHA256,
  LABEL_USER,
  LABEL_WORKSPACE,
  LABEL_WORKSPACE_INODE,
  managedLabels,
  userLabels,
} from '../runtime/labels.ts';
import type { Lifetime } from './sandbox.ts';

/**
 * What a sandbox's container says about it, in its labels: written once at
 * creation (encodeSandboxLabels) and read back once at reconcile
 * (decodeSandboxLabels). The label names live in runtime/labels.ts.
 */
export interface SandboxLabels {
  id: string;
  policy: string;
  /** A volume name, or a host folder's absolute path. */
  workspace: string;
  socketDir: string;
  /** ISO time of creation. */
  created: string;
  /** uid:gid the workload runs as. */
  user: string;
  ownsVolume: boolean;
  lifetime: Lifetime;
  stateDir?: string | undefined;
  /** The owner socket of the `stdio` or `run` process that serves it. */
  controlSocket?: string | undefined;
  /** A host folder's device:inode, to notice one deleted and re-created. */
  workspaceInode?: string | undefined;
  /** A host folder's .git mode (sandbox/host-folder.ts). */
  git?: string | undefined;
  expires?: string | undefined;
  owner?: string | undefined;
  tokenSha256?: string | undefined;
  /** On a warm-pool member: the policy it was made for. */
  pool?: string | undefined;
}

const OPTIONAL = {
  stateDir: LABEL_STATE_DIR,
  controlSocket: LABEL_CONTROL_SOCKET,
  workspaceInode: LABEL_WORKSPACE_INODE,
  git: LABEL_GIT,
  expires: LABEL_EXPIRES,
  owner: LABEL_OWNER,
  tokenSha256: LABEL_TOKEN_SHA256,
  pool: LABEL_POOL,
} as const satisfies Partial<Record<keyof SandboxLabels, string>>;

/** The container's labels: the caller's own, then ours, which win. */
export function encodeSandboxLabels(
  labels: SandboxLabels,
  callerLabels: Record<string, string> = {},
): Record<string, string> {
  const encoded: Record<string, string> = {
    ...callerLabels,
    ...managedLabels,
    [LABEL_ID]: labels.id,
    [LABEL_POLICY]: labels.policy,
    [LABEL_WORKSPACE]: labels.workspace,
    [LABEL_SOCKET_DIR]: labels.socketDir,
    [LABEL_CREATED]: labels.created,
    [LABEL_USER]: labels.user,
    [LABEL_OWNS_VOLUME]: String(labels.ownsVolume),
    [LABEL_LIFETIME]: labels.lifetime,
  };
  for (const [field, name] of Object.entries(OPTIONAL)) {
    const value = labels[field as keyof typeof OPTIONAL];
    if (value !== undefined) encoded[name] = value;
  }
  return encoded;
}

/**
 * What a container's labels say, or undefined when it carries no sandbox id.
 * Labels are the engine's, which anyone with the Docker socket can write: a
 * missing field takes the value a v0.1 container implied.
 */
export function decodeSandboxLabels(
  raw: Record<string, string>,
): { labels: SandboxLabels; callerLabels: Record<string, string> } | undefined {
  const id = raw[LABEL_ID];
  if (id === undefined) return undefined;
  const labels: SandboxLabels = {
    id,
    policy: raw[LABEL_POLICY] ?? 'default',
    workspace: raw[LABEL_WORKSPACE] ?? '',
    socketDir: raw[LABEL_SOCKET_DIR] ?? '',
    created: raw[LABEL_CREATED] ?? '',
    user: raw[LABEL_USER] ?? '',
    ownsVolume: raw[LABEL_OWNS_VOLUME] === 'true',
    lifetime: raw[LABEL_LIFETIME] === 'process' ? 'process' : 'persistent',
  };
  for (const [field, name] of Object.entries(OPTIONAL)) {
    const value = raw[name];
    if (value !== undefined) labels[field as keyof typeof OPTIONAL] = value;
  }
  return { labels, callerLabels: userLabels(raw) };
}
