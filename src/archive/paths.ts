// paths: what a layer entry's name means — a path inside the layer root, a
// whiteout of a name, or an opaque-directory marker — checked so that no
// name can point outside the root. Pure string work; nothing touches disk.
import { wharfError, type WharfError } from "../internal/index.js";

export const WHITEOUT_PREFIX = ".wh.";
export const OPAQUE_MARKER = ".wh..wh..opq";

/** Where an entry lands: paths are relative to the layer root, "/"-separated, never "" (the root itself). */
export type Placement =
  | { readonly kind: "root" }
  | { readonly kind: "path"; readonly path: string }
  /** `dir/.wh.NAME`: `path` is dir/NAME, the name removed from the lower layers. */
  | { readonly kind: "whiteout"; readonly path: string }
  /** `dir/.wh..wh..opq`: `dir` ("" for the root) hides everything the lower layers have in it. */
  | { readonly kind: "opaque"; readonly dir: string };

export function rejectEntry(name: string, detail: string): WharfError {
  return wharfError("invalid-argument", `apply layer: entry ${JSON.stringify(name)}: ${detail}`);
}

/**
 * The path of a name inside the layer root: a leading "./" and "."
 * components dropped, duplicated slashes collapsed. Absolute names and ".."
 * components are refused rather than cleaned, as a layer that has them was
 * made to escape. `what` names the field in errors ("hardlink target").
 */
export function normalisePath(entryName: string, value: string, what = "path"): string {
  if (value.startsWith("/")) throw rejectEntry(entryName, `${what} ${JSON.stringify(value)} is absolute`);
  const parts: string[] = [];
  for (const part of value.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") throw rejectEntry(entryName, what === "path" ? "path escapes the layer root" : `${what} ${JSON.stringify(value)} escapes the layer root`);
    parts.push(part);
  }
  return parts.join("/");
}

/** Classifies an entry name; throws invalid-argument for names that escape or bad whiteouts. */
export function placeEntry(name: string): Placement {
  const path = normalisePath(name, name);
  if (path === "") return { kind: "root" };
  const slash = path.lastIndexOf("/");
  const dir = slash === -1 ? "" : path.slice(0, slash);
  const base = path.slice(slash + 1);
  if (!base.startsWith(WHITEOUT_PREFIX)) return { kind: "path", path };
  if (base === OPAQUE_MARKER) return { kind: "opaque", dir };
  if (base.startsWith(WHITEOUT_PREFIX + WHITEOUT_PREFIX)) throw rejectEntry(name, `unsupported whiteout meta name ${JSON.stringify(base)}`);
  const removed = base.slice(WHITEOUT_PREFIX.length);
  if (removed === "") throw rejectEntry(name, "whiteout of an empty name");
  if (removed === "." || removed === "..") throw rejectEntry(name, `whiteout of ${JSON.stringify(removed)}`);
  return { kind: "whiteout", path: dir === "" ? removed : `${dir}/${removed}` };
}

/** The parent of a layer path ("" for top-level names). */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash === -1 ? "" : path.slice(0, slash);
}

/**
 * Paths the runtime mounts over (or writes into) when it starts a
 * container. A symlink there would redirect that mount onto the host.
 */
export const MOUNT_POINTS: ReadonlySet<string> = new Set(["dev", "proc", "sys", "etc", "etc/hosts", "etc/hostname", "etc/resolv.conf"]);
