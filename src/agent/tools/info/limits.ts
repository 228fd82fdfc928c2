import path from 'node:path';
import type { ExecEnvironment, LimitValue } from '#protocol/tools/info';
import { type Notes, readTextOrNull } from './best-effort.ts';
import type { MountEntry } from './mounts.ts';

type CgroupReport = ExecEnvironment['limits']['cgroup'];
type RlimitReport = ExecEnvironment['limits']['rlimits'];

/**
 * A limit as cgroup files spell it: a number, `max`, or (v1) -1 or a number near
 * 2^63 that means "no limit".
 */
export function parseLimit(text: string): LimitValue | null {
  const word = text.trim();
  if (word === 'max' || word === 'unlimited' || word === '-1') return 'unlimited';
  if (!/^\d+$/.test(word)) return null;
  const value = BigInt(word);
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? 'unlimited' : Number(value);
}

/** One hierarchy of /proc/self/cgroup: `id:controllers:path` (v2 is `0::path`). */
interface Membership {
  controllers: string[];
  path: string;
}

export function parseCgroupMembership(text: string): Membership[] {
  return text
    .split('\n')
    .filter((line) => line.includes(':'))
    .map((line) => {
      const [, controllers = '', ...rest] = line.split(':');
      return { controllers: controllers === '' ? [] : controllers.split(','), path: rest.join(':') };
    });
}

/**
 * The directory of this process's cgroup for one controller, or null. A v1
 * controller is a `cgroup` mount whose options name it; v2 is the `cgroup2`
 * mount. The cgroup path is taken relative to what the mount exposes (with a
 * cgroup namespace or a bind of the container's own cgroup, that is its root).
 */
export function cgroupDirectory(
  mounts: MountEntry[],
  memberships: Membership[],
  controller: string,
): { version: 1 | 2; directory: string } | null {
  const v1Mount = mounts.find(
    (entry) => entry.fstype === 'cgroup' && entry.superOptions.includes(controller),
  );
  const v1Member = memberships.find((member) => member.controllers.includes(controller));
  if (v1Mount !== undefined && v1Member !== undefined) {
    return { version: 1, directory: joinCgroup(v1Mount, v1Member.path) };
  }
  const v2Mount = mounts.find((entry) => entry.fstype === 'cgroup2');
  const v2Member = memberships.find((member) => member.controllers.length === 0);
  if (v2Mount !== undefined && v2Member !== undefined) {
    return { version: 2, directory: joinCgroup(v2Mount, v2Member.path) };
  }
  return null;
}

function joinCgroup(mount: MountEntry, cgroupPath: string): string {
  const relative = path.posix.relative(mount.root, cgroupPath);
  return relative.startsWith('..') ? mount.mountPoint : path.posix.join(mount.mountPoint, relative);
}

async function readLimit(file: string, notes: Notes): Promise<LimitValue | null> {
  const text = await readTextOrNull(file, notes);
  if (text === null) return null;
  const value = parseLimit(text);
  if (value === null) notes.push(`${file}: unexpected content ${JSON.stringify(text.trim().slice(0, 40))}`);
  return value;
}

async function cpuMax(
  place: { version: 1 | 2; directory: string } | null,
  notes: Notes,
): Promise<CgroupReport['cpu_max']> {
  if (place === null) return null;
  let quota: LimitValue | null;
  let period: LimitValue | null;
  if (place.version === 2) {
    const text = await readTextOrNull(path.join(place.directory, 'cpu.max'), notes);
    const [quotaWord = '', periodWord = ''] = text?.trim().split(/\s+/) ?? [];
    quota = parseLimit(quotaWord);
    period = parseLimit(periodWord);
  } else {
    quota = await readLimit(path.join(place.directory, 'cpu.cfs_quota_us'), notes);
    period = await readLimit(path.join(place.directory, 'cpu.cfs_period_us'), notes);
  }
  if (quota === null || typeof period !== 'number' || period <= 0) return null;
  return { quota_us: quota, period_us: period };
}

function swapOnTop(memory: LimitValue | null, memoryAndSwap: LimitValue | null): LimitValue | null {
  if (memoryAndSwap === null) return null;
  if (memoryAndSwap === 'unlimited') return 'unlimited';
  if (typeof memory === 'number') return Math.max(0, memoryAndSwap - memory);
  return memoryAndSwap;
}

/** memory, swap, pids and CPU limits of this process's cgroup (v2, or v1 controllers). */
export async function cgroupReport(mounts: MountEntry[] | null, notes: Notes): Promise<CgroupReport> {
  const membershipText = await readTextOrNull('/proc/self/cgroup', notes);
  const memberships = membershipText === null ? [] : parseCgroupMembership(membershipText);
  const locate = (controller: string) => {
    const place = mounts === null ? null : cgroupDirectory(mounts, memberships, controller);
    if (place === null) notes.push(`cgroup ${controller} controller: not mounted or not a member`);
    return place;
  };
  const memory = locate('memory');
  const pids = locate('pids');
  const cpu = locate('cpu');
  const file = (place: { directory: string }, name: string) => path.join(place.directory, name);
  let memoryMax: LimitValue | null = null;
  let swapMax: LimitValue | null = null;
  if (memory?.version === 2) {
    memoryMax = await readLimit(file(memory, 'memory.max'), notes);
    swapMax = await readLimit(file(memory, 'memory.swap.max'), notes);
  } else if (memory?.version === 1) {
    memoryMax = await readLimit(file(memory, 'memory.limit_in_bytes'), notes);
    // Without swap accounting the memsw files do not exist: the swap limit is then unknown.
    swapMax = swapOnTop(memoryMax, await readLimit(file(memory, 'memory.memsw.limit_in_bytes'), notes));
  }
  const pidsMax = pids === null ? null : await readLimit(file(pids, 'pids.max'), notes);
  const cpuLimit = await cpuMax(cpu, notes);
  return {
    version: memory?.version ?? cpu?.version ?? pids?.version ?? null,
    memory_max_bytes: memoryMax,
    memory_swap_max_bytes: swapMax,
    pids_max: pidsMax,
    cpu_max: cpuLimit,
    cpus:
      cpuLimit === null || cpuLimit.quota_us === 'unlimited' ? null : cpuLimit.quota_us / cpuLimit.period_us,
  };
}

/** Rows of /proc/self/limits: a name of words, then soft and hard columns (numbers or "unlimited"). */
export function parseProcLimits(text: string): Map<string, { soft: LimitValue; hard: LimitValue }> {
  const rows = new Map<string, { soft: LimitValue; hard: LimitValue }>();
  for (const line of text.split('\n').slice(1)) {
    const match = /^(\S+(?: \S+)*)\s{2,}(\S+)\s+(\S+)/.exec(line);
    if (match === null) continue;
    const soft = parseLimit(match[2] as string);
    const hard = parseLimit(match[3] as string);
    if (soft !== null && hard !== null) rows.set(match[1] as string, { soft, hard });
  }
  return rows;
}

/** The resource limits of this process (inherited by every command), without prlimit. */
export async function rlimitReport(notes: Notes): Promise<RlimitReport> {
  const text = await readTextOrNull('/proc/self/limits', notes);
  const rows = text === null ? new Map() : parseProcLimits(text);
  const row = (name: string) => {
    const value = rows.get(name) ?? null;
    if (text !== null && value === null) notes.push(`/proc/self/limits: no "${name}" row`);
    return value;
  };
  return {
    open_files: row('Max open files'),
    core_file_size_bytes: row('Max core file size'),
    processes: row('Max processes'),
  };
}
