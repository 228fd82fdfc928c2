import ipaddr from 'ipaddr.js';
import type { EgressRefusal } from '../protocol/egress.ts';

/**
 * Cloud metadata services and their neighbours (credentials live there). They sit
 * inside link-local or private ranges anyway; they get a rule of their own so a
 * refusal says what was reached for, and only a CIDR naming exactly one of them
 * opens it (a broad internal range never does by accident).
 */
const METADATA_ADDRESSES = new Set([
  '169.254.169.254', // AWS, GCP, Azure, OpenStack, Oracle…
  '169.254.169.253', // AWS VPC DNS
  '169.254.170.2', // AWS ECS task metadata
  '169.254.170.23', // AWS EKS pod identity
  'fd00:ec2::254', // AWS IMDS over IPv6
  'fd00:ec2::23', // AWS EKS pod identity over IPv6
  '100.100.100.200', // Alibaba Cloud
]);

/** ipaddr.js's range names, grouped into the rule a refusal names. Anything else but 'unicast' is reserved. */
const RANGE_RULES: Record<string, EgressRefusal> = {
  loopback: 'address-loopback',
  private: 'address-private',
  uniqueLocal: 'address-private',
  carrierGradeNat: 'address-private',
  linkLocal: 'address-link-local',
  multicast: 'address-multicast',
  broadcast: 'address-multicast',
};

/** An address in its one spelling: IPv4-mapped IPv6 (`::ffff:127.0.0.1`, `::ffff:7f00:1`) as IPv4. */
export function canonicalAddress(address: string): string {
  return ipaddr.process(address).toString();
}

/**
 * Why an address may not be reached unless a policy CIDR names it, or undefined
 * for a global unicast address. Loopback, private, link-local, multicast and every
 * special-purpose range (unspecified, documentation, benchmarking, NAT64 and 6to4,
 * which embed IPv4 addresses) are refused, in IPv4, IPv6 and IPv4-mapped form.
 */
export function specialAddressRule(address: string): EgressRefusal | undefined {
  const parsed = ipaddr.process(address);
  if (METADATA_ADDRESSES.has(parsed.toString())) return 'address-metadata';
  const range = parsed.range();
  if (range === 'unicast') return undefined;
  return RANGE_RULES[range] ?? 'address-reserved';
}

export function isMetadataAddress(address: string): boolean {
  return METADATA_ADDRESSES.has(canonicalAddress(address));
}

/** A policy's CIDRs, ready to match addresses against. */
export class CidrSet {
  readonly #ranges: { text: string; range: [ipaddr.IPv4 | ipaddr.IPv6, number] }[];

  /** `cidrs` are canonical (policy/egress.ts `Cidr`). */
  constructor(cidrs: readonly string[]) {
    this.#ranges = cidrs.map((text) => ({ text, range: ipaddr.parseCIDR(text) }));
  }

  /** The CIDR that lets `address` through, if any; a metadata address needs one that names it alone. */
  match(address: string): string | undefined {
    const parsed = ipaddr.process(address);
    const isMetadata = METADATA_ADDRESSES.has(parsed.toString());
    for (const { text, range } of this.#ranges) {
      if (parsed.kind() !== range[0].kind()) continue;
      if (isMetadata && range[1] !== (parsed.kind() === 'ipv4' ? 32 : 128)) continue;
      if (parsed.match(range)) return text;
    }
    return undefined;
  }
}
