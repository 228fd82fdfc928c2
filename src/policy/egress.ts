import net from 'node:net';
import { domainToASCII } from 'node:url';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { Bytes } from './units.ts';

export const DEFAULT_EGRESS_PORTS = [80, 443];
export const DEFAULT_EGRESS_CONNECTIONS = 32;
const MAX_HOSTS = 1000;
const MAX_HOST_NAME_BYTES = 253;
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
/** Characters a URL parser would stop at or decode (`a/b` parses as host `a`): never part of a name. */
const NOT_IN_A_NAME = /[\s/\\?#@:%[\]<>^|"'`{}]/;

function hasControlCharacter(text: string): boolean {
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}
export const HOST_LIST_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** A host as the allow-list compares it: a name in lower-case ASCII (IDN as punycode), or an IP address. */
export type CanonicalHost = { kind: 'name'; name: string } | { kind: 'ip'; address: string };

/**
 * The one spelling of a host: upper case, a trailing dot, full-width letters and
 * IDN all reduce to the ASCII name a resolver would be asked for, and anything a
 * URL parser reads as an address (`127.1`, `0x7f000001`, `[::ffff:7f00:1]`) becomes
 * that address. Undefined when it is neither a valid name nor an address.
 */
export function canonicalHost(raw: string): CanonicalHost | undefined {
  const bare = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
  if (net.isIP(bare) !== 0) return { kind: 'ip', address: ipaddr.process(bare).toString() };
  const isTooLong = bare.length > MAX_HOST_NAME_BYTES + 1;
  if (bare.length === 0 || isTooLong || NOT_IN_A_NAME.test(bare) || hasControlCharacter(bare))
    return undefined;
  const ascii = domainToASCII(bare.endsWith('.') ? bare.slice(0, -1) : bare);
  if (net.isIP(ascii) !== 0) return { kind: 'ip', address: ipaddr.process(ascii).toString() };
  if (ascii.length === 0 || ascii.length > MAX_HOST_NAME_BYTES) return undefined;
  return ascii.split('.').every((label) => LABEL.test(label)) ? { kind: 'name', name: ascii } : undefined;
}

/** `registry.example.com` (that name) or `*.example.com` (any name under it, not the name itself). */
export const HostPattern = z
  .string()
  .max(MAX_HOST_NAME_BYTES + 3)
  .transform((value, context) => {
    const isPattern = value.startsWith('*.');
    const host = canonicalHost(isPattern ? value.slice(2) : value);
    if (host?.kind === 'ip') {
      context.addIssue({ code: 'custom', message: `${value} is an address: list addresses under cidrs` });
      return z.NEVER;
    }
    if (host === undefined || (isPattern && !host.name.includes('.'))) {
      context.addIssue({
        code: 'custom',
        message: `expected a host name (registry.example.com) or a pattern of two labels or more (*.example.com), got "${value}"`,
      });
      return z.NEVER;
    }
    return isPattern ? `*.${host.name}` : host.name;
  });

/** An address range in CIDR notation, kept in its canonical form (`10.1.0.0/16`, `fd00::/8`). */
export const Cidr = z
  .string()
  .max(64)
  .transform((value, context) => {
    const [address = '', prefix = '', ...rest] = value.split('/');
    const family = net.isIP(address);
    const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : -1;
    if (family === 0 || rest.length > 0 || bits < 0 || bits > (family === 4 ? 32 : 128)) {
      context.addIssue({
        code: 'custom',
        message: `expected a range like 10.1.0.0/16 or fd00::/8, got "${value}"`,
      });
      return z.NEVER;
    }
    const parsed = ipaddr.parse(address);
    if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
      context.addIssue({ code: 'custom', message: `write IPv4 ranges in IPv4 form, got "${value}"` });
      return z.NEVER;
    }
    const network =
      parsed.kind() === 'ipv4'
        ? ipaddr.IPv4.networkAddressFromCIDR(`${address}/${bits}`)
        : ipaddr.IPv6.networkAddressFromCIDR(`${address}/${bits}`);
    return `${network.toString()}/${bits}`;
  });

const Port = z.number().int().min(1).max(65_535);
const unique = <T>(values: T[]) => [...new Set(values)];

export const EgressLimits = z
  .object({
    /** Tunnels open at once (resolving, connecting or carrying bytes). */
    connections: z.number().int().min(1).max(4096).default(DEFAULT_EGRESS_CONNECTIONS),
    /** Bytes per second across all the sandbox's tunnels, both directions; unset: unlimited. */
    bytesPerSecond: Bytes.optional(),
    /** Bytes the sandbox may move in its lifetime (this control plane's), both directions; unset: unlimited. */
    totalBytes: Bytes.optional(),
  })
  .strict();
export type EgressLimits = z.output<typeof EgressLimits>;

/** The `network.egress` section of a policy, and the body of PATCH /v1/sandboxes/:id. */
export const EgressSection = z
  .object({
    hosts: z.array(HostPattern).max(MAX_HOSTS).default([]).transform(unique),
    /** Host-list files (policies/hosts/NAME.yaml) whose hosts are added. */
    include: z
      .array(z.string().regex(HOST_LIST_NAME, 'a host-list name'))
      .max(32)
      .default([])
      .transform(unique),
    ports: z
      .array(Port)
      .min(1)
      .max(64)
      .default(DEFAULT_EGRESS_PORTS)
      .transform((ports) => unique(ports).sort((a, b) => a - b)),
    /** Addresses reachable although private, loopback or link-local (explicit internal targets). */
    cidrs: z.array(Cidr).max(64).default([]).transform(unique),
    limits: EgressLimits.prefault({}),
    /** The user may add hosts for one sandbox when asked over MCP elicitation (request_permissions). */
    ask: z.boolean().default(false),
  })
  .strict();
export type EgressSection = z.output<typeof EgressSection>;

/** `none` (the default: only loopback), or an egress allow-list through the agent's proxy. */
export const Network = z.union([z.literal('none'), z.object({ egress: EgressSection }).strict()]);
export type Network = z.output<typeof Network>;

/** A host-list file, policies/hosts/NAME.yaml: hosts a team names once and policies include. */
export const HostList = z
  .object({
    description: z.string().max(1000).default(''),
    hosts: z.array(HostPattern).min(1).max(MAX_HOSTS),
  })
  .strict();

/**
 * What a sandbox may reach: the policy's section with its included host lists
 * expanded. Kept in canonical form, so it is also how a changed list is stored.
 */
export const EgressAllowList = z.object({
  hosts: z.array(z.string().max(MAX_HOST_NAME_BYTES + 2)).max(MAX_HOSTS * 33),
  include: z.array(z.string().regex(HOST_LIST_NAME)).max(32),
  ports: z.array(Port).min(1).max(64),
  cidrs: z.array(z.string().max(64)).max(64),
  limits: EgressLimits,
  /** Absent in lists kept before the field existed: false. */
  ask: z.boolean().default(false),
});
export type EgressAllowList = z.output<typeof EgressAllowList>;

/** The allow-list of a section whose included lists are `hostLists` (each already canonical). */
export function allowListOf(section: EgressSection, hostLists: Record<string, string[]>): EgressAllowList {
  const included = section.include.flatMap((name) => {
    const hosts = hostLists[name];
    if (hosts === undefined) throw new Error(`host list ${name} was not loaded`);
    return hosts;
  });
  return {
    hosts: unique([...section.hosts, ...included]),
    include: section.include,
    ports: section.ports,
    cidrs: section.cidrs,
    limits: section.limits,
    ask: section.ask,
  };
}
