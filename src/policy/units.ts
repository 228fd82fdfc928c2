import { z } from 'zod';

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  k: 1000,
  kb: 1000,
  kib: 1024,
  m: 1000 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1000 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A byte count: a plain number of bytes, or a string such as "512MiB" or "1GB". */
export const Bytes = z.union([z.number().int().positive(), z.string()]).transform((value, context) => {
  if (typeof value === 'number') return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const factor = match ? SIZE_UNITS[(match[2] || 'b').toLowerCase()] : undefined;
  if (!match || factor === undefined) {
    context.addIssue({ code: 'custom', message: `expected a size like 512MiB or 1GB, got "${value}"` });
    return z.NEVER;
  }
  return Math.round(Number(match[1]) * factor);
});

/** A duration: a plain number of milliseconds, or a string such as "30s", "10m", "250ms". */
export const Duration = z.union([z.number().int().positive(), z.string()]).transform((value, context) => {
  if (typeof value === 'number') return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(value);
  const factor = match ? DURATION_UNITS[match[2] as string] : undefined;
  if (!match || factor === undefined) {
    context.addIssue({
      code: 'custom',
      message: `expected a duration like 30s, 10m or 250ms, got "${value}"`,
    });
    return z.NEVER;
  }
  return Math.round(Number(match[1]) * factor);
});

/** A duration as a person reads it at a glance: 45s, 12m, 5h, 3d. */
export function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 120 * 60) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 48 * 3600) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}
