import os from 'node:os';
import { AGENT_SOCKET_DIR } from '#protocol/agent-api';
import type { CheckExecEnvironmentTool, ExecEnvironment, SummaryFlags } from '#protocol/tools/info';
import type { ToolHandler } from '../context.ts';
import { type Notes, readTextOrNull } from './best-effort.ts';
import { cgroupReport, rlimitReport } from './limits.ts';
import { filesystemReport, parseMountinfo } from './mounts.ts';
import { networkReport } from './network.ts';
import { parseStatus, processReport } from './process-status.ts';

/** The version string every gVisor release reports for its emulated kernel. */
const GVISOR_KERNEL_VERSION = '#1 SMP Sun Jan 10 15:06:54 PST 2016';

function kernelReport(procVersion: string | null, notes: Notes): ExecEnvironment['kernel'] {
  const release = os.release();
  const version = os.version();
  let hint: 'gvisor' | 'linux' = 'linux';
  let evidence = `uname reports the host kernel ${release}, shared with the host through namespaces`;
  if (/gvisor/i.test(release) || version === GVISOR_KERNEL_VERSION || /gvisor/i.test(procVersion ?? '')) {
    hint = 'gvisor';
    evidence = `uname reports ${release} ${version}, the kernel gVisor (runsc) emulates`;
    // runsc applies the container's profile inside its own kernel only with --oci-seccomp.
    notes.push(
      'gVisor: the seccomp filter shown is the one runsc applies in its own kernel (--oci-seccomp); ' +
        'Seccomp 0 means runsc was registered without it and the profile is not applied',
    );
  }
  return {
    release,
    version,
    proc_version: procVersion?.trim() ?? null,
    runtime_hint: hint,
    runtime_evidence: evidence,
  };
}

/** Each flag is true only when the evidence for it was read; unreadable means false. */
export function summaryFlags(report: Omit<ExecEnvironment, 'summary_flags' | 'notes'>): SummaryFlags {
  const { user, capabilities, network, filesystem } = report;
  const ids = [user.uid, user.euid, user.saved_uid];
  const sets = Object.values(capabilities);
  const probes = filesystem.write_probes;
  const wasProbed = probes.length > 0;
  const rootMountReadOnly =
    filesystem.is_root_mount_read_only ?? (wasProbed && probes.every((probe) => probe.errno === 'EROFS'));
  return {
    is_non_root: ids.every((id) => id !== null && id !== 0),
    has_no_capabilities: sets.every((set) => set !== null && set.names.length === 0),
    has_no_new_privs: report.no_new_privs === true,
    is_seccomp_filtered: report.seccomp.mode === 2,
    has_no_network: network.has_non_loopback_interface === false && network.has_default_route === false,
    is_root_read_only: rootMountReadOnly && wasProbed && probes.every((probe) => !probe.is_writable),
  };
}

function formatLimit(value: number | 'unlimited' | null, unit = ''): string {
  if (value === null) return 'unknown';
  if (value === 'unlimited') return 'unlimited';
  if (unit === 'bytes' && value >= 1024 * 1024) return `${Math.round(value / (1024 * 1024))} MiB`;
  return `${value}${unit === 'bytes' ? ' bytes' : ''}`;
}

function summaryText(environment: ExecEnvironment): string {
  const { user, limits, kernel } = environment;
  const lines = [
    `Isolation in force: uid ${user.uid ?? '?'} (${user.name ?? 'no name'}), gid ${user.gid ?? '?'}; ` +
      `kernel ${kernel.release} (${kernel.runtime_hint})`,
    ...Object.entries(environment.summary_flags).map(([flag, value]) => `${flag}: ${value}`),
    `limits: memory ${formatLimit(limits.cgroup.memory_max_bytes, 'bytes')}, ` +
      `swap ${formatLimit(limits.cgroup.memory_swap_max_bytes, 'bytes')}, ` +
      `pids ${formatLimit(limits.cgroup.pids_max)}, cpus ${limits.cgroup.cpus ?? 'unlimited or unknown'}, ` +
      `open files ${formatLimit(limits.rlimits.open_files?.soft ?? null)}`,
  ];
  if (environment.notes.length > 0) lines.push(`notes: ${environment.notes.join('; ')}`);
  return lines.join('\n');
}

/** check_exec_environment: the isolation commands really run under, read from inside. */
export const checkExecEnvironment: ToolHandler<typeof CheckExecEnvironmentTool> = async (context) => {
  const notes: Notes = [];
  const statusText = await readTextOrNull('/proc/self/status', notes);
  const mountinfoText = await readTextOrNull('/proc/self/mountinfo', notes);
  const procVersion = await readTextOrNull('/proc/version', notes);
  const mounts = mountinfoText === null ? null : parseMountinfo(mountinfoText);
  const processFacts = processReport(statusText === null ? null : parseStatus(statusText), notes);
  const [network, filesystem, cgroup, rlimits] = await Promise.all([
    networkReport(notes),
    filesystemReport(
      mounts,
      [
        { role: 'workspace', path: context.workspaceRoot },
        { role: 'socket_dir', path: AGENT_SOCKET_DIR },
        { role: 'tmp', path: '/tmp' },
        { role: 'home', path: os.homedir() },
      ],
      notes,
    ),
    cgroupReport(mounts, notes),
    rlimitReport(notes),
  ]);
  const report = {
    ...processFacts,
    network,
    filesystem,
    limits: { cgroup, rlimits },
    kernel: kernelReport(procVersion, notes),
  };
  notes.push('setuid/setgid files: not scanned (a walk of the whole filesystem is too slow for this check)');
  const environment: ExecEnvironment = { ...report, summary_flags: summaryFlags(report), notes };
  return { summary: summaryText(environment), result: environment };
};
