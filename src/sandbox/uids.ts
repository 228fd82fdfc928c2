import { randomInt } from 'node:crypto';
import { z } from 'zod';
import type { RuntimeDriver } from '../runtime/driver.ts';
import { LABEL_MANAGED, LABEL_UID } from '../runtime/labels.ts';

/**
 * Every workspace volume gets a uid (and the same gid) of its own, so that kernel
 * limits counted per uid — inotify instances and watches, RLIMIT_NPROC, user keys —
 * are not shared between tenants, nor with a host account. The default range lies
 * where systemd documents no use (above its container range, below 2^31, which
 * some tools still read as signed), so it maps to no host account.
 */
export const DEFAULT_UID_RANGE = { first: 1_900_000_000, count: 1_000_000 };

export type UidRange = { first: number; count: number };

/** "FIRST-LAST", as SANDBOXD_UID_RANGE takes it. */
export const UidRangeText = z
  .string()
  .regex(/^\d{4,10}-\d{4,10}$/, 'expected FIRST-LAST, e.g. 1900000000-1900999999')
  .transform((text, context): UidRange => {
    const [first, last] = text.split('-').map(Number) as [number, number];
    if (first < 65_536 || last < first || last > 2_147_483_646) {
      context.addIssue({ code: 'custom', message: 'a range of uids from 65536 up to 2147483646' });
      return z.NEVER;
    }
    return { first, count: last - first + 1 };
  });

export function uidRangeFrom(env: NodeJS.ProcessEnv): UidRange {
  const text = env.SANDBOXD_UID_RANGE;
  if (text === undefined || text === '') return DEFAULT_UID_RANGE;
  const parsed = UidRangeText.safeParse(text);
  if (!parsed.success) throw new Error(`SANDBOXD_UID_RANGE: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

const ATTEMPTS = 16;

/** A uid from the range that no managed volume on the engine has yet. */
export async function freshUid(driver: RuntimeDriver, range: UidRange): Promise<number> {
  const taken = new Set(
    (await driver.listVolumeLabels({ [LABEL_MANAGED]: 'true' }))
      .map((labels) => Number(labels[LABEL_UID]))
      .filter(Number.isInteger),
  );
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const uid = range.first + randomInt(range.count);
    if (!taken.has(uid)) return uid;
  }
  throw new Error(`no free uid found in ${range.first}-${range.first + range.count - 1}`);
}

/** Whom a volume's sandboxes run as: its own uid, or undefined for a volume made before uids were (the image's user). */
export function volumeUser(labels: Record<string, string>): { uid: number; gid: number } | undefined {
  const uid = Number(labels[LABEL_UID]);
  return Number.isInteger(uid) && uid > 0 ? { uid, gid: uid } : undefined;
}
