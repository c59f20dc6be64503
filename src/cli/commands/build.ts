// `wharf build`: docker's flags; the context (a directory, a tarball, or `-`)
// sent as a tar to POST /build, the step log shown as it streams, and the
// result written where --iidfile and --output say.
import { spawn } from "node:child_process";
import { createReadStream, createWriteStream } from "node:fs";
import { cp, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join, relative, resolve } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { jsonMessages, type BuildQuery } from "../../api/client.js";
import { createInterface } from "node:readline";
import { CliError, write, type CliContext, type Command } from "../context.js";
import { humanSize } from "../units.js";
import { FlagError } from "../flags.js";

const OUTPUT_TYPES = new Set(["local", "tar", "oci", "docker"]);

/** `type=local,dest=out` (or a bare path, meaning local). */
export function parseOutput(spec: string): { type: string; dest: string } {
  if (!spec.includes("=")) return { type: spec === "-" ? "tar" : "local", dest: spec };
  const fields = new Map(spec.split(",").map((f) => {
    const eq = f.indexOf("=");
    return [f.slice(0, eq).trim(), f.slice(eq + 1).trim()] as const;
  }));
  const type = fields.get("type") ?? "local";
  if (!OUTPUT_TYPES.has(type)) throw new FlagError(`invalid output type ${JSON.stringify(type)}: expected local, tar, oci or docker`);
  const dest = fields.get("dest") ?? "";
  if (dest === "" && type === "local") throw new FlagError("--output type=local needs dest=DIR");
  return { type, dest: dest || "-" };
}

/** `id=NAME,src=PATH` or `id=NAME,env=VAR` (or `id=NAME` alone: the file or variable of that name). */
export async function readSecret(spec: string): Promise<[string, Buffer]> {
  const fields = new Map(spec.split(",").map((f) => {
    const eq = f.indexOf("=");
    return eq === -1 ? ([f, ""] as const) : ([f.slice(0, eq), f.slice(eq + 1)] as const);
  }));
  const id = fields.get("id");
  if (!id) throw new FlagError(`invalid secret ${JSON.stringify(spec)}: id= is required`);
  const src = fields.get("src") ?? fields.get("source");
  const env = fields.get("env");
  if (env !== undefined) {
    const v = process.env[env];
    if (v === undefined) throw new CliError(`secret ${id}: environment variable ${env} is not set`);
    return [id, Buffer.from(v)];
  }
  const path = src ?? (process.env[id] === undefined ? id : undefined);
  if (path === undefined) return [id, Buffer.from(process.env[id] ?? "")];
  try {
    return [id, await readFile(path)];
  } catch (e) {
    throw new CliError(`secret ${id}: open ${path}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (e as Error).message}`);
  }
}

function keyValues(list: readonly string[], what: string, fromEnv: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf("=");
    if (eq === -1) {
      if (!fromEnv) {
        out[item] = "";
        continue;
      }
      const v = process.env[item];
      if (v !== undefined) out[item] = v;
      continue;
    }
    const k = item.slice(0, eq);
    if (k === "") throw new FlagError(`invalid ${what} ${JSON.stringify(item)}`);
    out[k] = item.slice(eq + 1);
  }
  return out;
}

/** A tar of `dir` (GNU tar), with `extra` files added at the top under the given names. */
function tarDirectory(dir: string, extraDir?: string): Readable {
  const args = ["--numeric-owner", "-C", dir, "-cf", "-", "."];
  if (extraDir) args.push("-C", extraDir, ".");
  const child = spawn("tar", args, { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (b: Buffer) => (err += b.toString()));
  const out = new PassThrough();
  child.stdout.pipe(out, { end: false });
  child.once("close", (code) => {
    if (code === 0) out.end();
    else out.destroy(new CliError(`reading the build context: tar: ${err.trim() || `exit ${code}`}`));
  });
  child.once("error", (e) => out.destroy(new CliError(`reading the build context: ${e.message}`)));
  return out;
}

async function isTarFile(path: string): Promise<boolean> {
  const fh = await import("node:fs/promises").then((m) => m.open(path, "r"));
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await fh.read(buf, 0, 512, 0);
    return (bytesRead >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) || (bytesRead >= 262 && buf.toString("latin1", 257, 262) === "ustar");
  } finally {
    await fh.close();
  }
}

async function readStdin(ctx: CliContext): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of ctx.io.stdin as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

function runTar(args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn("tar", args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    child.once("close", (code) => (code === 0 ? resolvePromise() : reject(new CliError(`tar ${args.join(" ")}: ${err.trim()}`))));
    child.once("error", (e) => reject(new CliError(e.message)));
  });
}

