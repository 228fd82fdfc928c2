import { lookup } from 'node:dns/promises';
import type { Logger } from 'pino';
import { z } from 'zod';
import { canonicalAddress } from './addresses.ts';

/** Every address a name resolves to, in the resolver's order; rejects with an errno-style code. */
export type Lookup = (name: string) => Promise<string[]>;

export const LOOKUP_TIMEOUT_MS = 5000;

/**
 * The host's resolver (getaddrinfo: /etc/hosts, then DNS), as a program on the
 * host would see the name. Only names already on a sandbox's allow-list get here,
 * so a sandbox cannot make the control plane look up names of its choosing.
 */
export const systemLookup: Lookup = async (name) => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(Object.assign(new Error(`resolving ${name} timed out`), { code: 'ETIMEOUT' })),
      LOOKUP_TIMEOUT_MS,
    );
  });
  try {
    const answers = await Promise.race([lookup(name, { all: true, order: 'verbatim' }), timeout]);
    return answers.map((answer) => answer.address);
  } finally {
    clearTimeout(timer);
  }
};

/** The environment variable that holds name overrides. TEST ONLY: see overrideLookup. */
export const TEST_HOST_OVERRIDES_ENV = 'SANDBOXD_TEST_HOST_OVERRIDES';

const Address = z.string().refine((value) => {
  try {
    canonicalAddress(value);
    return true;
  } catch {
    return false;
  }
}, 'an IP address');

/**
 * `{"registry.test": ["127.0.0.1"], "rebind.test": [["127.0.0.1"], ["127.0.0.2"]]}`:
 * a name answers with a list of addresses, or with a sequence of answers (one per
 * lookup, the last one repeated), which is how a test plays a rebinding DNS server.
 */
export const HostOverrides = z.record(
  z.string().min(1).max(253),
  z.union([z.array(Address).min(1), z.array(z.array(Address).min(1)).min(1)]),
);
export type HostOverrides = z.infer<typeof HostOverrides>;

/**
 * TEST ONLY. Answers the names in `overrides` without asking any resolver, so tests
 * can point allow-listed names at loopback servers; other names go to `fallback`.
 * It is read from the control plane's own environment (never from a sandbox or a
 * policy), and the control plane warns when it is set.
 */
export function overrideLookup(overrides: HostOverrides, fallback: Lookup = systemLookup): Lookup {
  const asked = new Map<string, number>();
  return async (name) => {
    const answers = overrides[name];
    if (answers === undefined) return fallback(name);
    const count = asked.get(name) ?? 0;
    asked.set(name, count + 1);
    if (answers.every((answer) => typeof answer === 'string')) return answers as string[];
    const sequence = answers as string[][];
    return sequence[Math.min(count, sequence.length - 1)] as string[];
  };
}

/**
 * The lookup a control plane uses: the system's, or with the test-only overrides
 * when SANDBOXD_TEST_HOST_OVERRIDES is set in its own environment (it says so, loudly).
 */
export function egressLookupFromEnv(env: NodeJS.ProcessEnv, log: Logger): Lookup {
  const text = env[TEST_HOST_OVERRIDES_ENV];
  if (text === undefined || text === '') return systemLookup;
  let overrides: HostOverrides;
  try {
    overrides = HostOverrides.parse(JSON.parse(text));
  } catch (error) {
    throw new Error(`${TEST_HOST_OVERRIDES_ENV}: ${(error as Error).message.split('\n')[0]}`);
  }
  log.warn(
    { names: Object.keys(overrides) },
    `${TEST_HOST_OVERRIDES_ENV} is set: egress resolves these names without DNS (for tests only; never set it in production)`,
  );
  return overrideLookup(overrides);
}
