/**
 * What the host kernel says about processes and containers: RSS and PSS from
 * /proc, CPU time, the process tree under a container's init, and a
 * container's memory cgroup (v1 or v2). Linux only; the benchmarks run as a
 * user who can read the worker containers' /proc entries (root here).
 */
import { readdir, readFile } from 'node:fs/promises';

export interface ProcessMemory {
  /** VmRSS: every resident page, shared ones (the node binary, libc) included. */
  rssBytes: number;
  /** RssAnon: resident private memory (heap, stacks). */
  anonBytes: number;
  /** Proportional set size: shared pages divided among the processes sharing them. */
  pssBytes: number;
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

function kiloField(text: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

export async function processMemory(pid: number): Promise<ProcessMemory | undefined> {
  const status = await readText(`/proc/${pid}/status`);
  if (status === undefined) return undefined;
  const rollup = (await readText(`/proc/${pid}/smaps_rollup`)) ?? '';
  return {
    rssBytes: kiloField(status, 'VmRSS'),
    anonBytes: kiloField(status, 'RssAnon'),
    pssBytes: kiloField(rollup, 'Pss'),
  };
}

export async function commandLine(pid: number): Promise<string> {
  return ((await readText(`/proc/${pid}/cmdline`)) ?? '').replaceAll('\0', ' ').trim();
}

export async function children(pid: number): Promise<number[]> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const result: number[] = [];
  for (const task of tasks) {
    const text = await readText(`/proc/${pid}/task/${task}/children`);
    for (const child of (text ?? '').split(/\s+/)) if (child !== '') result.push(Number(child));
  }
  return result;
}

/** The first process at or below `pid` whose command line matches. */
export async function findProcess(
  pid: number,
  matches: (cmdline: string) => boolean,
): Promise<number | undefined> {
  const queue = [pid];
  while (queue.length > 0) {
    const next = queue.shift() as number;
    if (matches(await commandLine(next))) return next;
    queue.push(...(await children(next)));
  }
  return undefined;
}

export async function parentPid(pid: number): Promise<number | undefined> {
  const status = await readText(`/proc/${pid}/status`);
  const match = status === undefined ? null : /^PPid:\s+(\d+)/m.exec(status);
  return match ? Number(match[1]) : undefined;
}

/** User + system CPU seconds the process has used (its own threads, not waited-for children). */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readText(`/proc/${pid}/stat`);
  if (stat === undefined) return Number.NaN;
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticksPerSecond = 100; // USER_HZ on Linux
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** Busy CPU seconds of the whole machine (all cores), from /proc/stat. */
export async function machineBusySeconds(): Promise<number> {
  const line = ((await readText('/proc/stat')) ?? '').split('\n')[0] ?? '';
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  const total = ticks.slice(0, 8).reduce((sum, value) => sum + value, 0);
  return (total - idle) / 100;
}

export interface CgroupMemory {
  /** memory.usage_in_bytes (v1) or memory.current (v2): everything charged, page cache included. */
  usageBytes: number;
  /** What `docker stats` shows: usage minus inactive file pages. */
  workingSetBytes: number;
}

/** The memory cgroup of a Docker container with the cgroupfs driver (v1) or either driver (v2). */
export async function containerMemory(containerId: string): Promise<CgroupMemory | undefined> {
  const candidates = [
    { dir: `/sys/fs/cgroup/memory/docker/${containerId}`, usage: 'memory.usage_in_bytes' },
    { dir: `/sys/fs/cgroup/memory/system.slice/docker-${containerId}.scope`, usage: 'memory.usage_in_bytes' },
    { dir: `/sys/fs/cgroup/docker/${containerId}`, usage: 'memory.current' },
    { dir: `/sys/fs/cgroup/system.slice/docker-${containerId}.scope`, usage: 'memory.current' },
  ];
  for (const { dir, usage } of candidates) {
    const text = await readText(`${dir}/${usage}`);
    if (text === undefined) continue;
    const stat = (await readText(`${dir}/memory.stat`)) ?? '';
    const inactive = /^(?:total_inactive_file|inactive_file) (\d+)/m.exec(stat);
    const usageBytes = Number(text.trim());
    return { usageBytes, workingSetBytes: usageBytes - Number(inactive?.[1] ?? 0) };
  }
  return undefined;
}

/** MemAvailable from /proc/meminfo. */
export async function memAvailableBytes(): Promise<number> {
  return kiloField((await readText('/proc/meminfo')) ?? '', 'MemAvailable');
}
