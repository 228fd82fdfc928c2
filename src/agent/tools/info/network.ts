import { readdir, readFile } from 'node:fs/promises';
import type { ExecEnvironment } from '#protocol/tools/info';
import { errorCode, type Notes, readTextOrNull } from './best-effort.ts';

const IFF_LOOPBACK = 0x8;
/** RTF_REJECT: an "unreachable" route, which the kernel installs on lo when IPv6 has nothing else. */
const RTF_REJECT = 0x0200;

interface Route {
  iface: string;
  isDefault: boolean;
  isReject: boolean;
}

/** Rows of /proc/net/route: Iface Destination Gateway Flags RefCnt Use Metric Mask … (hex). */
export function parseIpv4Routes(text: string): Route[] {
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 8)
    .map(([iface, destination, , flags, , , , mask]) => ({
      iface: iface as string,
      isDefault:
        Number.parseInt(destination as string, 16) === 0 && Number.parseInt(mask as string, 16) === 0,
      isReject: (Number.parseInt(flags as string, 16) & RTF_REJECT) !== 0,
    }));
}

/** Rows of /proc/net/ipv6_route: dest dest_len src src_len next_hop metric refcnt use flags iface. */
export function parseIpv6Routes(text: string): Route[] {
  return text
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 10)
    .map((fields) => ({
      iface: fields[9] as string,
      isDefault: /^0+$/.test(fields[0] as string) && Number.parseInt(fields[1] as string, 16) === 0,
      isReject: (Number.parseInt(fields[8] as string, 16) & RTF_REJECT) !== 0,
    }));
}

async function isLoopback(name: string): Promise<boolean> {
  try {
    const flags = await readFile(`/sys/class/net/${name}/flags`, 'utf8');
    return (Number.parseInt(flags.trim(), 16) & IFF_LOOPBACK) !== 0;
  } catch {
    return name === 'lo';
  }
}

/** Interface names from /sys/class/net, or from /proc/net/dev when sysfs is not there. */
async function interfaceNames(notes: Notes): Promise<string[] | null> {
  try {
    return (await readdir('/sys/class/net')).sort();
  } catch (error) {
    notes.push(`/sys/class/net: unreadable (${errorCode(error)}); using /proc/net/dev`);
  }
  const dev = await readTextOrNull('/proc/net/dev', notes);
  if (dev === null) return null;
  return dev
    .split('\n')
    .slice(2)
    .map((line) => line.split(':')[0]?.trim() ?? '')
    .filter((name) => name !== '')
    .sort();
}

/** Interfaces and routes of the network namespace the agent (and every command) lives in. */
export async function networkReport(notes: Notes): Promise<ExecEnvironment['network']> {
  const names = await interfaceNames(notes);
  const interfaces =
    names === null
      ? null
      : await Promise.all(names.map(async (name) => ({ name, is_loopback: await isLoopback(name) })));
  const loopbacks = new Set(
    interfaces?.filter((item) => item.is_loopback).map((item) => item.name) ?? ['lo'],
  );
  const usable = (routes: Route[]) =>
    routes.filter((route) => !route.isReject && !loopbacks.has(route.iface));
  const ipv4Text = await readTextOrNull('/proc/net/route', notes);
  const ipv6Text = await readTextOrNull('/proc/net/ipv6_route', notes);
  const ipv4 = ipv4Text === null ? null : usable(parseIpv4Routes(ipv4Text));
  const ipv6 = ipv6Text === null ? null : usable(parseIpv6Routes(ipv6Text));
  const hasDefault = (routes: Route[] | null) => routes?.some((route) => route.isDefault) ?? null;
  const v4Default = hasDefault(ipv4);
  const v6Default = hasDefault(ipv6);
  return {
    interfaces,
    has_non_loopback_interface: interfaces === null ? null : interfaces.some((item) => !item.is_loopback),
    ipv4_routes: ipv4?.length ?? null,
    ipv6_routes: ipv6?.length ?? null,
    // A kernel without IPv6 has no ipv6_route: then IPv4 alone decides.
    has_default_route: v4Default === true || v6Default === true ? true : (v4Default ?? v6Default),
  };
}
