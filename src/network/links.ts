// Links, addresses, routes and namespaces through iproute2, as batches: each
// step is a list of `ip` commands (data) run by one process. A container's
// namespace is made by `unshare --net=<file>`, which also runs the batch
// inside it, so one process creates the namespace, its veth pairs (the host
// ends are moved straight to the daemon's namespace), addresses and routes;
// a second puts the host ends on their bridges.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { errnoCode, failureDetail, runProgram, sys, wharfError } from "../internal/index.js";

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

export interface EndpointPlan {
  readonly ifName: string;
  readonly hostIf: string;
  readonly bridge: string;
  readonly address: string;
  readonly prefix: number;
  readonly mac: string;
  readonly mtu: number;
}

/** Inside the new namespace: loopback up, each veth pair made, the host end sent to `hostPid`'s namespace. */
export function sandboxBatch(endpoints: readonly EndpointPlan[], gateway: string | undefined, hostPid: number): string[] {
  const lines = ["link set lo up"];
  for (const e of endpoints) {
    lines.push(`link add ${e.ifName} mtu ${e.mtu} address ${e.mac} type veth peer name ${e.hostIf} mtu ${e.mtu} netns ${hostPid}`);
    lines.push(`addr add ${e.address}/${e.prefix} dev ${e.ifName}`);
    lines.push(`link set ${e.ifName} up`);
  }
  if (gateway) lines.push(`route add default via ${gateway}`);
  return lines;
}

/** In the daemon's namespace: the host ends onto their bridges, up. */
export function hostBatch(endpoints: readonly EndpointPlan[]): string[] {
  return endpoints.map((e) => `link set ${e.hostIf} master ${e.bridge} up`);
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

export async function ipBatch(batch: readonly string[]): Promise<void> {
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
