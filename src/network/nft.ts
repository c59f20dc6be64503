// wharf's nftables table, as data. The whole table is rendered from the
// networks and the published ports and replaced in one `nft -f` transaction
// (add, delete, define: atomic, whatever was there before), so a rule can
// never be left behind by a crash between two edits: the next apply is the
// truth. Rules:
//   - published ports: DNAT of traffic to a local address (from outside in
//     prerouting, from the host itself in output, loopback included: the
//     bridges have route_localnet, and loopback sources are masqueraded);
//   - outbound: masquerade of a network's subnet leaving by another interface,
//     except for internal networks;
//   - forward: internal networks reach nothing but themselves; networks do
//     not reach each other.
// A second, smaller piece lives in the `ip filter` table that iptables (its
// nf_tables backend) and so dockerd, ufw and firewalld use: a chain
// `WHARF-<table>` accepting what enters or leaves wharf's bridges, jumped to
// from the end of FORWARD. A FORWARD policy of DROP (dockerd sets it) would
// otherwise drop what wharf's own forward chain lets through, as a drop in
// any table is final; what wharf's chain drops stays dropped.
import { failureDetail, runProgram, wharfError } from "../internal/index.js";
import type { PortMapping } from "./types.js";

export interface TableNetwork {
  readonly bridge: string;
  readonly subnet: string;
  readonly internal: boolean;
}

export interface TablePort extends PortMapping {
  readonly ContainerIp: string;
}

export interface TableState {
  readonly networks: readonly TableNetwork[];
  readonly ports: readonly TablePort[];
}

const quote = (s: string): string => `"${s.replace(/["\\]/g, "")}"`;

/** The nft script that makes table `name` exactly `state`. */
export function renderTable(name: string, state: TableState): string {
  const lines: string[] = [];
  lines.push(`table ip ${name}`, `delete table ip ${name}`, `table ip ${name} {`);
  const bridges = state.networks.map((n) => quote(n.bridge));
  lines.push(`  set bridges { type ifname; ${bridges.length > 0 ? `elements = { ${bridges.join(", ")} }` : ""} }`);
  lines.push("  chain prerouting { type nat hook prerouting priority dstnat; policy accept; fib daddr type local jump ports; }");
  lines.push("  chain output { type nat hook output priority -100; policy accept; fib daddr type local jump ports; }");
  lines.push("  chain ports {");
  // A binding to one address wins over a binding to all of them.
  const ports = [...state.ports].sort((a, b) => Number(a.HostIp === "0.0.0.0") - Number(b.HostIp === "0.0.0.0"));
  for (const p of ports) {
    const daddr = p.HostIp === "0.0.0.0" ? "" : `ip daddr ${p.HostIp} `;
    lines.push(`    ${daddr}${p.Proto} dport ${p.HostPort} dnat to ${p.ContainerIp}:${p.ContainerPort};`);
  }
  lines.push("  }");
  lines.push("  chain postrouting { type nat hook postrouting priority srcnat; policy accept;");
  for (const n of state.networks) {
    lines.push(`    oifname ${quote(n.bridge)} ip saddr 127.0.0.0/8 masquerade;`);
    if (!n.internal) lines.push(`    ip saddr ${n.subnet} oifname != ${quote(n.bridge)} masquerade;`);
  }
  lines.push("  }");
  lines.push("  chain forward { type filter hook forward priority filter; policy accept;");
  for (const n of state.networks) {
    const br = quote(n.bridge);
    if (n.internal) {
      lines.push(`    iifname ${br} oifname != ${br} drop;`);
      lines.push(`    oifname ${br} iifname != ${br} drop;`);
    } else {
      lines.push(`    iifname ${br} oifname != ${br} oifname @bridges drop;`);
    }
  }
  lines.push("  }");
  lines.push("}");
  return lines.join("\n") + "\n";
}

/** The script that removes table `name` (no error when it is not there). */
export function renderDelete(name: string): string {
  return `table ip ${name}\ndelete table ip ${name}\n`;
}

