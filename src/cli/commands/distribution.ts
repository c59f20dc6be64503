// pull, push, login, logout and manifest inspect: docker's commands and
// output. On a terminal each layer has a line redrawn in place with a bar,
// bytes, rate and time left; on a pipe each status change is a plain line.
import type { Writable } from "node:stream";
import { jsonMessages } from "../../api/client.js";
import type { JsonMessage } from "../../api/wire.js";
import { familiarName, formatReference, parseReference, withDefaultTag, type Reference } from "../../oci/index.js";
import { CliError, write, type Command } from "../context.js";
import { eraseCredentials, registryAuthHeader, serverKey, storeCredentials, DOCKER_HUB_KEY } from "../credentials.js";
import { messageLine } from "../progress.js";

function parseRef(text: string): Reference {
  try {
    return parseReference(text);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

const UNITS = ["B", "kB", "MB", "GB", "TB"];
function human(bytes: number): string {
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(4))}${UNITS[i]}`;
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  const m = Math.floor(seconds / 60);
  return `${m}m${Math.ceil(seconds - m * 60)}s`;
}

interface Rate {
  readonly start: number;
  readonly startBytes: number;
}

/** A layer's progress line: status, bar, bytes, rate and time left. */
export function transferLine(m: JsonMessage, rate: Rate | undefined, now: number, width = 50): string {
  const current = m.progressDetail?.current ?? 0;
  const total = m.progressDetail?.total ?? 0;
  let text = `${m.id}: ${m.status ?? ""}`;
  if (total > 0) {
    const filled = Math.max(0, Math.min(width, Math.floor((current / total) * width)));
    text += ` [${"=".repeat(filled)}>${" ".repeat(width - filled)}] ${human(current).padStart(8)}/${human(total)}`;
  } else if (current > 0) {
    text += ` ${human(current)}`;
  }
  if (rate && current > rate.startBytes) {
    const seconds = (now - rate.start) / 1000;
    if (seconds > 0.2) {
      const perSecond = (current - rate.startBytes) / seconds;
      text += `  ${human(perSecond)}/s`;
      if (total > current) text += `  ${duration((total - current) / perSecond)}`;
    }
  }
  return text;
}

/** Shows a pull or push stream as docker does; returns the messages' aux payloads. */
export async function displayTransfer(body: AsyncIterable<JsonMessage>, out: Writable, isTerminal: boolean): Promise<void> {
  if (!isTerminal) {
    for await (const m of body) {
      const line = messageLine(m, false);
      if (line !== undefined) await write(out, line);
    }
    return;
  }
  const lineOf = new Map<string, number>();
  const rates = new Map<string, Rate>();
  let lines = 0;
  for await (const m of body) {
    if (m.aux !== undefined && m.status === undefined) continue;
    if (!m.id) {
      await write(out, `${m.status ?? m.stream ?? ""}\n`);
      lines++;
      continue;
    }
    const now = Date.now();
    const key = `${m.id} ${m.status}`;
    if (m.progressDetail?.current !== undefined && !rates.has(key)) rates.set(key, { start: now, startBytes: m.progressDetail.current });
    const text = m.progressDetail?.current !== undefined ? transferLine(m, rates.get(key), now) : `${m.id}: ${m.status ?? ""}`;
    const known = lineOf.get(m.id);
    if (known === undefined) {
      lineOf.set(m.id, lines);
      lines++;
      await write(out, `\x1b[2K\r${text}\n`);
    } else {
      const up = lines - known;
      await write(out, `\x1b[${up}A\x1b[2K\r${text}\x1b[${up}B\r`);
    }
  }
}

async function discard(body: AsyncIterable<JsonMessage>): Promise<void> {
  for await (const _ of body) {
    // Errors in the stream still throw.
  }
}

export const pullCommand: Command = {
  spec: {
    use: "[OPTIONS] NAME[:TAG|@DIGEST]",
    short: "Download an image from a registry",
    aliases: "wharf image pull, wharf pull",
    args: { kind: "exact", n: 1 },
    flags: [
      { name: "all-tags", short: "a", kind: "bool", usage: "Download all tagged images in the repository" },
      { name: "platform", kind: "string", valueName: "string", usage: "Set platform if server is multi-platform capable" },
      { name: "quiet", short: "q", kind: "bool", usage: "Suppress verbose output" },
    ],
  },
  async run(ctx, flags, args) {
    const all = flags.bool("all-tags");
    let ref = parseRef(args[0]!);
    if (all && (ref.tag !== undefined || ref.digest !== undefined)) throw new CliError("tag can't be used with --all-tags/-a");
    if (!all && ref.tag === undefined && ref.digest === undefined && !flags.bool("quiet")) await write(ctx.io.stdout, "Using default tag: latest\n");
    if (!all) ref = withDefaultTag(ref);
    const name = `${ref.domain}/${ref.path}`;
    const tag = ref.digest ?? ref.tag ?? "";
    const platform = flags.string("platform");
    const res = await ctx.client().pullImage(name, { tag, ...(platform ? { platform } : {}), registryAuth: await registryAuthHeader(ref.domain) });
    if (flags.bool("quiet")) await discard(jsonMessages(res));
    else await displayTransfer(jsonMessages(res), ctx.io.stdout, ctx.io.stdoutIsTTY);
    await write(ctx.io.stdout, `${all ? name : formatReference(ref)}\n`);
  },
};

export const pushCommand: Command = {
  spec: {
    use: "[OPTIONS] NAME[:TAG]",
    short: "Upload an image to a registry",
    aliases: "wharf image push, wharf push",
    args: { kind: "exact", n: 1 },
    flags: [
      { name: "all-tags", short: "a", kind: "bool", usage: "Push all tags of an image to the repository" },
      { name: "quiet", short: "q", kind: "bool", usage: "Suppress verbose output" },
    ],
  },
  async run(ctx, flags, args) {
    const all = flags.bool("all-tags");
    let ref = parseRef(args[0]!);
    if (ref.digest !== undefined) throw new CliError(`invalid reference format: push by digest is not supported: ${args[0]}`);
    if (all && ref.tag !== undefined) throw new CliError("tag can't be used with --all-tags/-a");
    if (!all) {
      if (ref.tag === undefined && !flags.bool("quiet")) await write(ctx.io.stdout, "Using default tag: latest\n");
      ref = withDefaultTag(ref);
    }
    const name = `${ref.domain}/${ref.path}`;
    const res = await ctx.client().pushImage(name, { tag: ref.tag ?? "", registryAuth: await registryAuthHeader(ref.domain) });
    if (flags.bool("quiet")) {
      await discard(jsonMessages(res));
      await write(ctx.io.stdout, `${all ? name : formatReference(ref)}\n`);
    } else {
      await displayTransfer(jsonMessages(res), ctx.io.stdout, ctx.io.stdoutIsTTY);
    }
  },
};

async function readStdin(ctx: { io: { stdin: NodeJS.ReadableStream } }): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of ctx.io.stdin as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts).toString("utf8").replace(/\r?\n$/, "");
}

export const loginCommand: Command = {
  spec: {
    use: "[OPTIONS] [SERVER]",
    short: "Log in to a registry",
    args: { kind: "max", n: 1 },
    flags: [
      { name: "password", short: "p", kind: "string", valueName: "string", usage: "Password" },
      { name: "password-stdin", kind: "bool", usage: "Take the password from stdin" },
      { name: "username", short: "u", kind: "string", valueName: "string", usage: "Username" },
    ],
  },
  async run(ctx, flags, args) {
    const server = args[0] ?? DOCKER_HUB_KEY;
    const username = flags.string("username");
    let password = flags.string("password");
    if (flags.bool("password-stdin")) {
      if (password) throw new CliError("--password and --password-stdin are mutually exclusive");
      if (!username) throw new CliError("Must provide --username with --password-stdin");
      password = await readStdin(ctx);
    } else if (password) {
      await write(ctx.io.stderr, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n");
    }
    if (!username || !password) throw new CliError("Error: Cannot perform an interactive login from a non TTY device");
    const key = serverKey(server);
    const answer = await ctx.client().login({ username, password, serveraddress: key });
    await storeCredentials({ username, password, serveraddress: key });
    await write(ctx.io.stdout, `${answer.Status || "Login Succeeded"}\n`);
  },
};

export const logoutCommand: Command = {
  spec: {
    use: "[SERVER]",
    short: "Log out from a registry",
    args: { kind: "max", n: 1 },
    flags: [],
  },
  async run(ctx, _flags, args) {
    const key = serverKey(args[0] ?? DOCKER_HUB_KEY);
    const had = await eraseCredentials(key);
    await write(ctx.io.stdout, had ? `Removing login credentials for ${key}\n` : `Not logged in to ${key}\n`);
  },
};

export const manifestInspectCommand: Command = {
  spec: {
    use: "[OPTIONS] [MANIFEST_LIST] MANIFEST",
    short: "Display an image manifest, or manifest list",
    args: { kind: "range", min: 1, max: 2 },
    flags: [
      { name: "insecure", kind: "bool", usage: "Allow communication with an insecure registry" },
      { name: "verbose", short: "v", kind: "bool", usage: "Output additional info including layers and platform" },
    ],
  },
  async run(ctx, flags, args) {
    const ref = withDefaultTag(parseRef(args[args.length - 1]!));
    const name = formatReference(ref);
    const raw = await ctx.client().distributionManifest(name, await registryAuthHeader(ref.domain));
    let doc: unknown;
    try {
      doc = JSON.parse(raw);
    } catch {
      throw new CliError(`manifest of ${familiarName(ref)} is not JSON`);
    }
    if (flags.bool("verbose")) {
      const info = await ctx.client().distributionInspect(name, await registryAuthHeader(ref.domain));
      doc = { Ref: name, Descriptor: info.Descriptor, Platforms: info.Platforms, Manifest: doc };
    }
    await write(ctx.io.stdout, JSON.stringify(doc, null, "\t") + "\n");
  },
};
