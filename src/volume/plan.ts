// The mounts a container gets, from `HostConfig.Binds` (`-v`), `Mounts`
// (`--mount`), `Tmpfs` and the image's `Volumes`, as dockerd plans them:
// everything is checked first, then missing volumes are made, so bad input
// changes nothing. A declared volume whose destination another mount covers
// gets no volume of its own.
import { mkdir, stat } from "node:fs/promises";
import { wharfError } from "../internal/index.js";
import type { VolumeStore } from "./store.js";
import { VOLUME_NAME_RE } from "./store.js";
import type { PlannedMount } from "./types.js";

/** The members of `HostConfig.Mounts` entries this module reads. */
export interface MountRequest {
  Type: string;
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  BindOptions?: { Propagation?: string; NonRecursive?: boolean };
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string>; DriverConfig?: { Name?: string; Options?: Record<string, string> } };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

export interface MountHostConfig {
  readonly Binds: readonly string[] | null;
  readonly Mounts?: readonly MountRequest[] | undefined;
  readonly Tmpfs?: Readonly<Record<string, string>> | undefined;
}

const BIND_MODES = new Set(["ro", "rw", "z", "Z", "private", "rprivate", "shared", "rshared", "slave", "rslave", "nocopy", "consistent", "cached", "delegated"]);
const PROPAGATIONS = new Set(["private", "rprivate", "shared", "rshared", "slave", "rslave"]);

type Intent =
  | { kind: "bind"; mount: PlannedMount; create: boolean }
  | { kind: "volume"; mount: PlannedMount; labels?: Record<string, string>; driver?: string; driverOpts?: Record<string, string> }
  | { kind: "tmpfs"; mount: PlannedMount };

function cleanDestination(dest: string, spec: string): string {
  if (!dest.startsWith("/")) throw wharfError("invalid-argument", `invalid mount config: mount path must be absolute: ${JSON.stringify(dest)} in ${JSON.stringify(spec)}`);
  const clean = ("/" + dest.split("/").filter((p) => p !== "" && p !== ".").join("/")).replace(/\/+$/, "") || "/";
  if (clean === "/") throw wharfError("invalid-argument", `invalid volume specification: '${spec}': invalid mount config: destination can't be '/'`);
  return clean;
}

/** Parses one `-v` entry. */
function parseBind(spec: string): Intent {
  const parts = spec.split(":");
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1]) throw wharfError("invalid-argument", `invalid volume specification: '${spec}'`);
  const [src, rawDest, mode = ""] = parts as [string, string, string?];
  const modes = mode.split(",").filter(Boolean);
  for (const m of modes) if (!BIND_MODES.has(m)) throw wharfError("invalid-argument", `invalid volume specification: '${spec}': invalid mode: ${m}`);
  if (modes.includes("ro") && modes.includes("rw")) throw wharfError("invalid-argument", `invalid volume specification: '${spec}': invalid mode: ${mode}`);
  const dest = cleanDestination(rawDest, spec);
  const rw = !modes.includes("ro");
  const propagation = modes.find((m) => PROPAGATIONS.has(m));
  if (src.startsWith("/")) {
    if (modes.includes("nocopy")) throw wharfError("invalid-argument", `invalid volume specification: '${spec}': invalid mode: nocopy`);
    return { kind: "bind", create: true, mount: { Type: "bind", Source: src, Destination: dest, Mode: mode, RW: rw, Propagation: propagation ?? "rprivate" } };
  }
  if (!VOLUME_NAME_RE.test(src)) {
    throw wharfError("invalid-argument", `create ${src}: "${src}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
  }
  if (propagation) throw wharfError("invalid-argument", `invalid volume specification: '${spec}': propagation is not supported for volumes`);
  return { kind: "volume", mount: { Type: "volume", Name: src, Source: "", Destination: dest, Driver: "local", Mode: mode || "z", RW: rw, Propagation: "", NoCopy: modes.includes("nocopy") } };
}

/** Parses one `--mount` entry. */
function parseMount(m: MountRequest): Intent {
  if (!m || typeof m !== "object" || typeof m.Target !== "string" || !m.Target) throw wharfError("invalid-argument", "invalid mount config: Target must not be empty");
  const what = `type "${m.Type}"`;
  const dest = cleanDestination(m.Target, m.Target);
  const rw = m.ReadOnly !== true;
  switch (m.Type) {
    case "bind": {
      if (m.VolumeOptions) throw wharfError("invalid-argument", `invalid mount config for ${what}: VolumeOptions must not be specified`);
      if (m.TmpfsOptions) throw wharfError("invalid-argument", `invalid mount config for ${what}: TmpfsOptions must not be specified`);
      if (!m.Source) throw wharfError("invalid-argument", `invalid mount config for ${what}: field Source must not be empty`);
      if (!m.Source.startsWith("/")) throw wharfError("invalid-argument", `invalid mount config for ${what}: invalid mount path: '${m.Source}' mount path must be absolute`);
      const propagation = m.BindOptions?.Propagation || "rprivate";
      if (!PROPAGATIONS.has(propagation)) throw wharfError("invalid-argument", `invalid mount config for ${what}: invalid propagation mode: ${propagation}`);
      return { kind: "bind", create: false, mount: { Type: "bind", Source: m.Source, Destination: dest, Mode: "", RW: rw, Propagation: propagation } };
    }
    case "volume": {
      if (m.BindOptions) throw wharfError("invalid-argument", `invalid mount config for ${what}: BindOptions must not be specified`);
      if (m.TmpfsOptions) throw wharfError("invalid-argument", `invalid mount config for ${what}: TmpfsOptions must not be specified`);
      const name = m.Source ?? "";
      if (name && !VOLUME_NAME_RE.test(name)) {
        throw wharfError("invalid-argument", `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
      }
      const driver = m.VolumeOptions?.DriverConfig?.Name;
      const intent: Intent = {
        kind: "volume",
        mount: { Type: "volume", ...(name ? { Name: name } : {}), Source: "", Destination: dest, Driver: "local", Mode: "z", RW: rw, Propagation: "", NoCopy: m.VolumeOptions?.NoCopy === true },
        ...(m.VolumeOptions?.Labels ? { labels: m.VolumeOptions.Labels } : {}),
        ...(driver ? { driver } : {}),
        ...(m.VolumeOptions?.DriverConfig?.Options ? { driverOpts: m.VolumeOptions.DriverConfig.Options } : {}),
      };
      return intent;
    }
    case "tmpfs": {
      if (m.Source) throw wharfError("invalid-argument", `invalid mount config for ${what}: Source must not be specified`);
      if (m.BindOptions) throw wharfError("invalid-argument", `invalid mount config for ${what}: BindOptions must not be specified`);
      if (m.VolumeOptions) throw wharfError("invalid-argument", `invalid mount config for ${what}: VolumeOptions must not be specified`);
      const size = m.TmpfsOptions?.SizeBytes;
      if (size !== undefined && (typeof size !== "number" || size < 0)) throw wharfError("invalid-argument", `invalid mount config for ${what}: invalid tmpfs size`);
      return { kind: "tmpfs", mount: { Type: "tmpfs", Source: "", Destination: dest, Mode: "", RW: rw, Propagation: "" } };
    }
    default:
      throw wharfError("invalid-argument", `invalid mount config: mount type unknown: ${JSON.stringify(m.Type)}`);
  }
}

