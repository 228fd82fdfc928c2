import os from 'node:os';
import type { ExecEnvironment } from '#protocol/tools/info';
import { errorCode, type Notes } from './best-effort.ts';

/** Capability names by bit number, as in linux/capability.h (0 … 40). */
const CAPABILITY_NAMES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

const SECCOMP_MODES = ['disabled', 'strict', 'filter'] as const;

/** The `Key:\tvalue` lines of /proc/<pid>/status. */
export function parseStatus(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return fields;
}

/** The CAP_* names of a capability mask as the kernel prints it (hex); unknown bits as cap_<n>. */
export function decodeCapabilities(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  const names: string[] = [];
  for (let bit = 0; 1n << BigInt(bit) <= mask; bit++) {
    if ((mask >> BigInt(bit)) & 1n) names.push(CAPABILITY_NAMES[bit] ?? `cap_${bit}`);
  }
  return names;
}

function integers(value: string | undefined): number[] | null {
  if (value === undefined) return null;
  const words = value.split(/\s+/).filter((word) => word !== '');
  if (!words.every((word) => /^\d+$/.test(word))) return null;
  return words.map(Number);
}

function userName(uid: number | null, notes: Notes): string | null {
  try {
    return os.userInfo().username;
  } catch (error) {
    notes.push(`user name of uid ${uid}: no passwd entry (${errorCode(error)})`);
    return null;
  }
}

type Report = Pick<ExecEnvironment, 'user' | 'capabilities' | 'no_new_privs' | 'seccomp'>;

/**
 * Identity, capabilities, no_new_privs and seccomp of this process, from
 * /proc/self/status (`status` null when it could not be read). Commands inherit
 * all of them: the agent starts them without any privilege change.
 */
export function processReport(status: Map<string, string> | null, notes: Notes): Report {
  const field = (name: string) => {
    const value = status?.get(name);
    if (status !== null && value === undefined) notes.push(`/proc/self/status: no ${name} line`);
    return value;
  };
  // Uid and Gid lines: real, effective, saved, filesystem.
  const uids = integers(field('Uid'));
  const gids = integers(field('Gid'));
  const groups = integers(field('Groups'));
  const uid = uids?.[0] ?? process.getuid?.() ?? null;
  const capability = (name: string) => {
    const hex = field(name);
    if (hex === undefined || !/^[0-9a-f]+$/i.test(hex)) return null;
    return { hex, names: decodeCapabilities(hex) };
  };
  const permitted = capability('CapPrm');
  // gVisor prints no CapAmb line; the ambient set is a subset of the permitted one (capabilities(7)).
  let ambient = capability('CapAmb');
  if (ambient === null && status !== null && permitted?.names.length === 0) {
    ambient = { hex: permitted.hex, names: [] };
    notes.push('ambient capabilities: empty, since the permitted set is (ambient ⊆ permitted)');
  }
  const noNewPrivs = field('NoNewPrivs');
  const seccompMode = field('Seccomp');
  const mode = seccompMode !== undefined && /^[012]$/.test(seccompMode) ? Number(seccompMode) : null;
  const filters = field('Seccomp_filters');
  return {
    user: {
      uid,
      euid: uids?.[1] ?? process.geteuid?.() ?? null,
      saved_uid: uids?.[2] ?? null,
      gid: gids?.[0] ?? process.getgid?.() ?? null,
      egid: gids?.[1] ?? process.getegid?.() ?? null,
      groups: groups ?? process.getgroups?.() ?? null,
      name: userName(uid, notes),
    },
    capabilities: {
      inheritable: capability('CapInh'),
      permitted,
      effective: capability('CapEff'),
      bounding: capability('CapBnd'),
      ambient,
    },
    no_new_privs: noNewPrivs === undefined ? null : noNewPrivs === '1',
    seccomp: {
      mode,
      mode_name: mode === null ? null : (SECCOMP_MODES[mode] ?? null),
      filters: filters !== undefined && /^\d+$/.test(filters) ? Number(filters) : null,
    },
  };
}
