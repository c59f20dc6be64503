// Published ports: `HostConfig.PortBindings` (and `-P`'s exposed ports)
// read once into port requests; a host port of 0 is chosen at bind time.
import { wharfError } from "../internal/index.js";
import { isIpv4 } from "./ipv4.js";
import type { Protocol } from "./types.js";

export interface PortRequest {
  readonly Proto: Protocol;
  readonly HostIp: string;
  /** First and last host port to try; [0, 0] for any. */
  readonly HostPorts: readonly [number, number];
  readonly ContainerPort: number;
}

function parsePortNumber(text: string, what: string): number {
  if (!/^[0-9]{1,5}$/.test(text)) throw wharfError("invalid-argument", `invalid ${what} ${JSON.stringify(text)}`);
  const n = Number(text);
  if (n < 1 || n > 65535) throw wharfError("invalid-argument", `invalid ${what} ${JSON.stringify(text)}: out of range`);
  return n;
}

/** `80/tcp` → [80, "tcp"]. */
export function parsePortKey(key: string): { port: number; proto: Protocol } {
  const [port = "", proto = "tcp"] = key.split("/");
  if (proto !== "tcp" && proto !== "udp") throw wharfError("invalid-argument", `invalid proto ${JSON.stringify(proto)} in ${JSON.stringify(key)}: only tcp and udp are supported`);
  return { port: parsePortNumber(port, "container port"), proto };
}

function hostPorts(text: string): [number, number] {
  if (text === "" || text === "0") return [0, 0];
  const m = /^([0-9]+)-([0-9]+)$/.exec(text);
  if (m) {
    const a = parsePortNumber(m[1]!, "host port");
    const b = parsePortNumber(m[2]!, "host port");
    if (b < a) throw wharfError("invalid-argument", `invalid host port range ${JSON.stringify(text)}`);
    return [a, b];
  }
  const p = parsePortNumber(text, "host port");
  return [p, p];
}

/** The port requests of a create request, checked; `-P` adds each exposed port without a binding. */
/** `defaultIp`: where a binding that names no host address goes (the network's `host_binding_ipv4`, dockerd's `--ip`). */
export function portRequests(bindings: Record<string, readonly { HostIp: string; HostPort: string }[] | null>, exposed: Record<string, object> | undefined, publishAll: boolean, defaultIp = "0.0.0.0"): PortRequest[] {
  const out: PortRequest[] = [];
  for (const [key, list] of Object.entries(bindings ?? {})) {
    const { port, proto } = parsePortKey(key);
    for (const b of list ?? []) {
      const hostIp = b?.HostIp ?? "";
      if (hostIp !== "" && !isIpv4(hostIp)) throw wharfError(hostIp.includes(":") ? "not-implemented" : "invalid-argument", `invalid host IP ${JSON.stringify(hostIp)}: ${hostIp.includes(":") ? "IPv6 bindings are not supported yet" : "expected an IPv4 address"}`);
      out.push({ Proto: proto, HostIp: hostIp || defaultIp, HostPorts: hostPorts(b?.HostPort ?? ""), ContainerPort: port });
    }
  }
  if (publishAll) {
    for (const key of Object.keys(exposed ?? {})) {
      const { port, proto } = parsePortKey(key);
      if (out.some((r) => r.ContainerPort === port && r.Proto === proto)) continue;
      out.push({ Proto: proto, HostIp: defaultIp, HostPorts: [0, 0], ContainerPort: port });
    }
  }
  return out;
}
