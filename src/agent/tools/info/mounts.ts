import { randomBytes } from 'node:crypto';
import { open, realpath, statfs, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { ExecEnvironment } from '#protocol/tools/info';
import { errorCode, type Notes } from './best-effort.ts';

/** One line of /proc/self/mountinfo. */
export interface MountEntry {
  /** Path inside the mounted filesystem that is mounted here (a bind mount's source). */
  root: string;
  mountPoint: string;
  mountOptions: string[];
  fstype: string;
  source: string;
  superOptions: string[];
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_match, octal: string) =>
    String.fromCharCode(Number.parseInt(octal, 8)),
  );
}

/**
 * Lines of /proc/self/mountinfo:
 * `id parent major:minor root mount_point options [optional…] - fstype source super_options`.
 */
export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const separator = fields.indexOf('-', 6);
    if (separator < 0 || fields.length < separator + 3) continue;
    entries.push({
      root: unescapeOctal(fields[3] as string),
      mountPoint: unescapeOctal(fields[4] as string),
      mountOptions: (fields[5] as string).split(','),
      fstype: fields[separator + 1] as string,
      source: unescapeOctal(fields[separator + 2] as string),
      superOptions: (fields[separator + 3] ?? '').split(','),
    });
  }
  return entries;
}

/** The mount that holds `target` (an absolute real path): the longest mount point, the later of equals. */
export function mountOf(entries: MountEntry[], target: string): MountEntry | null {
  let best: MountEntry | null = null;
  for (const entry of entries) {
    const point = entry.mountPoint;
    const holds = point === '/' || target === point || target.startsWith(`${point}/`);
    if (holds && (best === null || point.length >= best.mountPoint.length)) best = entry;
  }
  return best;
}

export function isReadOnlyMount(entry: MountEntry): boolean {
  return entry.mountOptions.includes('ro') || entry.superOptions.includes('ro');
}

/** Tries to create a file in `directory` and removes it again; reports the errno of a refusal. */
export async function writeProbe(
  directory: string,
): Promise<ExecEnvironment['filesystem']['write_probes'][number]> {
  const file = path.join(directory, `.sandboxd-write-probe-${randomBytes(6).toString('hex')}`);
  try {
    const handle = await open(file, 'wx', 0o600);
    await handle.close();
    await unlink(file).catch(() => undefined);
    return { path: directory, is_writable: true, errno: null };
  } catch (error) {
    return { path: directory, is_writable: false, errno: errorCode(error) };
  }
}

type MountReport = ExecEnvironment['filesystem']['mounts'][number];
type Role = MountReport['role'];

const UNKNOWN_MOUNT = {
  mount_point: null,
  fstype: null,
  is_read_only: null,
  is_nosuid: null,
  is_nodev: null,
  is_noexec: null,
  capacity_bytes: null,
};

async function mountReport(
  entries: MountEntry[] | null,
  role: Role,
  target: string,
  notes: Notes,
): Promise<MountReport> {
  let real: string;
  try {
    real = await realpath(target);
  } catch (error) {
    // A place that is not there has no mount to report; saying '/' would mislead.
    notes.push(`${role} ${target}: cannot resolve (${errorCode(error)})`);
    return { ...UNKNOWN_MOUNT, role, path: target };
  }
  let capacityBytes: number | null = null;
  try {
    const info = await statfs(real);
    capacityBytes = info.blocks * info.bsize;
  } catch (error) {
    notes.push(`${role} ${target}: statfs failed (${errorCode(error)})`);
  }
  const entry = entries === null ? null : mountOf(entries, real);
  const has = (option: string) => (entry === null ? null : entry.mountOptions.includes(option));
  return {
    role,
    path: target,
    mount_point: entry?.mountPoint ?? null,
    fstype: entry?.fstype ?? null,
    is_read_only: entry === null ? null : isReadOnlyMount(entry),
    is_nosuid: has('nosuid'),
    is_nodev: has('nodev'),
    is_noexec: has('noexec'),
    capacity_bytes: capacityBytes,
  };
}

/** The root filesystem and the mounts a sandbox is built from, as this process sees them. */
export async function filesystemReport(
  entries: MountEntry[] | null,
  places: { role: Role; path: string }[],
  notes: Notes,
): Promise<ExecEnvironment['filesystem']> {
  const root = entries === null ? null : mountOf(entries, '/');
  return {
    is_root_mount_read_only: root === null ? null : isReadOnlyMount(root),
    write_probes: await Promise.all(['/', '/usr'].map(writeProbe)),
    mounts: await Promise.all(places.map((place) => mountReport(entries, place.role, place.path, notes))),
  };
}