/** Applies a saved image's layers in order into `dest` (whiteouts honoured): the image's root filesystem. */
async function exportRootfs(ctx: CliContext, id: string, dest: string): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "wharf-output-"));
  try {
    const archive = join(work, "image.tar");
    await pipeline(await ctx.client().saveImages([id]), createWriteStream(archive));
    const unpacked = join(work, "image");
    await mkdir(unpacked);
    await runTar(["-C", unpacked, "-xf", archive]);
    const manifest = JSON.parse(await readFile(join(unpacked, "manifest.json"), "utf8")) as { Layers: string[] }[];
    await mkdir(dest, { recursive: true });
    for (const [i, layer] of (manifest[0]?.Layers ?? []).entries()) {
      const staging = join(work, `layer-${i}`);
      await mkdir(staging);
      await runTar(["--numeric-owner", "-p", "-C", staging, "-xf", join(unpacked, layer)]);
      const walk = async (rel: string): Promise<void> => {
        for (const name of await readdir(join(staging, rel))) {
          const path = rel === "" ? name : `${rel}/${name}`;
          if (name === ".wh..wh..opq") {
            for (const old of await readdir(join(dest, rel)).catch(() => [] as string[])) await rm(join(dest, rel, old), { recursive: true, force: true });
            await rm(join(staging, path));
          } else if (name.startsWith(".wh.")) {
            await rm(join(dest, rel, name.slice(4)), { recursive: true, force: true });
            await rm(join(staging, path));
          } else if ((await lstat(join(staging, path))).isDirectory()) await walk(path);
        }
      };
      await walk("");
      await cp(staging, dest, { recursive: true, force: true, verbatimSymlinks: true, preserveTimestamps: true });
      await rm(staging, { recursive: true, force: true });
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function writeOutput(ctx: CliContext, id: string, output: { type: string; dest: string }): Promise<void> {
  const toDest = async (source: Readable) => {
    if (output.dest === "-") await pipeline(source, ctx.io.stdout, { end: false });
    else await pipeline(source, createWriteStream(output.dest));
  };
  switch (output.type) {
    case "docker":
    case "oci":
      await toDest(await ctx.client().saveImages([id], output.type === "oci" ? { format: "oci" } : {}));
      return;
    case "local":
      await exportRootfs(ctx, id, resolve(output.dest));
      return;
    case "tar": {
      const dir = await mkdtemp(join(tmpdir(), "wharf-rootfs-"));
      try {
        await exportRootfs(ctx, id, dir);
        await toDest(tarDirectory(dir));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  }
}

export const buildCommand: Command = {
  spec: {
    use: "[OPTIONS] PATH | URL | -",
    short: "Build an image from a Dockerfile",
    aliases: "wharf image build, wharf build, wharf builder build",
    args: { kind: "exact", n: 1 },
    flags: [
      { name: "build-arg", kind: "stringArray", valueName: "list", usage: "Set build-time variables" },
      { name: "cache-from", kind: "stringArray", valueName: "strings", usage: "Images to consider as cache sources" },
      { name: "file", short: "f", kind: "string", valueName: "string", usage: "Name of the Dockerfile (Default is \"PATH/Dockerfile\")" },
      { name: "iidfile", kind: "string", valueName: "string", usage: "Write the image ID to the file" },
      { name: "label", kind: "stringArray", valueName: "list", usage: "Set metadata for an image" },
      { name: "no-cache", kind: "bool", usage: "Do not use cache when building the image" },
      { name: "no-cache-filter", kind: "stringArray", valueName: "stringArray", usage: "Do not cache specified stages" },
      { name: "output", short: "o", kind: "string", valueName: "stringArray", usage: 'Output destination (format: "type=local,dest=path")' },
      { name: "platform", kind: "string", valueName: "string", usage: "Set platform if server is multi-platform capable" },
      { name: "progress", kind: "string", valueName: "string", defaultValue: "auto", usage: 'Set type of progress output ("auto", "plain", "tty", "quiet")' },
      { name: "pull", kind: "bool", usage: "Always attempt to pull all referenced images" },
      { name: "quiet", short: "q", kind: "bool", usage: "Suppress the build output and print image ID on success" },
      { name: "secret", kind: "stringArray", valueName: "stringArray", usage: 'Secret to expose to the build (format: "id=mysecret[,src=/local/secret]")' },
      { name: "tag", short: "t", kind: "stringArray", valueName: "list", usage: "Name and optionally a tag in the \"name:tag\" format" },
      { name: "target", kind: "string", valueName: "string", usage: "Set the target build stage to build." },
    ],
  },
  async run(ctx, flags, args) {
    const [source] = args as [string];
    const progress = flags.string("progress");
    if (!["auto", "plain", "tty", "quiet", "rawjson"].includes(progress)) throw new FlagError(`invalid progress mode ${JSON.stringify(progress)}: expected auto, plain, tty or quiet`);
    const quiet = flags.bool("quiet") || progress === "quiet";
    const output = flags.string("output") ? parseOutput(flags.string("output")) : undefined;
    const secrets: Record<string, string> = {};
    for (const s of flags.strings("secret")) {
      const [id, data] = await readSecret(s);
      secrets[id] = data.toString("base64");
    }
    const file = flags.string("file");
    const cleanups: (() => Promise<void>)[] = [];
    let context: Readable;
    let dockerfile = "Dockerfile";
    try {
      // A Dockerfile from outside the context (or stdin) travels in the tar under a name of its own, as docker sends it.
      let extraDir: string | undefined;
      const addDockerfile = async (text: Buffer | string) => {
        extraDir = await mkdtemp(join(tmpdir(), "wharf-dockerfile-"));
        cleanups.push(() => rm(extraDir!, { recursive: true, force: true }));
        dockerfile = `.dockerfile.${Math.random().toString(16).slice(2, 14)}`;
        await writeFile(join(extraDir, dockerfile), text);
      };
      if (source === "-") {
        const input = await readStdin(ctx);
        const looksTar = (input.length >= 2 && input[0] === 0x1f && input[1] === 0x8b) || (input.length >= 262 && input.toString("latin1", 257, 262) === "ustar");
        if (looksTar) {
          if (file === "-") throw new CliError("invalid argument: can't use stdin for both build context and dockerfile");
          if (file) dockerfile = file;
          context = Readable.from([input]);
        } else {
          // A Dockerfile on stdin and no context.
          const empty = await mkdtemp(join(tmpdir(), "wharf-context-"));
          cleanups.push(() => rm(empty, { recursive: true, force: true }));
          await addDockerfile(input);
          context = tarDirectory(empty, extraDir);
        }
      } else {
        let st;
        try {
          st = await stat(source);
        } catch {
          throw new CliError(`unable to prepare context: path ${JSON.stringify(source)} not found`);
        }
        if (st.isFile()) {
          if (!(await isTarFile(source))) throw new CliError(`unable to prepare context: ${source} is neither a directory nor a tar archive`);
          if (file && file !== "-") dockerfile = file;
          if (file === "-") throw new CliError("a Dockerfile on stdin needs a context directory");
          context = createReadStream(source);
        } else {
          if (file === "-") await addDockerfile(await readStdin(ctx));
          else if (file) {
            const abs = isAbsolute(file) ? file : resolve(file);
            const rel = relative(resolve(source), abs);
            if (!rel.startsWith("..") && !isAbsolute(rel)) dockerfile = rel;
            else {
              let text: Buffer;
              try {
                text = await readFile(abs);
              } catch {
                throw new CliError(`unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat ${abs}: no such file or directory`);
              }
              await addDockerfile(text);
            }
          } else {
            try {
              await stat(join(source, "Dockerfile"));
            } catch {
              throw new CliError(`unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat ${resolve(source, "Dockerfile")}: no such file or directory`);
            }
          }
          context = tarDirectory(source, extraDir);
        }
      }
      const query: BuildQuery = {
        tags: flags.strings("tag"),
        dockerfile,
        quiet,
        noCache: flags.bool("no-cache"),
        pull: flags.bool("pull"),
        buildArgs: keyValues(flags.strings("build-arg"), "build-arg", true),
        labels: keyValues(flags.strings("label"), "label", false),
        ...(flags.string("target") ? { target: flags.string("target") } : {}),
        ...(flags.string("platform") ? { platform: flags.string("platform") } : {}),
        cacheFrom: flags.strings("cache-from"),
        noCacheFilter: flags.strings("no-cache-filter"),
      };
      const { registryConfigHeader } = await import("../credentials.js");
      const body = await ctx.client().build(context, query, secrets, await registryConfigHeader());
      let id = "";
      // With an output of `-`, stdout carries the result; the log goes to stderr.
      const log = output?.dest === "-" ? ctx.io.stderr : ctx.io.stdout;
      for await (const m of jsonMessages(body)) {
        const aux = m.aux as { ID?: string } | undefined;
        if (aux && typeof aux.ID === "string") id = aux.ID;
        if (m.stream !== undefined && !quiet) await write(log, m.stream);
      }
      if (id === "") throw new CliError("the daemon answered without an image ID");
      if (quiet && output?.dest !== "-") await write(ctx.io.stdout, `${id}\n`);
      const iid = flags.string("iidfile");
      if (iid) await writeFile(iid, id);
      if (output) await writeOutput(ctx, id, output);
    } finally {
      for (const c of cleanups) await c().catch(() => {});
    }
  },
};

export const builderPruneCommand: Command = {
  spec: {
    use: "[OPTIONS]",
    short: "Remove build cache",
    args: { kind: "none" },
    flags: [
      { name: "all", short: "a", kind: "bool", usage: "Remove all unused build cache, not just dangling ones" },
      { name: "force", short: "f", kind: "bool", usage: "Do not prompt for confirmation" },
    ],
  },
  async run(ctx, flags) {
    if (!flags.bool("force")) {
      await write(ctx.io.stdout, "WARNING! This will remove all dangling build cache.\nAre you sure you want to continue? [y/N] ");
      const rl = createInterface({ input: ctx.io.stdin, terminal: false });
      let yes = false;
      try {
        for await (const line of rl) {
          yes = line.trim().toLowerCase() === "y";
          break;
        }
      } finally {
        rl.close();
      }
      if (!yes) return;
    }
    const result = await ctx.client().pruneBuildCache();
    const deleted = result.CachesDeleted ?? [];
    if (deleted.length > 0) await write(ctx.io.stdout, `Deleted build cache objects:\n${deleted.map((d) => `${d.slice(0, 25)}\n`).join("")}\n`);
    await write(ctx.io.stdout, `Total reclaimed space: ${humanSize(result.SpaceReclaimed)}\n`);
  },
};
