import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type LoadedPolicy, loadPolicy } from '../../src/policy/load.ts';
import { policyDir } from '../../src/policy/package-files.ts';
import { DEFAULT_SECCOMP_PROFILE, Runtime } from '../../src/policy/schema.ts';
import { DockerDriver } from '../../src/runtime/docker/driver.ts';

/**
 * The OCI runtime the container tests run their sandboxes under: runc unless
 * SANDBOXD_TEST_RUNTIME says otherwise (`SANDBOXD_TEST_RUNTIME=runsc` runs the
 * same files under gVisor; see `npm run test:gvisor`).
 */
export const TEST_RUNTIME = Runtime.parse(process.env.SANDBOXD_TEST_RUNTIME || 'runc');

export const isGvisor = TEST_RUNTIME === 'runsc';

/** Stops a test file at once, saying what to do, when the engine has no such runtime registered. */
export async function assertTestRuntimeRegistered(driver = new DockerDriver()): Promise<void> {
  if (TEST_RUNTIME === 'runc') return;
  const { runtimes } = await driver.facts();
  if (!runtimes.includes(TEST_RUNTIME)) {
    throw new Error(
      `SANDBOXD_TEST_RUNTIME=${TEST_RUNTIME}, but the engine has no runtime ${TEST_RUNTIME} ` +
        `(it has ${runtimes.join(', ')}): \`bash .ci/start-docker.sh\` installs and registers it`,
    );
  }
}

/** The policy fields that put a policy under `runtime`: the runtime and its seccomp profile. */
export function runtimeFields(runtime: Runtime = TEST_RUNTIME) {
  return { runtime, seccomp: { profile: DEFAULT_SECCOMP_PROFILE[runtime] } };
}

/** A shipped policy (policies/NAME.yaml) as the test runtime runs it. */
export async function loadTestPolicy(name: string): Promise<LoadedPolicy> {
  const loaded = await loadPolicy(name);
  if (loaded.policy.runtime === TEST_RUNTIME) return loaded;
  const fields = runtimeFields();
  const profile = await readFile(path.join(policyDir(), 'seccomp', fields.seccomp.profile), 'utf8');
  return {
    ...loaded,
    policy: { ...loaded.policy, ...fields },
    seccompProfile: JSON.stringify(JSON.parse(profile)),
  };
}

/** What Debian 12's runsc cannot do, where more than one test file meets it. */
export const GVISOR_LIMITS = {
  memoryBomb:
    'it has no OOM killer of its own: past the memory limit the host kills its kernel and the whole sandbox stops',
  oomScore: 'oom_score_adj is bookkeeping in its own kernel, with no OOM killer behind it',
  nice: 'it lets a process lower its nice value; its tasks run on its own scheduler, at the host priority of its kernel',
  tmpfsFlags: 'its tmpfs mounts show neither nosuid nor nodev',
} as const;

/**
 * A node:test option that skips a case under gVisor only, with the reason: what
 * Debian 12's runsc (release 2022-12-19) cannot do. SECURITY.md ("A stronger
 * kernel boundary") lists every one.
 */
export function skipUnderGvisor(reason: string): { skip: string | false } {
  return { skip: isGvisor ? `gVisor (runsc 2022-12-19): ${reason}` : false };
}

/**
 * Syscalls our seccomp profile removes, by x86-64 number, tried raw through perl
 * (`syscall(N, 0, 0, 0, 0, 0)`): each must fail with EPERM.
 */
export const REMOVED_SYSCALLS = {
  io_uring_setup: 425,
  userfaultfd: 323,
  keyctl: 250,
  bpf: 321,
  perf_event_open: 298,
  unshare: 272,
  setns: 308,
} as const;
