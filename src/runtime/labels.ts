/** Labels on every container and volume sandboxd creates; reconcile finds its own by them. */
export const LABEL_MANAGED = 'io.sandboxd.managed';
export const LABEL_ID = 'io.sandboxd.id';
export const LABEL_POLICY = 'io.sandboxd.policy';
export const LABEL_WORKSPACE = 'io.sandboxd.workspace';
export const LABEL_SOCKET_DIR = 'io.sandboxd.socket-dir';
export const LABEL_CREATED = 'io.sandboxd.created';
/** The state directory of the control plane that made it. */
export const LABEL_STATE_DIR = 'io.sandboxd.state-dir';
/** The owner socket of the process that made it (see sandbox/owner-socket.ts): is it alive? */
export const LABEL_CONTROL_SOCKET = 'io.sandboxd.control-socket';
/** 'process': goes with the process that made it; 'persistent': outlives it, reconciled at the next start. */
export const LABEL_LIFETIME = 'io.sandboxd.lifetime';
/** For a host folder: device:inode of the folder mounted, to notice one deleted and re-created. */
export const LABEL_WORKSPACE_INODE = 'io.sandboxd.workspace-inode';

export const managedLabels = { [LABEL_MANAGED]: 'true' } as const;

export function workspaceVolumeName(id: string): string {
  return `sandboxd-ws-${id}`;
}
export const LABEL_OWNER = 'io.sandboxd.owner';
export const LABEL_EXPIRES = 'io.sandboxd.expires';
export const LABEL_OWNS_VOLUME = 'io.sandboxd.owns-volume';
export const LABEL_USER = 'io.sandboxd.user';
/** SHA-256 of the sandbox's own bearer token; the token itself is never stored. */
export const LABEL_TOKEN_SHA256 = 'io.sandboxd.token-sha256';
export const LABEL_WORKSPACE_NAME = 'io.sandboxd.workspace-name';

/** The caller's own labels: everything outside our io.sandboxd. namespace. */
export function userLabels(labels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).filter(([key]) => !key.startsWith('io.sandboxd.')));
}
/** On a warm-pool member: the policy it was made for. */
export const LABEL_POOL = 'io.sandboxd.pool';
/** For a host folder: how its .git is mounted (sandbox/host-folder.ts, GitMode). */
export const LABEL_GIT = 'io.sandboxd.git';
/** On a workspace volume: the uid (and gid) its sandboxes run as (sandbox/uids.ts). */
export const LABEL_UID = 'io.sandboxd.uid';
/** On a pod: 'policy' (our profile) or 'runtime-default' (its node lacked ours); see runtime/kubernetes. */
export const LABEL_SECCOMP = 'io.sandboxd.seccomp';
/** On a snapshot's volume: the snapshot's id (sandbox/snapshots.ts). */
export const LABEL_SNAPSHOT = 'io.sandboxd.snapshot';
/** On a snapshot's volume: the sandbox it was taken from. */
export const LABEL_SNAPSHOT_SOURCE = 'io.sandboxd.snapshot-source';
/** On a snapshot's volume: the caller's label for it. */
export const LABEL_SNAPSHOT_LABEL = 'io.sandboxd.snapshot-label';
/** On a snapshot's volume: 'true' when a fork made it, and it goes once no fork uses it. */
export const LABEL_SNAPSHOT_EPHEMERAL = 'io.sandboxd.snapshot-ephemeral';
/** On a fork's overlay volume and its layer: the snapshot whose files lie under it. */
export const LABEL_BASE_SNAPSHOT = 'io.sandboxd.base-snapshot';
/** On a helper container (a snapshot's copy): what it does. */
export const LABEL_HELPER = 'io.sandboxd.helper';

export function snapshotVolumeName(snapshotId: string): string {
  return `sandboxd-snap-${snapshotId}`;
}
/** A fork's upper and work directories, under its overlay volume sandboxd-ws-<id>. */
export function layerVolumeName(sandboxId: string): string {
  return `sandboxd-layer-${sandboxId}`;
}
