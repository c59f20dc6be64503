// IPv4 addresses and subnets as numbers, parsed once: `10.1.2.3`,
// `10.1.0.0/16`. Everything the IPAM and the firewall rules compute on.
import { wharfError } from "../internal/index.js";

/** An IPv4 address as an unsigned 32-bit number. */
export type Ipv4 = number & { readonly __ipv4: true };

export interface Subnet {
  /** The network address (host bits zero). */
  readonly base: Ipv4;
  readonly prefix: number;
}

export function parseIpv4(text: string): Ipv4 {
  const m = /^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$/.exec(text.trim());
  if (!m) throw wharfError("invalid-argument", `invalid IPv4 address: ${JSON.stringify(text)}`);
  let n = 0;
  for (const part of m.slice(1)) {
    const v = Number(part);
    if (v > 255 || (part.length > 1 && part.startsWith("0"))) throw wharfError("invalid-argument", `invalid IPv4 address: ${JSON.stringify(text)}`);
    n = n * 256 + v;
  }
  return n as Ipv4;
}

export function isIpv4(text: string): boolean {
  try {
    parseIpv4(text);
    return true;
  } catch {
    return false;
  }
}

export function formatIpv4(ip: Ipv4 | number): string {
  return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join(".");
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** `10.1.0.0/16`; host bits must be zero unless `loose` (then they are cleared, as `--bip 10.1.0.1/16` means). */
export function parseSubnet(text: string, options: { loose?: boolean } = {}): Subnet {
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(text.trim());
  if (!m) throw wharfError("invalid-argument", `invalid subnet ${JSON.stringify(text)}: expected an IPv4 CIDR such as 10.1.0.0/16`);
  const ip = parseIpv4(m[1]!);
  const prefix = Number(m[2]);
  if (prefix > 30 || prefix < 8) throw wharfError("invalid-argument", `invalid subnet ${JSON.stringify(text)}: the prefix length must be between 8 and 30`);
  const base = (ip & maskOf(prefix)) >>> 0;
  if (base !== ip && !options.loose) throw wharfError("invalid-argument", `invalid subnet ${JSON.stringify(text)}: it has host bits set (did you mean ${formatIpv4(base)}/${prefix}?)`);
  return { base: base as Ipv4, prefix };
}

export function formatSubnet(s: Subnet): string {
  return `${formatIpv4(s.base)}/${s.prefix}`;
}

export function subnetSize(s: Subnet): number {
  return 2 ** (32 - s.prefix);
}

export function broadcast(s: Subnet): Ipv4 {
  return (s.base + subnetSize(s) - 1) as Ipv4;
}

export function contains(s: Subnet, ip: Ipv4): boolean {
  return ((ip & maskOf(s.prefix)) >>> 0) === s.base;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  return contains(a, b.base) || contains(b, a.base);
}

/** Whether `inner` lies wholly inside `outer`. */
export function within(outer: Subnet, inner: Subnet): boolean {
  return inner.prefix >= outer.prefix && contains(outer, inner.base);
}

/** The `n`-th subnet of size `/prefix` inside `pool`, or undefined past its end. */
export function nthSubnet(pool: Subnet, prefix: number, n: number): Subnet | undefined {
  if (prefix < pool.prefix) return undefined;
  const count = 2 ** (prefix - pool.prefix);
  if (n < 0 || n >= count) return undefined;
  return { base: (pool.base + n * 2 ** (32 - prefix)) as Ipv4, prefix };
}
