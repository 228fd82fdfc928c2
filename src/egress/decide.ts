import { type CanonicalHost, canonicalHost, type EgressAllowList } from '../policy/egress.ts';
import type { EgressRefusal } from '../protocol/egress.ts';
import { CidrSet, specialAddressRule } from './addresses.ts';

/** A refusal as the agent passes it on: status, the rule that refused, and a message for a person. */
export interface Refused {
  isAllowed: false;
  status: number;
  rule: EgressRefusal;
  message: string;
  /** The resolved address an address rule refused (for the audit record). */
  address?: string;
}

/** What the name check lets through: the canonical host and the allow-list entry that matched. */
export interface NameAllowed {
  isAllowed: true;
  host: CanonicalHost;
  /** `host:NAME`, `pattern:*.SUFFIX` or `cidr:RANGE` (an address literal). */
  rule: string;
}

export interface AddressAllowed {
  isAllowed: true;
  address: string;
  /** The name's rule, plus the CIDR when the address needed one. */
  rule: string;
}

const STATUS: Record<EgressRefusal, number> = {
  'invalid-request': 400,
  'invalid-host': 400,
  'host-not-allowed': 403,
  'ip-literal-not-allowed': 403,
  'port-not-allowed': 403,
  'egress-disabled': 403,
  'limit-connections': 429,
  'limit-total-bytes': 403,
  'address-loopback': 403,
  'address-private': 403,
  'address-link-local': 403,
  'address-metadata': 403,
  'address-multicast': 403,
  'address-reserved': 403,
  'resolve-failed': 502,
  'connect-failed': 502,
};

const ADDRESS_KIND: Partial<Record<EgressRefusal, string>> = {
  'address-loopback': 'a loopback address',
  'address-private': 'a private address',
  'address-link-local': 'a link-local address',
  'address-metadata': 'a cloud metadata address',
  'address-multicast': 'a multicast or broadcast address',
  'address-reserved': 'a special-purpose address',
};

export function refused(rule: EgressRefusal, message: string): Refused {
  return { isAllowed: false, status: STATUS[rule], rule, message };
}

/** Whether `name` (canonical) matches `pattern`: the same name, or a name under `*.suffix`. */
export function matchesHostPattern(name: string, pattern: string): boolean {
  return pattern.startsWith('*.') ? name.endsWith(pattern.slice(1)) : name === pattern;
}

/** The allow-list's view of an address: the CIDR that admits it, or why it may not be reached. */
function checkAddress(address: string, cidrs: CidrSet): { cidr: string } | { rule: EgressRefusal } {
  const cidr = cidrs.match(address);
  if (cidr !== undefined) return { cidr };
  const rule = specialAddressRule(address);
  return rule === undefined ? { cidr: '' } : { rule };
}

/**
 * The checks that need nothing but the request: a valid host, on the list (a
 * name or pattern; an address only inside a policy CIDR) and an allowed port.
 * Nothing is resolved for a name that fails here.
 */
export function checkName(allowList: EgressAllowList, rawHost: string, port: number): NameAllowed | Refused {
  const host = canonicalHost(rawHost);
  if (host === undefined)
    return refused('invalid-host', `${JSON.stringify(rawHost)} is not a valid host name`);
  let rule: string | undefined;
  if (host.kind === 'ip') {
    const admitted = checkAddress(host.address, new CidrSet(allowList.cidrs));
    if ('rule' in admitted || admitted.cidr === '') {
      return refused(
        'ip-literal-not-allowed',
        `${host.address} is an address, not a host name; only names on the allow-list are reached, and addresses only inside the policy's cidrs`,
      );
    }
    rule = `cidr:${admitted.cidr}`;
  } else {
    const pattern = allowList.hosts.find((entry) => matchesHostPattern(host.name, entry));
    if (pattern === undefined) {
      return refused('host-not-allowed', `${host.name} is not on this sandbox's egress allow-list`);
    }
    rule = pattern.startsWith('*.') ? `pattern:${pattern}` : `host:${pattern}`;
  }
  if (!allowList.ports.includes(port)) {
    return refused(
      'port-not-allowed',
      `port ${port} is not allowed (allowed: ${allowList.ports.join(', ')})`,
    );
  }
  return { isAllowed: true, host, rule };
}

/**
 * The address to connect to among those a name resolved to: the first one that
 * is global unicast or inside a policy CIDR. When none is, the first address's
 * rule refuses (a name that points only inward is refused whatever it is called).
 */
export function pickAddress(
  allowList: EgressAllowList,
  name: string,
  nameRule: string,
  addresses: readonly string[],
): AddressAllowed | Refused {
  const cidrs = new CidrSet(allowList.cidrs);
  let firstRefusal: { address: string; rule: EgressRefusal } | undefined;
  for (const address of addresses) {
    const admitted = checkAddress(address, cidrs);
    if ('cidr' in admitted) {
      return {
        isAllowed: true,
        address,
        rule: admitted.cidr === '' ? nameRule : `${nameRule} cidr:${admitted.cidr}`,
      };
    }
    firstRefusal ??= { address, rule: admitted.rule };
  }
  if (firstRefusal === undefined) return refused('resolve-failed', `${name} resolved to no address`);
  return {
    ...refused(
      firstRefusal.rule,
      `${name} resolves to ${firstRefusal.address}, ${ADDRESS_KIND[firstRefusal.rule] ?? 'an address'} that sandboxes may not reach unless the policy's cidrs name it`,
    ),
    address: firstRefusal.address,
  };
}
