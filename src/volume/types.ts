// volume: the volume records the engine keeps and the mounts a container is
// given, as the Engine API shows them (`/volumes`, inspect's `Mounts`).

/** One volume, as `GET /volumes/{name}` answers (minus the derived parts). */
export interface VolumeRecord {
  readonly Name: string;
  readonly Driver: "local";
  readonly Mountpoint: string;
  /** RFC 3339, whole seconds, as dockerd writes it. */
  readonly CreatedAt: string;
  readonly Labels: Readonly<Record<string, string>>;
  readonly Scope: "local";
  /** The local driver's options: `type`, `device`, `o`; null when none were given. */
  readonly Options: Readonly<Record<string, string>> | null;
  /** Made for one container (image VOLUME, `-v /path`, `--mount` without a source): `rm -v` removes it with the container. */
  readonly Anonymous: boolean;
}

/**
 * A mount of a container as its record keeps it. The first members are
 * inspect's `Mounts` entry; the rest is what the engine needs at start.
 */
export interface PlannedMount {
  Type: "bind" | "volume" | "tmpfs";
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
  /** Volume mounts: do not fill an empty volume from the image (`nocopy`, `volume-nocopy`). */
  NoCopy?: boolean;
  /** Volume mounts: the volume was made for this container. */
  Anonymous?: boolean;
}

export interface CreateVolumeOptions {
  /** Empty or absent: an anonymous volume with a random name. */
  readonly name?: string;
  readonly driver?: string;
  readonly driverOpts?: Readonly<Record<string, string>> | null;
  readonly labels?: Readonly<Record<string, string>> | null;
  readonly anonymous?: boolean;
}

export interface VolumeFilters {
  readonly dangling?: boolean;
  /** Substrings of the name; any may match. */
  readonly name?: readonly string[];
  /** `key` or `key=value`; every one must match. */
  readonly label?: readonly string[];
  /** `key` or `key=value`; none may match. */
  readonly labelNot?: readonly string[];
  readonly driver?: readonly string[];
}
