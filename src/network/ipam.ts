// Address management: which subnet a new network gets (never one a host
// route or another network holds) and which address a new endpoint gets
// (never the gateway, the network or broadcast address, or one in use).
// Pure functions over what is in use; the manager keeps that set.
import { wharfError } from "../internal/index.js";
import { broadcast, contains, formatIpv4, formatSubnet, nthSubnet, overlaps, parseIpv4, parseSubnet, subnetSize, type Ipv4, type Subnet } from "./ipv4.js";

/** A pool new networks are cut from: dockerd's `--default-address-pool base=…,size=…`. */
export interface AddressPool {
  readonly base: Subnet;
  readonly size: number;
}

export function parseAddressPool(text: string): AddressPool {
  const fields = new Map<string, string>();
  for (const part of text.split(",")) {
    const i = part.indexOf("=");
    if (i <= 0) throw wharfError("invalid-argument", `invalid address pool ${JSON.stringify(text)}: expected base=CIDR,size=N`);
    fields.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  const base = fields.get("base");
  const size = Number(fields.get("size") ?? "24");
  if (!base) throw wharfError("invalid-argument", `invalid address pool ${JSON.stringify(text)}: base is missing`);
  const subnet = parseSubnet(base);
  if (!Number.isInteger(size) || size < subnet.prefix || size > 30) throw wharfError("invalid-argument", `invalid address pool ${JSON.stringify(text)}: size must be between the base's prefix (${subnet.prefix}) and 30`);
  return { base: subnet, size };
}

export const DEFAULT_POOL: AddressPool = { base: parseSubnet("10.210.0.0/16"), size: 24 };

/** The first subnet of the pools that overlaps nothing taken; unavailable when all are. */
export function pickSubnet(pools: readonly AddressPool[], taken: readonly Subnet[]): Subnet {
  for (const pool of pools) {
    for (let n = 0; ; n++) {
      const s = nthSubnet(pool.base, pool.size, n);
      if (!s) break;
      if (!taken.some((t) => overlaps(t, s))) return s;
    }
  }
  throw wharfError("unavailable", "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network");
}

/** The address plan of one network. */
export interface AddressPlan {
  readonly subnet: Subnet;
  readonly gateway: Ipv4;
  /** Where endpoint addresses come from; the subnet when no `--ip-range`. */
  readonly range: Subnet;
}

export function planAddresses(subnetText: string, gatewayText?: string, rangeText?: string): AddressPlan {
  const subnet = parseSubnet(subnetText);
  const gateway = gatewayText ? parseIpv4(gatewayText) : ((subnet.base + 1) as Ipv4);
  if (!usable(subnet, gateway)) throw wharfError("invalid-argument", `invalid gateway ${formatIpv4(gateway)}: not a host address of subnet ${formatSubnet(subnet)}`);
  const range = rangeText ? parseSubnet(rangeText) : subnet;
  if (!(range.prefix >= subnet.prefix && contains(subnet, range.base))) throw wharfError("invalid-argument", `invalid ip-range ${formatSubnet(range)}: not inside subnet ${formatSubnet(subnet)}`);
  return { subnet, gateway, range };
}

function usable(subnet: Subnet, ip: Ipv4): boolean {
  return contains(subnet, ip) && ip !== subnet.base && ip !== broadcast(subnet);
}

/**
 * The next free endpoint address: after `last` (round robin, as dockerd, so a
 * released address is not handed out again at once), wrapping around.
 */
export function allocateAddress(plan: AddressPlan, used: ReadonlySet<number>, last?: Ipv4): Ipv4 {
  const size = subnetSize(plan.range);
  const start = last !== undefined && contains(plan.range, last) ? last - plan.range.base + 1 : 0;
  for (let i = 0; i < size; i++) {
    const ip = (plan.range.base + ((start + i) % size)) as Ipv4;
    if (ip === plan.gateway || used.has(ip) || !usable(plan.subnet, ip)) continue;
    return ip;
  }
  throw wharfError("unavailable", `no available IPv4 addresses on this network's address pools: ${formatSubnet(plan.subnet)}`);
}

/** A static address (`--ip`) checked against the plan and what is in use. */
export function claimAddress(plan: AddressPlan, used: ReadonlySet<number>, text: string): Ipv4 {
  const ip = parseIpv4(text);
  if (!usable(plan.subnet, ip) || ip === plan.gateway) throw wharfError("invalid-argument", `invalid IP address ${text}: not a free host address of subnet ${formatSubnet(plan.subnet)}`);
  if (used.has(ip)) throw wharfError("conflict", `Address already in use: ${text}`);
  return ip;
}
