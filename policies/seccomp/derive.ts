/**
 * Derives sandboxd's seccomp profile from Docker's (moby's) default profile.
 *
 * Usage:
 *   node policies/seccomp/derive.ts <moby default.json> [--out <file>] [--check]
 *
 * Without --out the result is written next to this script as sandboxd.json,
 * and its gVisor variant (see gvisorProfile) beside it as sandboxd-gvisor.json.
 * With --check nothing is written; the exit code is 1 when a derived profile
 * differs from the existing output file (useful in CI).
 *
 * The transformation is deliberately subtractive: it never adds an allowance
 * that moby's profile does not already contain. See README.md for the
 * reasoning behind each removal.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

export interface SeccompFilter {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

export interface SeccompRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: SeccompArg[] | null;
  comment?: string;
  includes?: SeccompFilter;
  excludes?: SeccompFilter;
}

export interface SeccompArch {
  architecture: string;
  subArchitectures: string[] | null;
}

export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  archMap?: SeccompArch[];
  syscalls: SeccompRule[];
}

export interface RemovalGroup {
  /** Short label used in the report and the README table. */
  topic: string;
  names: readonly string[];
}

/**
 * Syscalls that must not be allowed by any rule of the derived profile,
 * whatever capabilities the container holds. Several are not allowed by
 * moby's profile either; they are listed so the guarantee is explicit and
 * tested rather than inherited by accident.
 */
export const REMOVED_SYSCALLS: readonly RemovalGroup[] = [
  { topic: 'io_uring', names: ['io_uring_setup', 'io_uring_enter', 'io_uring_register'] },
  { topic: 'userfaultfd', names: ['userfaultfd'] },
  { topic: 'kernel keyring', names: ['keyctl', 'add_key', 'request_key'] },
  { topic: 'eBPF', names: ['bpf'] },
  { topic: 'perf events', names: ['perf_event_open'] },
  { topic: 'ptrace and cross-process memory', names: ['ptrace', 'process_vm_readv', 'process_vm_writev'] },
  { topic: 'namespaces', names: ['unshare', 'setns'] },
  {
    topic: 'mounts',
    names: [
      'mount',
      'umount',
      'umount2',
      'fsopen',
      'fsconfig',
      'fsmount',
      'fspick',
      'move_mount',
      'open_tree',
      'mount_setattr',
      'pivot_root',
    ],
  },
  { topic: 'kernel modules', names: ['init_module', 'finit_module', 'delete_module'] },
  { topic: 'kexec', names: ['kexec_load', 'kexec_file_load'] },
  { topic: 'file handles', names: ['open_by_handle_at', 'name_to_handle_at'] },
  { topic: 'host administration', names: ['lookup_dcookie', 'quotactl', 'quotactl_fd', 'acct', 'reboot'] },
  { topic: 'swap', names: ['swapon', 'swapoff'] },
  { topic: 'kernel log', names: ['syslog'] },
  { topic: 'vm86', names: ['vm86', 'vm86old'] },
];

export const REMOVED_NAMES: ReadonlySet<string> = new Set(REMOVED_SYSCALLS.flatMap((g) => g.names));

/** Comment attached to rules whose capability exclusion was stripped. */
export const CAPS_STRIPPED_COMMENT = 'sandboxd: applies whatever capabilities the container holds';

export interface DeriveReport {
  /** Capability-conditioned ALLOW rules dropped as a whole, e.g. "CAP_SYS_ADMIN: mount, ...". */
  droppedCapRules: string[];
  /** Rules that no longer depend on capabilities, e.g. "clone (excludes CAP_SYS_ADMIN)". */
  capExclusionsStripped: string[];
  /** Names removed from rules that are not capability-conditioned. */
  removedNames: string[];
  /** Calls now allowed only when they set no setuid/setgid bit (openat2: refused with ENOSYS). */
  modeGuarded: string[];
}

function isErrnoAction(action: string): boolean {
  return action === 'SCMP_ACT_ERRNO';
}

