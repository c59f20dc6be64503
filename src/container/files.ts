// The small files every container gets (hostname, hosts, resolv.conf), and
// reading paths inside a container's root without ever leaving it.
import { lstat, readlink } from "node:fs/promises";
import { posix } from "node:path";
import { errnoCode, sys, wharfError } from "../internal/index.js";

export function hostnameFile(hostname: string): string {
  return `${hostname}\n`;
}

/** /etc/hosts as docker writes it for a container on no network or the default one. */
export function hostsFile(hostname: string, domainname: string, extraHosts: readonly string[], ip?: string): string {
  const lines = [
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::0\tip6-localnet",
    "ff00::0\tip6-mcastprefix",
    "ff02::1\tip6-allnodes",
    "ff02::2\tip6-allrouters",
  ];
  for (const h of extraHosts) {
    const i = h.indexOf(":");
    if (i <= 0) throw wharfError("invalid-argument", `invalid extra host ${JSON.stringify(h)}: expected HOST:IP`);
    lines.push(`${h.slice(i + 1)}\t${h.slice(0, i)}`);
  }
  if (ip) lines.push(`${ip}\t${domainname ? `${hostname}.${domainname} ` : ""}${hostname}`);
  return lines.join("\n") + "\n";
}

const DEFAULT_NAMESERVERS = ["8.8.8.8", "8.8.4.4"];

/**
 * The container's resolv.conf: the host's, without loopback resolvers (they
 * would point into the container's own network namespace); Google's public
 * servers when none is left, as docker does. `dns`, `search` and `options`
 * from the create request replace the host's.
 */
export function resolvConf(hostResolv: string, overrides: { dns?: readonly string[]; search?: readonly string[]; options?: readonly string[] } = {}): string {
  const nameservers: string[] = [];
  let search: string[] = [];
  let options: string[] = [];
  for (const raw of hostResolv.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const [key, ...rest] = line.split(/\s+/);
    if (key === "nameserver" && rest[0]) {
      const ns = rest[0];
      if (/^127\./.test(ns) || ns === "::1" || ns === "0.0.0.0") continue;
      nameservers.push(ns);
    } else if (key === "search" || key === "domain") search = rest;
    else if (key === "options") options = rest;
  }
  const servers = overrides.dns && overrides.dns.length > 0 ? [...overrides.dns] : nameservers.length > 0 ? nameservers : DEFAULT_NAMESERVERS;
  if (overrides.search && overrides.search.length > 0) search = overrides.search.filter((s) => s !== ".");
  if (overrides.options && overrides.options.length > 0) options = [...overrides.options];
  const out: string[] = [];
  if (search.length > 0) out.push(`search ${search.join(" ")}`);
  for (const s of servers) out.push(`nameserver ${s}`);
  if (options.length > 0) out.push(`options ${options.join(" ")}`);
  return out.join("\n") + "\n";
}

const MAX_LINKS = 40;

/**
 * The host path of `path` inside `root`, following symlinks as the
 * container would see them: absolute targets and `..` stay inside `root`.
 * Only for a root no process is running in (nothing can swap a component
 * while we walk). The last component is followed too unless `noFollow`.
 */
export async function resolveInRoot(root: string, path: string, options: { noFollow?: boolean } = {}): Promise<string> {
  const pending = posix.normalize(`/${path}`).split("/").filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === "." || part === "") continue;
    if (part === "..") {
      done.pop();
      continue;
    }
    const candidate = posix.join(root, ...done, part);
    if (options.noFollow && pending.length === 0) {
      done.push(part);
      break;
    }
    let isLink = false;
    try {
      isLink = (await lstat(candidate)).isSymbolicLink();
    } catch (e) {
      if (errnoCode(e) !== "ENOENT") throw e;
    }
    if (!isLink) {
      done.push(part);
      continue;
    }
    if (++links > MAX_LINKS) throw wharfError("invalid-argument", `resolve ${path} in the container: too many levels of symbolic links`);
    const target = await readlink(candidate);
    if (target.startsWith("/")) done.length = 0;
    pending.unshift(...target.split("/").filter(Boolean));
  }
  return posix.join(root, ...done);
}

/**
 * Files of the container's root, each read inside it (symlinks and `..`
 * resolved as the container sees them, never leaving the root); undefined
 * for one that is absent or not a regular file. One trip to the thread pool.
 */
export async function readFilesInRoot(root: string, paths: readonly string[], maxBytes = 4 << 20): Promise<(string | undefined)[]> {
  try {
    return (await sys().readInRoot(root, paths, maxBytes)).map((b) => b?.toString("utf8"));
  } catch (e) {
    if (errnoCode(e) === "EFBIG") throw wharfError("invalid-argument", `reading ${(e as { path?: string }).path ?? paths.join(", ")} in the container: larger than ${maxBytes} bytes`);
    throw e;
  }
}
