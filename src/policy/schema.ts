import { z } from 'zod';
import { Network } from './egress.ts';
import { Bytes, Duration } from './units.ts';

/** The OCI runtime of a worker container: runc, or runsc (gVisor) where the engine registered it. */
export const Runtime = z.enum(['runc', 'runsc']);
export type Runtime = z.infer<typeof Runtime>;

/**
 * The worker image a policy gets when it names none, and the tag `sandboxd image build`
 * writes: `SANDBOXD_WORKER_IMAGE` when set (an operator's own build, or a second
 * checkout's image beside the first), `sandboxd-worker:latest` otherwise.
 */
export const DEFAULT_WORKER_IMAGE = process.env.SANDBOXD_WORKER_IMAGE || 'sandboxd-worker:latest';

/**
 * The seccomp profile a policy gets when it names none. Debian's runsc needs its own
 * variant (policies/seccomp/README.md, "gVisor"); the loader refuses a mismatch.
 */
export const DEFAULT_SECCOMP_PROFILE: Record<Runtime, string> = {
  runc: 'sandboxd.json',
  runsc: 'sandboxd-gvisor.json',
};

/** A policy's name: the file policies/NAME.yaml, a label value, a /v1 and --policy argument. */
export const POLICY_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const PolicyName = z
  .string()
  .regex(POLICY_NAME_PATTERN, 'a policy name is 1-63 lower-case letters, digits, - and _');

/**
 * A sandbox policy as written in policies/*.yaml. Sizes take units ("1GiB"),
 * durations take units ("30s"); every field has a default, so a policy file
 * names only what it changes.
 */
export const Policy = z
  .object({
    name: PolicyName,
    description: z.string().max(1000).default(''),
    image: z.string().min(1).default(DEFAULT_WORKER_IMAGE),
    runtime: Runtime.default('runc'),
    network: Network.default('none'),
    resources: z
      .object({
        cpus: z.number().positive().max(256).default(1),
        memory: Bytes.default(1024 ** 3),
        pids: z.number().int().min(16).max(65_536).default(512),
        nofile: z.number().int().min(64).max(1_048_576).default(4096),
      })
      .strict()
      .prefault({}),
    tmpfs: z
      .object({
        tmp: Bytes.default(512 * 1024 ** 2),
        home: Bytes.default(256 * 1024 ** 2),
      })
      .strict()
      .prefault({}),
    timeouts: z
      .object({
        agentConnect: Duration.default(30_000),
        commandDefault: Duration.default(10 * 60_000),
        commandMax: Duration.default(60 * 60_000),
        idle: Duration.default(30 * 60_000),
      })
      .strict()
      .prefault({}),
    output: z
      .object({
        perStream: Bytes.default(1024 ** 2),
        total: Bytes.default(64 * 1024 ** 2),
      })
      .strict()
      .prefault({}),
    commands: z
      .object({
        maxActive: z.number().int().min(1).max(1024).default(16),
        maxRetained: z.number().int().min(1).max(10_000).default(64),
        retention: Duration.default(30 * 60_000),
      })
      .strict()
      .prefault({}),
    files: z
      .object({
        maxFileBytes: Bytes.default(16 * 1024 ** 2),
        maxResults: z.number().int().min(1).max(100_000).default(5000),
      })
      .strict()
      .prefault({}),
    /** Previews of servers in the sandbox (the door in): limits per sandbox, across its preview URLs. */
    preview: z
      .object({
        /** Tunnels open at once: requests in flight, kept-alive connections, WebSockets. */
        connections: z.number().int().min(1).max(4096).default(64),
        /** Bytes per second across the sandbox's previews, both directions; unset: unlimited. */
        bytesPerSecond: Bytes.optional(),
      })
      .strict()
      .prefault({}),
    seccomp: z
      .object({
        profile: z
          .string()
          .regex(/^[A-Za-z0-9_.-]+\.json$/, 'a file name in policies/seccomp/')
          .optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .transform((policy) => ({
    ...policy,
    seccomp: { profile: policy.seccomp.profile ?? DEFAULT_SECCOMP_PROFILE[policy.runtime] },
  }));
export type Policy = z.output<typeof Policy>;
export type PolicyInput = z.input<typeof Policy>;