/**
 * Every mount of a new container, with its volumes made (named ones that do
 * not exist yet, and an anonymous one per declared volume left uncovered).
 */
export async function planMounts(store: VolumeStore, host: MountHostConfig, declared: Readonly<Record<string, object>> | null): Promise<PlannedMount[]> {
  const intents: Intent[] = [];
  for (const b of host.Binds ?? []) intents.push(parseBind(b));
  if (host.Mounts !== undefined && !Array.isArray(host.Mounts)) throw wharfError("invalid-argument", "invalid mount config: Mounts must be a list");
  for (const m of host.Mounts ?? []) intents.push(parseMount(m));
  for (const dest of Object.keys(host.Tmpfs ?? {})) intents.push({ kind: "tmpfs", mount: { Type: "tmpfs", Source: "", Destination: cleanDestination(dest, dest), Mode: "", RW: true, Propagation: "" } });
  const seen = new Set<string>();
  for (const i of intents) {
    if (seen.has(i.mount.Destination)) throw wharfError("invalid-argument", `Duplicate mount point: ${i.mount.Destination}`);
    seen.add(i.mount.Destination);
  }
  for (const dest of Object.keys(declared ?? {})) {
    const clean = cleanDestination(dest, dest);
    if (seen.has(clean)) continue;
    seen.add(clean);
    intents.push({ kind: "volume", mount: { Type: "volume", Source: "", Destination: clean, Driver: "local", Mode: "", RW: true, Propagation: "" } });
  }
  for (const i of intents) {
    if (i.kind === "bind" && !i.create) {
      const st = await stat(i.mount.Source).catch(() => undefined);
      if (!st) throw wharfError("invalid-argument", `invalid mount config for type "bind": bind source path does not exist: ${i.mount.Source}`);
    }
    if (i.kind === "volume" && i.driver && i.driver !== "local") throw wharfError("not-found", `error looking up volume plugin ${i.driver}: plugin "${i.driver}" not found`);
  }
  // Checked: now the side effects.
  const made: string[] = [];
  try {
    for (const i of intents) {
      if (i.kind === "bind" && i.create) {
        // As dockerd: a `-v` host path that does not exist is made as a directory.
        await mkdir(i.mount.Source, { recursive: true });
      } else if (i.kind === "volume") {
        const named = i.mount.Name !== undefined;
        if (!named || !store.has(i.mount.Name!)) {
          const v = await store.create({ ...(named ? { name: i.mount.Name! } : {}), anonymous: !named, ...(i.labels ? { labels: i.labels } : {}), ...(i.driverOpts ? { driverOpts: i.driverOpts } : {}) });
          if (!named) made.push(v.Name);
          i.mount.Name = v.Name;
          if (!named) i.mount.Anonymous = true;
        }
        i.mount.Source = store.mountpoint(i.mount.Name!);
      }
    }
  } catch (e) {
    for (const name of made) await store.remove(name, { force: true }).catch(() => {});
    throw e;
  }
  return intents.map((i) => {
    const m = i.mount;
    if (m.NoCopy === false) delete m.NoCopy;
    return m;
  });
}

/** The anonymous volumes a plan made: removed again when the create fails later. */
export async function discardPlanned(store: VolumeStore, mounts: readonly PlannedMount[]): Promise<void> {
  for (const m of mounts) if (m.Type === "volume" && m.Anonymous && m.Name) await store.remove(m.Name, { force: true }).catch(() => {});
}
