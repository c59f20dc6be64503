// `--user` resolved as docker does: a name or uid, optionally `:group` or
// `:gid`, looked up in the image's /etc/passwd and /etc/group. Pure: the
// caller reads the two files (inside the container's root) and passes them.
import { wharfError } from "../internal/index.js";

export interface ExecUser {
  readonly uid: number;
  readonly gid: number;
  /** Groups the user is a member of in /etc/group, and any given explicitly. */
  readonly additionalGids: readonly number[];
  /** From /etc/passwd; `/` when the user has no entry. */
  readonly home: string;
}

interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

const ID_MAX = 2 ** 31 - 1;

function parseId(s: string): number | undefined {
  if (!/^[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= ID_MAX ? n : undefined;
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const f = line.split(":");
    const uid = parseId(f[2] ?? "");
    const gid = parseId(f[3] ?? "");
    if (f[0] && uid !== undefined && gid !== undefined) out.push({ name: f[0], uid, gid, home: f[5] || "/" });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const f = line.split(":");
    const gid = parseId(f[2] ?? "");
    if (f[0] && gid !== undefined) out.push({ name: f[0], gid, members: (f[3] ?? "").split(",").filter(Boolean) });
  }
  return out;
}

/**
 * Resolves `spec` (`""`, `name`, `uid`, `name:group`, `uid:gid`…) against the
 * image's files (undefined when the image has none). Names must exist; numbers
 * need not, as docker allows any uid.
 */
export function resolveUser(spec: string, passwd: string | undefined, group: string | undefined, extraGroups: readonly string[] = []): ExecUser {
  const [userPart = "", groupPart] = spec.split(":", 2) as [string, string | undefined];
  const users = parsePasswd(passwd ?? "");
  const groups = parseGroup(group ?? "");
  let uid = 0;
  let gid = 0;
  let home = "/";
  let name: string | undefined;
  const userText = userPart === "" ? "0" : userPart;
  const byNumber = parseId(userText);
  const entry = byNumber !== undefined ? users.find((u) => u.uid === byNumber) : users.find((u) => u.name === userText);
  if (entry) {
    uid = entry.uid;
    gid = entry.gid;
    home = entry.home;
    name = entry.name;
  } else if (byNumber !== undefined) {
    uid = byNumber;
  } else {
    throw wharfError("invalid-argument", `unable to find user ${userText}: no matching entries in passwd file`);
  }
  if (groupPart !== undefined && groupPart !== "") gid = groupId(groupPart, groups);
  // The primary group first, as docker's user lookup lists it (`id` shows groups=0(root),10(wheel)).
  const additional = new Set<number>([gid]);
  // Supplementary groups from /etc/group only when no group was named, as runc's user lookup does.
  if (name !== undefined && (groupPart === undefined || groupPart === "")) {
    for (const g of groups) if (g.members.includes(name)) additional.add(g.gid);
  }
  for (const g of extraGroups) additional.add(groupId(g, groups));
  return { uid, gid, additionalGids: [...additional], home };
}

function groupId(text: string, groups: readonly GroupEntry[]): number {
  const n = parseId(text);
  if (n !== undefined) return n;
  const g = groups.find((x) => x.name === text);
  if (!g) throw wharfError("invalid-argument", `unable to find group ${text}: no matching entries in group file`);
  return g.gid;
}