function hasCaps(filter: SeccompFilter | undefined): boolean {
  return filter?.caps !== undefined && filter.caps.length > 0;
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

/**
 * Pure transformation from moby's default profile to sandboxd's profile.
 *
 * 1. Every ALLOW rule conditioned on a capability (`includes.caps`) is
 *    dropped. sandboxd runs workers with `--cap-drop ALL`, so these rules are
 *    dead weight today; dropping them means granting a capability later can
 *    never widen the syscall surface (in particular CAP_SYS_ADMIN no longer
 *    unlocks unfiltered clone/clone3, unshare, setns or mount).
 * 2. Capability exclusions (`excludes.caps`) are stripped, so the filtered
 *    clone rule and the clone3 -> ENOSYS rule apply unconditionally. Without
 *    this step a container holding CAP_SYS_ADMIN would have no clone rule left.
 * 3. Every name in REMOVED_NAMES is removed from the remaining rules; rules
 *    left without names disappear.
 *
 * Everything else (arch maps, arch-conditioned rules, argument filters,
 * default action) is carried over unchanged, in the same order.
 */
/**
 * Calls that set a file's mode, and the index of their mode argument. Over a host
 * folder the workload may run as the folder's owner — uid 0 for a root-owned
 * folder — and a setuid-root file it left there would run as root for whoever on
 * the host executes it. Owners may set those bits without any capability, so the
 * filter refuses them: these calls are allowed only when (mode & 06000) == 0.
 */
export const MODE_GUARDED: readonly { name: string; modeArg: number }[] = [
  { name: 'chmod', modeArg: 1 },
  { name: 'fchmod', modeArg: 1 },
  { name: 'fchmodat', modeArg: 2 },
  // Not in the pinned upstream profile (so refused by default); guarded should an update bring it.
  { name: 'fchmodat2', modeArg: 2 },
  { name: 'creat', modeArg: 1 },
  { name: 'open', modeArg: 2 },
  { name: 'openat', modeArg: 3 },
  { name: 'mknod', modeArg: 1 },
  { name: 'mknodat', modeArg: 2 },
];
/** S_ISUID | S_ISGID */
export const SETID_BITS = 0o6000;
/** openat2 carries its mode inside a struct no filter can read: ENOSYS, and libc falls back to openat. */
export const OPENAT2_RULE: SeccompRule = {
  names: ['openat2'],
  action: 'SCMP_ACT_ERRNO',
  errnoRet: 38,
  comment: 'sandboxd: its mode is out of reach of the setuid/setgid guard; libc falls back to openat',
};

/** Moves the mode-setting calls out of unconditional ALLOW rules into rules that refuse set-id bits. */
function guardModeBits(syscalls: SeccompRule[]): string[] {
  const guarded = new Set([...MODE_GUARDED.map(({ name }) => name), 'openat2']);
  const moved: string[] = [];
  for (let index = syscalls.length - 1; index >= 0; index--) {
    const rule = syscalls[index] as SeccompRule;
    if (rule.action !== 'SCMP_ACT_ALLOW' || (rule.args?.length ?? 0) > 0) continue;
    const kept = rule.names.filter((name) => !guarded.has(name));
    if (kept.length === rule.names.length) continue;
    moved.push(...rule.names.filter((name) => guarded.has(name)));
    rule.names = kept;
    if (kept.length === 0) syscalls.splice(index, 1);
  }
  for (const { name, modeArg } of MODE_GUARDED) {
    if (!moved.includes(name)) continue;
    syscalls.push({
      names: [name],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index: modeArg, value: SETID_BITS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
      comment: 'sandboxd: allowed unless the mode sets the setuid or setgid bit',
    });
  }
  if (moved.includes('openat2')) syscalls.push(clone(OPENAT2_RULE));
  return moved.sort();
}

export function deriveProfile(upstream: SeccompProfile): { profile: SeccompProfile; report: DeriveReport } {
  if (!isErrnoAction(upstream.defaultAction)) {
    throw new Error(`expected defaultAction SCMP_ACT_ERRNO, got ${upstream.defaultAction}`);
  }
  if (!Array.isArray(upstream.syscalls)) {
    throw new Error('profile has no syscalls array');
  }

  const report: DeriveReport = {
    droppedCapRules: [],
    capExclusionsStripped: [],
    removedNames: [],
    modeGuarded: [],
  };
  const syscalls: SeccompRule[] = [];

  for (const original of upstream.syscalls) {
    const rule = clone(original);

    if (hasCaps(rule.includes)) {
      if (rule.action !== 'SCMP_ACT_ALLOW') {
        // Dropping a capability-conditioned restriction would loosen the
        // profile; refuse rather than guess.
        throw new Error(`unexpected capability-conditioned ${rule.action} rule for ${rule.names.join(', ')}`);
      }
      report.droppedCapRules.push(`${rule.includes?.caps?.join('+')}: ${rule.names.join(', ')}`);
      continue;
    }

    if (rule.excludes !== undefined && hasCaps(rule.excludes)) {
      report.capExclusionsStripped.push(
        `${rule.names.join(', ')} (excludes ${rule.excludes.caps?.join('+')})`,
      );
      delete rule.excludes.caps;
      if (Object.keys(rule.excludes).length === 0) {
        delete rule.excludes;
      }
      rule.comment =
        rule.comment === undefined || rule.comment === ''
          ? CAPS_STRIPPED_COMMENT
          : `${rule.comment}; ${CAPS_STRIPPED_COMMENT}`;
    }

    const kept = rule.names.filter((name) => !REMOVED_NAMES.has(name));
    if (kept.length !== rule.names.length) {
      report.removedNames.push(...rule.names.filter((name) => REMOVED_NAMES.has(name)));
      rule.names = kept;
    }
    if (rule.names.length > 0) {
      syscalls.push(rule);
    }
  }

  report.modeGuarded = guardModeBits(syscalls);
  const profile: SeccompProfile = { ...clone(upstream), syscalls };
  assertDerivedInvariants(profile);
  return { profile, report };
}

/** Throws when the derived profile breaks one of the guarantees in README.md. */
export function assertDerivedInvariants(profile: SeccompProfile): void {
  for (const rule of profile.syscalls) {
    if (hasCaps(rule.includes) || hasCaps(rule.excludes)) {
      throw new Error(`rule for ${rule.names.join(', ')} still depends on capabilities`);
    }
    if (rule.action === 'SCMP_ACT_ALLOW') {
      const bad = rule.names.filter((name) => REMOVED_NAMES.has(name));
      if (bad.length > 0) {
        throw new Error(`removed syscalls still allowed: ${bad.join(', ')}`);
      }
    }
  }
  const cloneRules = profile.syscalls.filter((r) => r.names.includes('clone'));
  if (cloneRules.length === 0 || cloneRules.some((r) => r.action !== 'SCMP_ACT_ALLOW' || !r.args?.length)) {
    throw new Error('clone must stay allowed, and only through its namespace-flag argument filter');
  }
  const clone3 = profile.syscalls.filter((r) => r.names.includes('clone3'));
  if (clone3.length !== 1 || clone3[0]?.action !== 'SCMP_ACT_ERRNO' || clone3[0].errnoRet !== 38) {
    throw new Error('clone3 must be answered with ENOSYS (38) so libc falls back to clone');
  }
}

/** The comment on the gVisor variant's clone3 rule. */
export const GVISOR_CLONE3_COMMENT =
  'sandboxd-gvisor: runsc 2022-12-19 answers every errno rule with EPERM; it has no clone3 and answers ENOSYS itself';

/**
 * The variant for gVisor as Debian 12 ships it (runsc release 2022-12-19), which
 * applies the OCI profile inside its own kernel (`--oci-seccomp`) but answers every
 * SCMP_ACT_ERRNO rule with EPERM, whatever its errnoRet. clone3's ENOSYS would
 * become EPERM, libc would not fall back to clone, and no program could start a
 * thread (node aborts at start). That runsc does not implement clone3 and answers
 * ENOSYS itself, so the variant allows it and the workload sees the same ENOSYS.
 * Nothing else differs. Under runc, allowing clone3 would let namespace flags past
 * the filter: the policy loader refuses this profile there.
 */
export function gvisorProfile(profile: SeccompProfile): SeccompProfile {
  const variant = clone(profile);
  const rule = variant.syscalls.find((r) => r.names.length === 1 && r.names[0] === 'clone3');
  if (rule?.action !== 'SCMP_ACT_ERRNO') throw new Error('expected a clone3 errno rule to replace');
  delete rule.errnoRet;
  rule.action = 'SCMP_ACT_ALLOW';
  rule.comment = GVISOR_CLONE3_COMMENT;
  return variant;
}

/** Same layout as moby's file (tab indentation), so `diff` against it shows only the removals. */
export function serializeProfile(profile: SeccompProfile): string {
  return `${JSON.stringify(profile, null, '\t')}\n`;
}

/** sha256 of the re-serialized input; lets a reader check they derived from the same upstream data. */
export function fingerprint(profile: SeccompProfile): string {
  return createHash('sha256')
    .update(JSON.stringify(profile, null, '\t'))
    .digest('hex');
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      check: { type: 'boolean', default: false },
    },
  });
  const input = positionals[0];
  if (input === undefined || positionals.length > 1) {
    process.stderr.write(
      'usage: node policies/seccomp/derive.ts <moby default.json> [--out <file>] [--check]\n',
    );
    process.exit(2);
  }
  const out = values.out ?? join(import.meta.dirname, 'sandboxd.json');
  const gvisorOut = out.replace(/\.json$/, '-gvisor.json');

  const upstream = JSON.parse(readFileSync(input, 'utf8')) as SeccompProfile;
  const { profile, report } = deriveProfile(upstream);
  const outputs: [string, string][] = [
    [out, serializeProfile(profile)],
    [gvisorOut, serializeProfile(gvisorProfile(profile))],
  ];

  const lines = [
    `input: ${input}`,
    `input fingerprint (sha256 of tab-indented JSON): ${fingerprint(upstream)}`,
    'dropped capability-conditioned ALLOW rules:',
    ...report.droppedCapRules.map((r) => `  - ${r}`),
    'capability exclusions stripped (rule now unconditional):',
    ...report.capExclusionsStripped.map((r) => `  - ${r}`),
    `removed from unconditional rules: ${report.removedNames.join(', ') || '(none)'}`,
    `allowed only without setuid/setgid mode bits: ${report.modeGuarded.join(', ') || '(none)'}`,
    `rules: ${upstream.syscalls.length} -> ${profile.syscalls.length}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  for (const [file, text] of outputs) {
    if (!values.check) {
      writeFileSync(file, text);
      process.stdout.write(`wrote ${file}\n`);
      continue;
    }
    let current = '';
    try {
      current = readFileSync(file, 'utf8');
    } catch {
      // missing file counts as a difference
    }
    if (current !== text) {
      process.stderr.write(`${file} is out of date; re-run without --check\n`);
      process.exit(1);
    }
    process.stdout.write(`${file} is up to date\n`);
  }
}

if (import.meta.main) {
  main();
}
