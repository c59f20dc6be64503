// Image commands: images/ls, inspect, history, tag, rmi, save, load, import,
// prune — each with docker's flags, output and exit codes.
import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import { dirname, basename, join } from "node:path";
import { randomBytes } from "node:crypto";
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";
import { DaemonError, jsonMessages, type Filters } from "../../api/client.js";
import type { HistoryResponseItem, ImageSummary } from "../../api/wire.js";
import { familiarName, parseReference, referenceName, type Reference } from "../../oci/index.js";
import { CliError, write, type CliContext, type Command } from "../context.js";
import { confirm } from "../prompt.js";
import { FlagError, type FlagSpec } from "../flags.js";
import { executeTemplate, isTable, parseTemplate, QUIET_FORMAT, RAW, renderRows, TABLE } from "../format.js";
import { displayJsonMessages } from "../progress.js";
import { StructValue, type TemplateValue } from "../template.js";
import { createdSince, ellipsis, goTimeString, humanDuration, humanSize, humanSizeWithPrecision, rfc3339, truncateId } from "../units.js";

export const FORMAT_HELP = `Format output using a custom template:
'table':            Print output in table format with column headers (default)
'table TEMPLATE':   Print output in table format using the given Go template
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.
Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates`;

export const INSPECT_FORMAT_HELP = `Format output using a custom template:
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.
Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates`;

