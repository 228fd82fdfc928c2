import { z } from 'zod';
import { replyBudget } from '../reply-budget.ts';
import { defineAgentTool, nonNegativeInt, positiveInt } from '../tool-spec.ts';

/** A kernel limit: a number of its unit, or no limit at all. */
export const LimitValue = z.union([nonNegativeInt(), z.literal('unlimited')]);
export type LimitValue = z.infer<typeof LimitValue>;

/** One capability set of /proc/self/status, as the kernel prints it and decoded. */
const CapabilitySet = z.object({
  hex: z.string(),
  /** CAP_* names of the bits set; an empty list is what a hardened sandbox shows. */
  names: z.array(z.string()),
});

const SoftHardLimit = z.object({ soft: LimitValue, hard: LimitValue });

/** The mount a path lives on, as /proc/self/mountinfo describes it. */
const MountReport = z.object({
  role: z.enum(['workspace', 'socket_dir', 'tmp', 'home']),
  path: z.string(),
  /** The mount point that holds `path`; equal to `path` when it is a mount of its own. */
  mount_point: z.string().nullable(),
  fstype: z.string().nullable(),
  is_read_only: z.boolean().nullable(),
  is_nosuid: z.boolean().nullable(),
  is_nodev: z.boolean().nullable(),
  is_noexec: z.boolean().nullable(),
  /** Size of the filesystem (statfs), e.g. a tmpfs's size= limit. */
  capacity_bytes: nonNegativeInt().nullable(),
});

const WriteProbe = z.object({
  path: z.string(),
  /** A file could be created (and was removed again) in this directory. */
  is_writable: z.boolean(),
  /** The error code of the failed create, e.g. EROFS or EACCES. */
  errno: z.string().nullable(),
});

export const SummaryFlags = z.object({
  is_non_root: z.boolean(),
  has_no_capabilities: z.boolean(),
  has_no_new_privs: z.boolean(),
  is_seccomp_filtered: z.boolean(),
  has_no_network: z.boolean(),
  is_root_read_only: z.boolean(),
});
export type SummaryFlags = z.infer<typeof SummaryFlags>;

/**
 * The isolation in force, as the agent reads it from inside the container. Every
 * value is read, never assumed: what could not be read is null, with a note saying
 * why, and a summary flag is true only when the evidence for it was read.
 */
export const ExecEnvironment = z.object({
  user: z.object({
    uid: nonNegativeInt().nullable(),
    euid: nonNegativeInt().nullable(),
    saved_uid: nonNegativeInt().nullable(),
    gid: nonNegativeInt().nullable(),
    egid: nonNegativeInt().nullable(),
    groups: z.array(nonNegativeInt()).nullable(),
    name: z.string().nullable(),
  }),
  capabilities: z.object({
    inheritable: CapabilitySet.nullable(),
    permitted: CapabilitySet.nullable(),
    effective: CapabilitySet.nullable(),
    bounding: CapabilitySet.nullable(),
    ambient: CapabilitySet.nullable(),
  }),
  no_new_privs: z.boolean().nullable(),
  seccomp: z.object({
    mode: z.number().int().min(0).max(2).nullable(),
    mode_name: z.enum(['disabled', 'strict', 'filter']).nullable(),
    filters: nonNegativeInt().nullable(),
  }),
  network: z.object({
    interfaces: z.array(z.object({ name: z.string(), is_loopback: z.boolean() })).nullable(),
    has_non_loopback_interface: z.boolean().nullable(),
    /** Usable routes through a non-loopback interface (reject routes are not counted). */
    ipv4_routes: nonNegativeInt().nullable(),
    ipv6_routes: nonNegativeInt().nullable(),
    has_default_route: z.boolean().nullable(),
  }),
  filesystem: z.object({
    /** The per-mount or filesystem options of '/' say ro. */
    is_root_mount_read_only: z.boolean().nullable(),
    write_probes: z.array(WriteProbe),
    mounts: z.array(MountReport),
  }),
  limits: z.object({
    cgroup: z.object({
      /** Hierarchy version that holds the memory controller. */
      version: z.union([z.literal(1), z.literal(2)]).nullable(),
      memory_max_bytes: LimitValue.nullable(),
      /** Swap allowed on top of memory_max_bytes (v1: memsw limit minus memory limit). */
      memory_swap_max_bytes: LimitValue.nullable(),
      pids_max: LimitValue.nullable(),
      cpu_max: z.object({ quota_us: LimitValue, period_us: positiveInt() }).nullable(),
      /** quota / period, null when CPU time is not limited or not readable. */
      cpus: z.number().nonnegative().nullable(),
    }),
    rlimits: z.object({
      open_files: SoftHardLimit.nullable(),
      core_file_size_bytes: SoftHardLimit.nullable(),
      processes: SoftHardLimit.nullable(),
    }),
  }),
  kernel: z.object({
    release: z.string(),
    version: z.string(),
    proc_version: z.string().nullable(),
    /** gvisor: a user-space kernel (runsc); linux: the host kernel, shared through namespaces. */
    runtime_hint: z.enum(['gvisor', 'linux']),
    runtime_evidence: z.string(),
  }),
  summary_flags: SummaryFlags,
  /** What could not be read and why, and what was deliberately not checked. */
  notes: z.array(z.string()),
});
export type ExecEnvironment = z.infer<typeof ExecEnvironment>;

export const CheckExecEnvironmentTool = defineAgentTool({
  name: 'check_exec_environment',
  title: 'Check the isolation in force',
  description:
    'Reports the isolation commands really run under, read from inside the sandbox: user and groups, ' +
    'capability sets, no_new_privs, seccomp, network interfaces and routes, read-only root and mounts, ' +
    'cgroup and rlimit limits, and the kernel. Values that cannot be read are null with a note.',
  isReadOnly: true,
  input: z.object({}).strict(),
  output: ExecEnvironment,
  // A fixed report: a few dozen mounts, interfaces and limits (about 10 KiB here).
  reply: () => replyBudget(1024 * 1024, 16 * 1024),
});
