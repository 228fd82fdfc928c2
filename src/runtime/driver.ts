/**
 * What the sandbox manager needs from a container runtime. The Docker driver
 * implements it now; a Kubernetes driver (pods, PVCs, the agent dialling over
 * TCP) will implement the same interface.
 */

/**
 * Where /workspace comes from. A host folder may name paths inside it that are
 * mounted read-only over the writable folder (its `.git`, which the host's own git
 * would otherwise read config and hooks from that the sandbox wrote).
 */
export type WorkspaceSource =
  | { kind: 'volume'; name: string }
  | { kind: 'bind'; hostPath: string; readOnlyPaths?: string[] };

export interface TmpfsMount {
  target: string;
  sizeBytes: number;
  /** Octal mode string, e.g. '1777'. */
  mode: string;
  uid?: number;
  gid?: number;
}

/**
 * A worker container as the policy wants it. The hardening that never varies
 * (read-only root, no capabilities, no new privileges, no network, private
 * namespaces, init) is not a field: every driver applies it unconditionally.
 */
export interface ContainerSpec {
  name: string;
  image: string;
  labels: Record<string, string>;
  user: { uid: number; gid: number };
  env: Record<string, string>;
  workingDir: string;
  /** Replaces the image's command; only tests use it (an agent that never dials). */
  command?: string[];
  runtime: 'runc' | 'runsc';
  nanoCpus: number;
  memoryBytes: number;
  pidsLimit: number;
  nofile: number;
  tmpfs: TmpfsMount[];
  /** Seccomp profile as JSON text. */
  seccompProfile: string;
  workspace: WorkspaceSource;
  /** Host directory holding the agent's socket, mounted read-only at /run/sandboxd. */
  socketDir: string;
  /**
   * The agent dials home over TCP instead: the socket directory is not mounted,
   * the token file (and the CA, for TLS) are, read-only under AGENT_AUTH_DIR.
   * On Docker the container joins `network`, which must reach nothing but the
   * agent port; on Kubernetes a NetworkPolicy says the same.
   */
  dialHome?: DialHome;
  /** Host files (in the socket directory) mounted read-only at /etc/passwd and /etc/group. */
  identity?: { passwd: string; group: string };
  hostname: string;
}

export interface DialHome {
  /** host:port of the control plane's agent port, as the worker reaches it. */
  address: string;
  /** Host file holding the sandbox's token. */
  tokenFile: string;
  /** Host file holding the CA certificate the agent port's certificate chains to: TLS. */
  caFile?: string;
  /** Docker: the network the worker joins (internal, reaching only the agent port). */
  network?: string;
}

export type ContainerState = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ContainerInfo {
  id: string;
  name: string;
  state: ContainerState;
  labels: Record<string, string>;
  exitCode: number | null;
  isOomKilled: boolean;
  /** The image the container was created from, by id (a rebuilt tag has a new one). */
  imageId: string;
  /** When the engine created it, in ms since the epoch. */
  createdMs: number;
}

export interface RuntimeFacts {
  engineVersion: string;
  apiVersion: string;
  runtimes: string[];
  cpus: number;
  memoryBytes: number;
}

export interface RuntimeDriver {
  readonly name: string;
  /** Snapshots and copy-on-write forks, where the engine can make them. */
  readonly snapshots?: SnapshotEngine;
  facts(): Promise<RuntimeFacts>;
  hasImage(ref: string): Promise<boolean>;
  /** The id the reference names now, or undefined when there is no such image. */
  imageId(ref: string): Promise<string | undefined>;
  /**
   * Creates the volume unless it exists, and returns its labels: those given for a
   * new volume, the ones it was made with for an existing one.
   */
  createVolume(name: string, labels: Record<string, string>): Promise<Record<string, string>>;
  removeVolume(name: string): Promise<void>;
  listVolumes(labels: Record<string, string>): Promise<string[]>;
  /** The labels of every volume that has `labels`. */
  listVolumeLabels(labels: Record<string, string>): Promise<Record<string, string>[]>;
  /** Creates the container and returns its id. */
  create(spec: ContainerSpec): Promise<string>;
  start(id: string): Promise<void>;
  stop(id: string, graceSeconds: number): Promise<void>;
  /** Removes the container, killing it if it runs; a missing container is not an error. */
  remove(id: string): Promise<void>;
  inspect(id: string): Promise<ContainerInfo | undefined>;
  list(labels: Record<string, string>): Promise<ContainerInfo[]>;
  /** The last lines the container wrote, for error messages. */
  logsTail(id: string, lines: number): Promise<string>;
  /**
   * Which seccomp profile the container runs under: the policy's, or the
   * runtime's default where a node lacks ours (Kubernetes). Without the method: the policy's.
   */
  seccompOf?(id: string): SeccompInForce;
  /** What the container uses now (the dashboard's columns); a driver without it shows none. */
  usage?(id: string): Promise<ContainerUsage | undefined>;
  /**
   * One regular file of an image, read without running anything (the control
   * plane's copy of the relay); undefined when the image has no such file or it
   * is larger than `maxBytes`. A driver without it reads none.
   */
  readImageFile?(ref: string, filePath: string, maxBytes: number): Promise<Buffer | undefined>;
}

/** One reading of a container's counters: CPU as cumulative time, so two readings give a rate. */
export interface ContainerUsage {
  cpuTotalNs: number;
  memoryBytes: number;
  atMs: number;
}

/** A volume mounted into a helper container. */
export interface HelperMount {
  volume: string;
  target: string;
  isReadOnly: boolean;
}

/**
 * Capabilities a helper may be given, and nothing else: a copy that keeps every
 * file's owner, mode and times over a workspace whose files belong to another uid.
 */
export type HelperCapability = 'CHOWN' | 'DAC_OVERRIDE' | 'FOWNER' | 'FSETID';

/**
 * A short-lived container that runs one fixed script over volumes (a snapshot's
 * copy), hardened like a worker: no network, read-only root, no new privileges,
 * the policy's seccomp profile, only the capabilities listed.
 */
export interface HelperSpec {
  image: string;
  labels: Record<string, string>;
  /** The script's argv: the helper runs `sh -c script sh ...args`. */
  script: string;
  args: string[];
  env: Record<string, string>;
  mounts: HelperMount[];
  capabilities: HelperCapability[];
  seccompProfile: string;
  memoryBytes: number;
  pidsLimit: number;
  nanoCpus: number;
}

export interface HelperResult {
  exitCode: number;
  /** The last few KiB of what the script wrote (stdout and stderr). */
  output: string;
}

export interface VolumeInfo {
  labels: Record<string, string>;
  /** Where the engine keeps the volume's files on its host. */
  mountpoint: string;
}

/**
 * What snapshots and forks need from the engine (sandbox/snapshots.ts). Optional:
 * a driver without it answers snapshot requests with a clear refusal.
 */
export interface SnapshotEngine {
  /** Freezes every process of the container (cgroup freezer); unpause thaws them. */
  pause(id: string): Promise<void>;
  unpause(id: string): Promise<void>;
  volumeInfo(name: string): Promise<VolumeInfo | undefined>;
  /**
   * A volume the engine mounts as an overlay: `lower` (a volume's files, never
   * written) under `layer`'s upper/ and work/ directories, which must exist.
   */
  createOverlayVolume(
    name: string,
    labels: Record<string, string>,
    layers: { lower: string; layer: string },
  ): Promise<void>;
  runHelper(spec: HelperSpec): Promise<HelperResult>;
}

export type SeccompInForce = 'policy' | 'runtime-default';