/** How an error of the daemon reads on docker's stderr. */
export function daemonMessage(e: unknown): string {
  if (e instanceof DaemonError) return `Error response from daemon: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

/** Go's os error text (`open x: no such file or directory`) for a Node fs error. */
export function osErrorText(e: unknown, op: string, path: string): string {
  const code = typeof e === "object" && e !== null && "code" in e ? String((e as { code: unknown }).code) : "";
  const reason: Record<string, string> = {
    ENOENT: "no such file or directory",
    EACCES: "permission denied",
    EISDIR: "is a directory",
    ENOTDIR: "not a directory",
    EEXIST: "file exists",
  };
  return `${op} ${path}: ${reason[code] ?? (e instanceof Error ? e.message : String(e))}`;
}

/** `--filter key=value` flags as the API's filters. */
export function parseFilters(values: readonly string[], flagTitle: string): Filters {
  const filters: Filters = {};
  for (const v of values) {
    const eq = v.indexOf("=");
    if (eq === -1) throw new FlagError(`invalid argument "${v}" for "${flagTitle}" flag: bad format of filter (expected name=value)`);
    const key = v.slice(0, eq).trim().toLowerCase();
    const value = v.slice(eq + 1).trim();
    (filters[key] ??= []).push(value);
  }
  return filters;
}

const formatFlag = (short?: string): FlagSpec => ({ name: "format", ...(short ? { short } : {}), kind: "string", valueName: "string", usage: FORMAT_HELP });

// ---------------------------------------------------------------- images

const IMAGE_HEADER = {
  ID: "IMAGE ID",
  Repository: "REPOSITORY",
  Tag: "TAG",
  Digest: "DIGEST",
  CreatedSince: "CREATED",
  CreatedAt: "CREATED AT",
  Size: "SIZE",
  Containers: "CONTAINERS",
  SharedSize: "SHARED SIZE",
  UniqueSize: "UNIQUE SIZE",
  VirtualSize: "SIZE",
};

const DEFAULT_IMAGE_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}";
const DEFAULT_IMAGE_TABLE_WITH_DIGEST = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}";

/** docker's NewImageFormat: the template a format name stands for. */
export function imageFormat(source: string, quiet: boolean, digest: boolean): string {
  if (source === TABLE) return quiet ? QUIET_FORMAT : digest ? DEFAULT_IMAGE_TABLE_WITH_DIGEST : DEFAULT_IMAGE_TABLE;
  if (source === RAW) {
    if (quiet) return "image_id: {{.ID}}";
    return digest
      ? "repository: {{ .Repository }}\ntag: {{.Tag}}\ndigest: {{.Digest}}\nimage_id: {{.ID}}\ncreated_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n"
      : "repository: {{ .Repository }}\ntag: {{.Tag}}\nimage_id: {{.ID}}\ncreated_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n";
  }
  if (isTable(source) && digest && !source.includes("{{.Digest}}")) return source + "\t{{.Digest}}";
  return source;
}

function isDangling(img: ImageSummary): boolean {
  const tags = img.RepoTags ?? [];
  const digests = img.RepoDigests ?? [];
  if (tags.length === 0 && digests.length === 0) return true;
  return tags.length === 1 && tags[0] === "<none>:<none>" && digests.length === 1 && digests[0] === "<none>@<none>";
}

function tryParse(text: string): Reference | undefined {
  try {
    return parseReference(text);
  } catch {
    return undefined;
  }
}

export function imageRow(img: ImageSummary, repo: string, tag: string, digest: string, trunc: boolean, now: number): StructValue {
  const size = img.Size;
  return new StructValue("*formatter.imageContext", {
    Containers: img.Containers === -1 ? "N/A" : String(img.Containers ?? 0),
    CreatedAt: goTimeString(img.Created),
    CreatedSince: createdSince(img.Created, now),
    Digest: digest,
    ID: trunc ? truncateId(img.Id) : img.Id,
    Repository: repo,
    SharedSize: img.SharedSize === -1 ? "N/A" : humanSize(img.SharedSize),
    Size: humanSizeWithPrecision(size, 3),
    Tag: tag,
    UniqueSize: size === -1 || img.SharedSize === -1 ? "N/A" : humanSize(size - img.SharedSize),
    VirtualSize: humanSize(size),
  });
}

/** docker's rows for an image list: one per repository and tag (and digest when shown). */
export function imageRows(images: readonly ImageSummary[], options: { trunc: boolean; digest: boolean; needDigest: boolean; now?: number }): StructValue[] {
  const now = options.now ?? Date.now();
  const rows: StructValue[] = [];
  for (const img of images) {
    if (isDangling(img)) {
      rows.push(imageRow(img, "<none>", "<none>", "<none>", options.trunc, now));
      continue;
    }
    const repoTags = new Map<string, string[]>();
    const repoDigests = new Map<string, string[]>();
    for (const t of img.RepoTags ?? []) {
      const ref = tryParse(t);
      if (!ref || ref.tag === undefined) continue;
      const name = familiarName(ref);
      repoTags.set(name, [...(repoTags.get(name) ?? []), ref.tag]);
    }
    for (const d of img.RepoDigests ?? []) {
      const ref = tryParse(d);
      if (!ref || ref.digest === undefined) continue;
      const name = familiarName(ref);
      repoDigests.set(name, [...(repoDigests.get(name) ?? []), ref.digest]);
    }
    for (const [repo, tags] of repoTags) {
      let digests = repoDigests.get(repo) ?? [];
      repoDigests.delete(repo);
      if (!options.needDigest) digests = [];
      for (const tag of tags) {
        if (digests.length === 0) rows.push(imageRow(img, repo, tag, "<none>", options.trunc, now));
        else for (const d of digests) rows.push(imageRow(img, repo, tag, d, options.trunc, now));
      }
    }
    for (const [repo, digests] of repoDigests) {
      if (options.digest) for (const d of digests) rows.push(imageRow(img, repo, "<none>", d, options.trunc, now));
      else rows.push(imageRow(img, repo, "<none>", "", options.trunc, now));
    }
  }
  return rows;
}

export const imagesCommand: Command = {
  spec: {
    use: "[OPTIONS] [REPOSITORY[:TAG]]",
    short: "List images",
    aliases: "wharf image ls, wharf image list, wharf images",
    args: { kind: "max", n: 1 },
    flags: [
      { name: "quiet", short: "q", kind: "bool", usage: "Only show image IDs" },
      { name: "all", short: "a", kind: "bool", usage: "Show all images (default hides intermediate images)" },
      { name: "no-trunc", kind: "bool", usage: "Don't truncate output" },
      { name: "digests", kind: "bool", usage: "Show digests" },
      formatFlag(),
      { name: "filter", short: "f", kind: "stringArray", valueName: "filter", usage: "Filter output based on conditions provided" },
    ],
  },
  async run(ctx, flags, args) {
    const filters = parseFilters(flags.strings("filter"), "-f, --filter");
    if (args[0] !== undefined) (filters["reference"] ??= []).push(args[0]);
    const images = await ctx.client().listImages({ all: flags.bool("all"), filters });
    const quiet = flags.bool("quiet");
    const digest = flags.bool("digests");
    const format = imageFormat(flags.string("format") || TABLE, quiet, digest);
    const rows = imageRows(images, { trunc: !flags.bool("no-trunc"), digest, needDigest: digest || format.includes("{{.Digest}}") });
    await write(ctx.io.stdout, renderRows(format, rows, IMAGE_HEADER));
  },
};

// ---------------------------------------------------------------- inspect

/**
 * docker's inspect output: without a format, the objects as one JSON array
 * indented by four spaces; with one, each object through the template (map
 * keys must exist), one per line. Missing objects are reported after.
 */
async function runInspect(ctx: CliContext, names: readonly string[], format: string, notFound: (name: string, e: DaemonError) => string, remote?: { platform: string }): Promise<void> {
  const found: Record<string, unknown>[] = [];
  const errors: string[] = [];
  const inspect = async (name: string): Promise<Record<string, unknown>> => {
    if (!remote) return ctx.client().inspectImageRaw(name);
    const { registryAuthHeader } = await import("../credentials.js");
    let ref: Reference;
    try {
      ref = parseReference(name);
    } catch (e) {
      throw new CliError((e as Error).message);
    }
    return ctx.client().remoteImageRaw(name, { ...(remote.platform ? { platform: remote.platform } : {}), registryAuth: await registryAuthHeader(ref.domain) });
  };
  for (const name of names) {
    try {
      found.push(await inspect(name));
    } catch (e) {
      if (e instanceof DaemonError && e.kind === "not-found") errors.push(notFound(name, e));
      else if (e instanceof DaemonError) errors.push(daemonMessage(e));
      else throw e;
    }
  }
  if (format === "") {
    await write(ctx.io.stdout, found.length === 0 ? "[]\n" : JSON.stringify(found, null, 4) + "\n");
  } else {
    const tmpl = parseTemplate(format === "json" ? "{{json .}}" : format);
    let out = "";
    for (const obj of found) {
      try {
        out += executeTemplate(tmpl, obj as TemplateValue, { missingKey: "error" }) + "\n";
      } catch (e) {
        await write(ctx.io.stdout, out === "" ? "\n" : out);
        throw e;
      }
    }
    await write(ctx.io.stdout, out === "" ? "\n" : out);
  }
  if (errors.length > 0) throw new CliError(errors.join("\n"));
}

export const imageInspectCommand: Command = {
  spec: {
    use: "[OPTIONS] IMAGE [IMAGE...]",
    short: "Display detailed information on one or more images",
    args: { kind: "min", n: 1 },
    flags: [
      { name: "format", short: "f", kind: "string", valueName: "string", usage: INSPECT_FORMAT_HELP },
      { name: "remote", kind: "bool", usage: "Inspect the image in its registry, without pulling it" },
      { name: "platform", kind: "string", valueName: "string", usage: "With --remote: the platform of a multi-platform image (default the daemon's)" },
    ],
  },
  run(ctx, flags, args) {
    const platform = flags.string("platform");
    if (platform !== "" && !flags.bool("remote")) throw new CliError("--platform is only valid with --remote");
    return runInspect(ctx, args, flags.string("format"), (_name, e) => daemonMessage(e), flags.bool("remote") ? { platform } : undefined);
  },
};

export const inspectCommand: Command = {
  spec: {
    use: "[OPTIONS] NAME|ID [NAME|ID...]",
    short: "Return low-level information on wharf objects",
    args: { kind: "min", n: 1 },
    flags: [
      { name: "format", short: "f", kind: "string", valueName: "string", usage: INSPECT_FORMAT_HELP },
      { name: "type", kind: "string", valueName: "string", usage: "Only inspect objects of the given type" },
    ],
  },
  run(ctx, flags, args) {
    const type = flags.string("type");
    if (type !== "" && type !== "image") throw new CliError(`"${type}" is not a valid value for --type`);
    // Images are the only objects wharf has so far; without --type docker names them "objects".
    return runInspect(ctx, args, flags.string("format"), (name, e) => (type === "image" ? daemonMessage(e) : `Error: No such object: ${name}`));
  },
};

// ---------------------------------------------------------------- history

const HISTORY_HEADER = { ID: "IMAGE", CreatedSince: "CREATED", CreatedAt: "CREATED AT", CreatedBy: "CREATED BY", Size: "SIZE", Comment: "COMMENT" };
const DEFAULT_HISTORY_TABLE = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
const NON_HUMAN_HISTORY_TABLE = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
/** Before this, a creation time is unknown rather than old (docker prints N/A). */
const HISTORY_EPOCH = Date.UTC(2000, 0, 1) / 1000;

export function historyRow(h: HistoryResponseItem, trunc: boolean, human: boolean, now: number = Date.now()): StructValue {
  const createdAt = rfc3339(h.Created);
  const createdBy = h.CreatedBy.replaceAll("\t", " ");
  return new StructValue("*image.historyContext", {
    Comment: h.Comment,
    CreatedAt: createdAt,
    CreatedBy: trunc ? ellipsis(createdBy, 45) : createdBy,
    CreatedSince: !human ? createdAt : h.Created <= HISTORY_EPOCH ? "N/A" : `${humanDuration(now - h.Created * 1000)} ago`,
    ID: trunc ? truncateId(h.Id) : h.Id,
    Size: human ? humanSizeWithPrecision(h.Size, 3) : String(h.Size),
  });
}

export const historyCommand: Command = {
  spec: {
    use: "[OPTIONS] IMAGE",
    short: "Show the history of an image",
    aliases: "wharf image history, wharf history",
    args: { kind: "exact", n: 1 },
    flags: [
      { name: "human", short: "H", kind: "bool", defaultValue: true, usage: "Print sizes and dates in human readable format" },
      { name: "quiet", short: "q", kind: "bool", usage: "Only show image IDs" },
      { name: "no-trunc", kind: "bool", usage: "Don't truncate output" },
      formatFlag(),
    ],
  },
  async run(ctx, flags, args) {
    const history = await ctx.client().imageHistory(args[0]!);
    const human = flags.bool("human");
    let format = flags.string("format") || TABLE;
    if (format === TABLE) format = flags.bool("quiet") ? QUIET_FORMAT : human ? DEFAULT_HISTORY_TABLE : NON_HUMAN_HISTORY_TABLE;
    const trunc = !flags.bool("no-trunc");
    const now = Date.now();
    await write(ctx.io.stdout, renderRows(format, history.map((h) => historyRow(h, trunc, human, now)), HISTORY_HEADER));
  },
};

// ---------------------------------------------------------------- tag

/**
 * docker's wording of a bad reference (distribution/reference's errors):
 * `invalid reference format: repository name (library/Bad) must be lowercase`.
 */
export function referenceErrorText(text: string, e: unknown): string {
  const detail = e instanceof Error ? e.message : String(e);
  if (/must be lowercase/.test(detail)) {
    let name = text.split("@")[0]!;
    const colon = name.lastIndexOf(":");
    if (colon > name.lastIndexOf("/")) name = name.slice(0, colon);
    const slash = name.indexOf("/");
    const first = slash === -1 ? "" : name.slice(0, slash);
    const hasDomain = slash !== -1 && (/[.:]/.test(first) || first === "localhost");
    let path = hasDomain ? name.slice(slash + 1) : name;
    if ((!hasDomain || first === "docker.io") && !path.includes("/")) path = `library/${path}`;
    return `invalid reference format: repository name (${path}) must be lowercase`;
  }
  if (/longer than/.test(detail)) return "invalid reference format: repository name must not be more than 255 characters";
  if (/invalid tag/.test(detail)) return "invalid reference format";
  return "invalid reference format";
}

/** The target of `tag` as the API takes it: the full repository name and a tag (`latest` by default). */
export function tagTarget(target: string): { repo: string; tag: string } {
  let ref: Reference;
  try {
    ref = parseReference(target);
  } catch (e) {
    throw new CliError(`Error parsing reference: ${JSON.stringify(target)} is not a valid repository/tag: ${referenceErrorText(target, e)}`);
  }
  if (ref.digest !== undefined) throw new CliError("refusing to create a tag with a digest reference");
  return { repo: referenceName(ref), tag: ref.tag ?? "latest" };
}

export const tagCommand: Command = {
  spec: {
    use: "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
    short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
    aliases: "wharf image tag, wharf tag",
    args: { kind: "exact", n: 2 },
    interspersed: false,
    flags: [],
  },
  async run(ctx, _flags, args) {
    await ctx.client().tagImage(args[0]!, tagTarget(args[1]!));
  },
};

// ---------------------------------------------------------------- rmi

export const rmiCommand: Command = {
  spec: {
    use: "[OPTIONS] IMAGE [IMAGE...]",
    short: "Remove one or more images",
    aliases: "wharf image rm, wharf image remove, wharf rmi",
    args: { kind: "min", n: 1 },
    flags: [
      { name: "force", short: "f", kind: "bool", usage: "Force removal of the image" },
      { name: "no-prune", kind: "bool", usage: "Do not delete untagged parents" },
    ],
  },
  async run(ctx, flags, args) {
    const force = flags.bool("force");
    const errors: string[] = [];
    let fatal = false;
    for (const name of args) {
      try {
        const deleted = await ctx.client().removeImage(name, { force, noPrune: flags.bool("no-prune") });
        let out = "";
        for (const item of deleted) out += "Deleted" in item && item.Deleted ? `Deleted: ${item.Deleted}\n` : `Untagged: ${"Untagged" in item ? item.Untagged : ""}\n`;
        await write(ctx.io.stdout, out);
      } catch (e) {
        if (!(e instanceof DaemonError && e.kind === "not-found")) fatal = true;
        if (!(e instanceof DaemonError)) throw e;
        errors.push(daemonMessage(e));
      }
    }
    if (errors.length === 0) return;
    // With --force, images that are already gone are reported but are not a failure.
    if (!force || fatal) throw new CliError(errors.join("\n"));
    await write(ctx.io.stderr, errors.join("\n") + "\n");
  },
};

// ---------------------------------------------------------------- save

/** Writes a stream to `path` through a temporary file beside it, so a failed save leaves nothing behind. */
async function saveAtomically(source: Readable, path: string): Promise<void> {
  const dir = dirname(path);
  try {
    const s = await stat(dir);
    if (!s.isDirectory()) throw new CliError(`failed to save image: invalid output path: ${dir} is not a directory`);
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`failed to save image: invalid output path: ${osErrorText(e, "stat", dir)}`);
  }
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await pipeline(source, createWriteStream(temp, { mode: 0o600 }));
    await rename(temp, path);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
}

export const saveCommand: Command = {
  spec: {
    use: "[OPTIONS] IMAGE [IMAGE...]",
    short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
    aliases: "wharf image save, wharf save",
    args: { kind: "min", n: 1 },
    flags: [
      { name: "output", short: "o", kind: "string", valueName: "string", usage: "Write to a file, instead of STDOUT" },
      { name: "format", kind: "string", valueName: "string", usage: 'Archive format: "docker" (docker-archive and OCI layout in one) or "oci" (a plain OCI image layout)' },
    ],
  },
  async run(ctx, flags, args) {
    const output = flags.string("output");
    const format = flags.string("format");
    if (format !== "" && format !== "docker" && format !== "oci") throw new CliError(`invalid format ${JSON.stringify(format)}: expected "docker" or "oci"`);
    if (output === "" && ctx.io.stdoutIsTTY) throw new CliError("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    const body = await ctx.client().saveImages(args, format ? { format } : {});
    if (output === "") await pipeline(body, ctx.io.stdout, { end: false });
    else await saveAtomically(body, output);
  },
};

// ---------------------------------------------------------------- load

export const loadCommand: Command = {
  spec: {
    use: "[OPTIONS]",
    short: "Load an image from a tar archive or STDIN",
    aliases: "wharf image load, wharf load",
    args: { kind: "none" },
    flags: [
      { name: "input", short: "i", kind: "string", valueName: "string", usage: "Read from tar archive file, instead of STDIN" },
      { name: "quiet", short: "q", kind: "bool", usage: "Suppress the load output" },
    ],
  },
  async run(ctx, flags) {
    const inputPath = flags.string("input");
    let input: Readable;
    if (inputPath === "") {
      if (ctx.io.stdinIsTTY) throw new CliError("requested load from stdin, but stdin is empty");
      input = ctx.io.stdin;
    } else {
      input = await openFile(inputPath);
    }
    const res = await ctx.client().loadImages(input, { quiet: flags.bool("quiet") || !ctx.io.stdoutIsTTY });
    if (res.json) await displayJsonMessages(jsonMessages(res.body), ctx.io.stdout, ctx.io.stdoutIsTTY);
    else await pipeline(res.body, ctx.io.stdout, { end: false });
  },
};

/** Opens a file for reading, failing with Go's `open x: …` text before any request is made. */
async function openFile(path: string): Promise<Readable> {
  const stream = createReadStream(path);
  await new Promise<void>((resolve, reject) => {
    stream.once("open", () => resolve());
    stream.once("error", (e) => reject(new CliError(osErrorText(e, "open", path))));
  });
  return stream;
}

// ---------------------------------------------------------------- import

export const importCommand: Command = {
  spec: {
    use: "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
    short: "Import the contents from a tarball to create a filesystem image",
    aliases: "wharf image import, wharf import",
    args: { kind: "min", n: 1 },
    flags: [
      { name: "change", short: "c", kind: "stringArray", valueName: "list", usage: "Apply Dockerfile instruction to the created image" },
      { name: "message", short: "m", kind: "string", valueName: "string", usage: "Set commit message for imported image" },
      { name: "platform", kind: "string", valueName: "string", usage: "Set platform if server is multi-platform capable" },
    ],
  },
  async run(ctx, flags, args) {
    const [source, repo] = args as [string, string | undefined];
    if (repo !== undefined && repo !== "") {
      try {
        parseReference(repo);
      } catch (e) {
        throw new CliError(referenceErrorText(repo, e));
      }
    }
    let from: { stream: Readable } | { url: string };
    if (source === "-") from = { stream: ctx.io.stdin };
    else if (source.startsWith("http://") || source.startsWith("https://")) from = { url: source };
    else from = { stream: await openFile(source) };
    const body = await ctx.client().importImage(from, {
      ...(repo ? { repo } : {}),
      message: flags.string("message"),
      changes: flags.strings("change"),
      platform: flags.string("platform") || process.env["DOCKER_DEFAULT_PLATFORM"] || "",
    });
    await displayJsonMessages(jsonMessages(body), ctx.io.stdout, ctx.io.stdoutIsTTY);
  },
};

// ---------------------------------------------------------------- prune

const DANGLING_WARNING = "WARNING! This will remove all dangling images.\nAre you sure you want to continue?";
const ALL_WARNING = "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?";

export const pruneCommand: Command = {
  spec: {
    use: "[OPTIONS]",
    short: "Remove unused images",
    args: { kind: "none" },
    flags: [
      { name: "all", short: "a", kind: "bool", usage: "Remove all unused images, not just dangling ones" },
      { name: "force", short: "f", kind: "bool", usage: "Do not prompt for confirmation" },
      { name: "filter", kind: "stringArray", valueName: "filter", usage: 'Provide filter values (e.g. "until=<timestamp>")' },
    ],
  },
  async run(ctx, flags) {
    const filters = parseFilters(flags.strings("filter"), "--filter");
    const all = flags.bool("all");
    filters["dangling"] = [String(!all)];
    if (!flags.bool("force") && !(await confirm(ctx, all ? ALL_WARNING : DANGLING_WARNING))) return;
    const report = await ctx.client().pruneImages(filters);
    let out = "";
    let reclaimed = 0;
    const deleted = report.ImagesDeleted ?? [];
    if (deleted.length > 0) {
      out += "Deleted Images:\n";
      for (const item of deleted) out += "Untagged" in item && item.Untagged ? `untagged: ${item.Untagged}\n` : `deleted: ${"Deleted" in item ? item.Deleted : ""}\n`;
      out += "\n";
      reclaimed = report.SpaceReclaimed;
    }
    out += `Total reclaimed space: ${humanSize(reclaimed)}\n`;
    await write(ctx.io.stdout, out);
  },
};
