import { DEFAULT_SECCOMP_PROFILE, type Runtime } from './schema.ts';

interface ProfileRule {
  names?: string[];
  action?: string;
}

/**
 * Why a seccomp profile cannot serve a runtime, or undefined when it can; the
 * difference is clone3. It carries its flags in memory no filter can read, so under
 * runc a profile must answer it with ENOSYS (libc then falls back to the filtered
 * clone): allowing it would let a workload create namespaces. Debian's runsc
 * (2022-12-19) answers every errno rule with EPERM, on which libc does not fall
 * back, so no program could start a thread; it has no clone3 of its own and answers
 * ENOSYS, so there the profile must let the call through.
 */
export function seccompMismatch(runtime: Runtime, profile: unknown): string | undefined {
  const rules = (profile as { syscalls?: unknown } | null)?.syscalls;
  const allowsClone3 = (Array.isArray(rules) ? (rules as ProfileRule[]) : []).some(
    (rule) => rule.action === 'SCMP_ACT_ALLOW' && rule.names?.includes('clone3'),
  );
  if (runtime === 'runc' && allowsClone3) {
    return `allows clone3, whose namespace flags no filter can see; under runc use ${DEFAULT_SECCOMP_PROFILE.runc}`;
  }
  if (runtime === 'runsc' && !allowsClone3) {
    return `refuses clone3, which runsc 2022-12-19 turns into EPERM so that no thread can start; under runsc use ${DEFAULT_SECCOMP_PROFILE.runsc}`;
  }
  return undefined;
}