/** The chain of wharf's in iptables' `ip filter` table. */
export function filterChainName(table: string): string {
  return `WHARF-${table}`;
}

/**
 * The script that makes the `ip filter` part exactly `bridges`: FORWARD is
 * made only when missing (its policy, dockerd's DROP, is never changed), our
 * chain is filled afresh, and the jumps to it found in FORWARD (`jumpHandles`)
 * are replaced by one at its end.
 */
export function renderFilterAccept(table: string, bridges: readonly string[], jumpHandles: readonly number[]): string {
  const chain = filterChainName(table);
  const lines = ["table ip filter", "add chain ip filter FORWARD { type filter hook forward priority filter; }", `add chain ip filter ${chain}`, `flush chain ip filter ${chain}`];
  for (const b of bridges) lines.push(`add rule ip filter ${chain} iifname ${quote(b)} accept`, `add rule ip filter ${chain} oifname ${quote(b)} accept`);
  for (const h of jumpHandles) lines.push(`delete rule ip filter FORWARD handle ${h}`);
  lines.push(`add rule ip filter FORWARD jump ${chain}`);
  return lines.join("\n") + "\n";
}

/** The script that takes wharf's part out of `ip filter`: the jumps to its chain found in `listed` (FORWARD's listing), then the chain. */
export function renderFilterRemove(table: string, listed: string): string {
  if (listed === "") return "";
  const chain = filterChainName(table);
  return [...jumpHandles(listed, chain).map((h) => `delete rule ip filter FORWARD handle ${h}`), `delete chain ip filter ${chain}`].join("\n") + "\n";
}

/** Whether `nft -j list table ip filter` shows a table holding only an empty FORWARD chain that accepts: one nothing uses. */
export function bareFilterTable(listed: string): boolean {
  let items: Array<{ chain?: { name?: string; policy?: string }; rule?: unknown; set?: unknown; map?: unknown }>;
  try {
    items = (JSON.parse(listed) as { nftables?: typeof items }).nftables ?? [];
  } catch {
    return false;
  }
  const chains = items.filter((i) => i.chain);
  return chains.length === 1 && chains[0]!.chain!.name === "FORWARD" && chains[0]!.chain!.policy === "accept" && !items.some((i) => i.rule || i.set || i.map);
}

/** The handles of the rules in `nft -j list chain ip filter FORWARD` output that jump to `chain`. */
export function jumpHandles(json: string, chain: string): number[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return [];
  }
  const items = (doc as { nftables?: unknown[] } | null)?.nftables;
  if (!Array.isArray(items)) return [];
  const out: number[] = [];
  for (const item of items) {
    const rule = (item as { rule?: { handle?: unknown; expr?: unknown[] } }).rule;
    if (!rule || typeof rule.handle !== "number" || !Array.isArray(rule.expr)) continue;
    if (rule.expr.some((e) => (e as { jump?: { target?: unknown } }).jump?.target === chain)) out.push(rule.handle);
  }
  return out;
}

/** `nft -j list chain ip filter FORWARD`; "" when there is no such chain. */
export async function listForward(nft = "nft"): Promise<string> {
  const r = await runProgram(nft, ["-j", "list", "chain", "ip", "filter", "FORWARD"], { timeoutMs: 30_000 }).catch(() => undefined);
  return r?.status === 0 ? r.stdout.toString("utf8") : "";
}

/** Runs an nft script as one transaction. */
export async function applyNft(script: string, nft = "nft"): Promise<void> {
  let r;
  try {
    r = await runProgram(nft, ["-f", "-"], { input: script, timeoutMs: 30_000 });
  } catch (e) {
    throw wharfError("unavailable", `nft: ${e instanceof Error ? e.message : String(e)}`, e);
  }
  if (r.status !== 0) throw wharfError("unavailable", `nft: ${failureDetail(r)}`);
}

/** A valid nft table name from a bridge name. */
export function tableName(bridge: string): string {
  const clean = bridge.replace(/[^a-zA-Z0-9_]/g, "_");
  return /^[a-zA-Z_]/.test(clean) ? clean : `w${clean}`;
}
