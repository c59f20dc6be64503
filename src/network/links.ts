// Links, addresses, routes and namespaces. A container's namespace is made and
// wired by native jobs (an empty namespace bound at a file, then its veth
// pairs, addresses and routes over rtnetlink): no process at a start. The
// rarer steps (bridges, a link's removal, the host's routes) are `ip`
// commands, as batches (data) run by one process.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { errnoCode, failureDetail, runProgram, sys, wharfError, type NetnsLink } from "../internal/index.js";

export async function run(cmd: string, args: readonly string[], input?: string): Promise<string> {
  const what = `${cmd} ${args.slice(0, 3).join(" ")}`;
  let r;
  try {
    r = await runProgram(cmd, args, { input: input ?? "", timeoutMs: 30_000 });
  } catch (e) {
    throw wharfError("unavailable", `${what}: ${e instanceof Error ? e.message : String(e)}`, e);
  }
  if (r.status !== 0) throw wharfError("unavailable", `${what}: ${failureDetail(r)}`);
  return r.stdout.toString("utf8");
}

/** One endpoint of a container: its veth pair, on which bridge, with which MAC, MTU and IPv4 address. */
export type EndpointPlan = NetnsLink;

/**
 * Wires the namespace bound at `file` in one native job over rtnetlink (no
 * process): loopback up when `loopback`; per endpoint a veth pair whose host
 * end goes to the daemon's namespace, its address, the link up, then the host
 * end onto its bridge, up; the default route via `gateway` when given. A
 * failure part way leaves what was made inside the namespace (removing the
 * namespace removes it, host ends too).
 */
export async function wireNamespace(file: string, endpoints: readonly EndpointPlan[], gateway: string | undefined, loopback: boolean): Promise<void> {
  try {
    await sys().netnsWire(file, endpoints, gateway ?? null, loopback);
  } catch (e) {
    throw wharfError("unavailable", `wire network namespace: ${e instanceof Error ? e.message : String(e)}`, e);
  }
}

/** Makes a new, empty network namespace bound at `file` (no process; ~1 ms on the thread pool). */
export async function createNamespace(file: string): Promise<void> {
  try {
    await sys().netnsCreate(file);
  } catch (e) {
    if (errnoCode(e) !== "ENOENT") throw e;
    // The namespaces' directory is made at the first one.
    await mkdir(file.slice(0, file.lastIndexOf("/")), { recursive: true, mode: 0o700 });
    await sys().netnsCreate(file);
  }
}

/** Runs a batch inside the namespace bound at `file`. */
export async function inNamespace(file: string, batch: readonly string[]): Promise<void> {
  await run("nsenter", [`--net=${file}`, "ip", "-batch", "-"], batch.join("\n") + "\n");
}

async function ipBatch(batch: readonly string[]): Promise<void> {
  if (batch.length === 0) return;
  await run("ip", ["-batch", "-"], batch.join("\n") + "\n");
}

/** Whether a link exists in the daemon's network namespace (/proc/self/net is the reader's; /sys/class/net is the mounter's). */
export async function linkExists(name: string): Promise<boolean> {
  const dev = await readFile("/proc/self/net/dev", "utf8");
  return dev.split("\n").some((l) => l.trim().startsWith(`${name}:`));
}

/** The bridge up with its gateway address; made when missing. Loopback traffic may be routed to it (published ports on 127.0.0.1). */
export async function ensureBridge(name: string, gatewayCidr: string, mtu: number): Promise<void> {
  const batch: string[] = [];
  if (!(await linkExists(name))) batch.push(`link add ${name} mtu ${mtu} type bridge`);
  const addrs = batch.length > 0 ? "" : await run("ip", ["-o", "-4", "addr", "show", "dev", name]);
  if (!addrs.includes(` ${gatewayCidr} `)) batch.push(`addr add ${gatewayCidr} dev ${name}`);
  batch.push(`link set ${name} up`);
  await ipBatch(batch);
  await writeFile(`/proc/sys/net/ipv4/conf/${name}/route_localnet`, "1").catch(() => {});
}

export async function deleteLink(name: string): Promise<void> {
  if (await linkExists(name)) await run("ip", ["link", "del", name]).catch(() => {});
}

/** The IPv4 routes of the host, as `a.b.c.d/n` destinations (for subnets not to take). */
export async function hostRoutes(): Promise<string[]> {
  const out = await run("ip", ["-o", "-4", "route", "show", "table", "all"]).catch(() => "");
  const routes: string[] = [];
  for (const line of out.split("\n")) {
    const dest = line.trim().split(/\s+/)[0];
    if (!dest || dest === "default" || dest === "broadcast" || dest === "local" || dest === "unreachable") {
      const m = /^(?:local|broadcast|unreachable)\s+(\S+)/.exec(line.trim());
      if (m && m[1]!.includes("/")) routes.push(m[1]!);
      continue;
    }
    routes.push(dest.includes("/") ? dest : `${dest}/32`);
  }
  return routes;
}
