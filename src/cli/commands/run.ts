// The commands that connect the terminal to a container: run, create, start,
// attach and exec. They are on the hot path (`wharf run --rm IMG true`), so
// this module imports only the client, the flags and the streams: no
// templates, no image-reference parser unless an image must be pulled.
import { writeFileSync, existsSync } from "node:fs";
import { DaemonError, type EngineClient, type Hijacked } from "../../api/client.js";
import { buildCreateRequest, CONTAINER_FLAGS, goJson, readKeyValueFile, RUN_FLAGS, type CreateRequest } from "../container-opts.js";
import { CliError, write, type CliContext, type Command } from "../context.js";
import type { FlagSpec, FlagValues } from "../flags.js";
import { forwardResize, proxySignals, pumpHijacked, rawMode } from "../streams.js";

const enc = encodeURIComponent;

/** How a daemon error reads on stderr. */
export function daemonText(e: unknown): string {
  if (e instanceof DaemonError) return `Error response from daemon: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

/** docker's status for a failed start: 127 not found, 126 not executable, else 125. */
export function startErrorStatus(message: string): number {
  if (/executable file not found|no such file or directory|system cannot find the file specified/.test(message)) return 127;
  if (/permission denied|is a directory/.test(message)) return 126;
  return 125;
}

/** An error of `run`/`create` as docker prints it: `docker: …` and a pointer to the help. */
function runError(ctx: CliContext, command: string, e: unknown, status = 125): CliError {
  if (e instanceof CliError && (e.message === "" || e.message.startsWith(`${ctx.bin}: `))) return e;
  if (e instanceof CliError) return new CliError(`${ctx.bin}: ${e.message}\n\nRun '${ctx.bin} ${command} --help' for more information`, e.status);
  return new CliError(`${ctx.bin}: ${daemonText(e)}\n\nRun '${ctx.bin} ${command} --help' for more information`, status);
}

/** The familiar `name:tag` docker prints in "Unable to find image". */
async function familiarWithTag(image: string): Promise<{ text: string; fromImage: string; tag: string }> {
  const { parseReference, familiarName, referenceName } = await import("../../oci/index.js");
  const ref = parseReference(image);
  const tag = ref.digest ?? ref.tag ?? "latest";
  const sep = ref.digest ? "@" : ":";
  return { text: `${familiarName(ref)}${sep}${tag}`, fromImage: referenceName(ref), tag };
}

/** `POST /images/create?fromImage=…`, its progress on stderr as docker shows it. */
async function pullImage(ctx: CliContext, image: string, platform: string, quiet: boolean): Promise<void> {
  const { jsonMessages } = await import("../../api/client.js");
  const { displayJsonMessages } = await import("../progress.js");
  const ref = await familiarWithTag(image);
  const body = await ctx.client().request("POST", "/images/create", {
    query: { fromImage: ref.fromImage, tag: ref.tag, ...(platform ? { platform } : {}) },
    headers: { "X-Registry-Auth": Buffer.from("{}").toString("base64url") },
  });
  if (quiet) {
    for await (const _ of jsonMessages(body)) void _;
    return;
  }
  await displayJsonMessages(jsonMessages(body), ctx.io.stderr, false);
}

/**
 * `POST /containers/create`, pulling the image first when docker would:
 * `--pull always`, or a 404 "No such image" with `--pull missing`.
 */
export async function createContainer(ctx: CliContext, req: CreateRequest, quiet: boolean): Promise<string> {
  if (req.cidfile && existsSync(req.cidfile)) throw new CliError(`${ctx.bin}: container ID file found, make sure the other container isn't running or delete ${req.cidfile}`, 125);
  const client = ctx.client();
  const query = { ...(req.name ? { name: req.name } : {}), ...(req.platform ? { platform: req.platform } : {}) };
  const body = goJson(req.body);
  const send = () => client.requestJson<{ Id: string; Warnings: string[] | null }>("POST", "/containers/create", { query, body });
  if (req.pull === "always") await pullImage(ctx, req.image, req.platform, quiet);
  let created: { Id: string; Warnings: string[] | null };
  try {
    created = await send();
  } catch (e) {
    if (!(e instanceof DaemonError && e.status === 404 && /No such image/i.test(e.message) && req.pull === "missing")) throw e;
    const ref = await familiarWithTag(req.image);
    await write(ctx.io.stderr, `Unable to find image '${ref.text}' locally\n`);
    await pullImage(ctx, req.image, req.platform, quiet);
    created = await send();
  }
  for (const w of created.Warnings ?? []) await write(ctx.io.stderr, `WARNING: ${w}\n`);
  if (req.cidfile) {
    try {
      writeFileSync(req.cidfile, created.Id, { flag: "wx" });
    } catch (e) {
      throw new CliError(`${ctx.bin}: failed to create the container ID file: ${(e as Error).message}`, 125);
    }
  }
  return created.Id;
}

function attachQuery(o: { stdin: boolean; stdout: boolean; stderr: boolean; detachKeys: string; logs?: boolean }) {
  return {
    ...(o.detachKeys ? { detachKeys: o.detachKeys } : {}),
    ...(o.logs ? { logs: "1" } : {}),
    ...(o.stderr ? { stderr: "1" } : {}),
    ...(o.stdin ? { stdin: "1" } : {}),
    ...(o.stdout ? { stdout: "1" } : {}),
    stream: "1",
  };
}

interface Session {
  done: Promise<void>;
  close(): void;
}

/** Connects the local streams to a hijacked connection; a tty stdin goes raw until `close`. */
function connect(ctx: CliContext, h: Hijacked, o: { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean }): Session {
  const restore = o.stdin && o.tty ? rawMode(ctx.io.stdin) : () => {};
  const pump = pumpHijacked(h, {
    stdin: o.stdin ? ctx.io.stdin : undefined,
    stdout: o.stdout ? ctx.io.stdout : undefined,
    stderr: o.stderr ? ctx.io.stderr : undefined,
  });
  return {
    done: pump.done.finally(restore),
    close() {
      restore();
      h.socket.destroy();
    },
  };
}

/** `POST /containers/{id}/wait`: resolves once the daemon has the wait in place; `result` is the exit. */
async function waitFor(client: EngineClient, id: string, condition: string): Promise<{ result: Promise<number>; abort(): void }> {
  const res = await client.request("POST", `/containers/${enc(id)}/wait`, { query: { condition } });
  const result = (async () => {
    let text = "";
    for await (const c of res) text += (c as Buffer).toString();
    const parsed = JSON.parse(text) as { StatusCode: number; Error?: { Message?: string } | null };
    if (parsed.Error?.Message) throw new CliError(`${parsed.Error.Message}`, 125);
    return parsed.StatusCode;
  })();
  result.catch(() => {});
  return { result, abort: () => res.destroy() };
}

function resizeOf(client: EngineClient, kind: "containers" | "exec", id: string) {
  return (h: number, w: number) => client.requestEmpty("POST", `/${kind}/${enc(id)}/resize`, { query: { h: String(h), w: String(w) } });
}

// ---------------------------------------------------------------- run / create

export const createCommand: Command = {
  spec: {
    use: "[OPTIONS] IMAGE [COMMAND] [ARG...]",
    short: "Create a new container",
    aliases: "wharf container create, wharf create",
    args: { kind: "min", n: 1 },
    interspersed: false,
    flags: CONTAINER_FLAGS,
  },
  async run(ctx, flags, args) {
    try {
      const req = buildCreateRequest(flags, args, { detach: false });
      const id = await createContainer(ctx, req, flags.bool("quiet"));
      await write(ctx.io.stdout, id + "\n");
    } catch (e) {
      throw runError(ctx, "create", e);
    }
  },
};

export const runCommand: Command = {
  spec: {
    use: "[OPTIONS] IMAGE [COMMAND] [ARG...]",
    short: "Create and run a new container from an image",
    aliases: "wharf container run, wharf run",
    args: { kind: "min", n: 1 },
    interspersed: false,
    flags: RUN_FLAGS,
  },
  run: (ctx, flags, args) => runContainer(ctx, flags, args),
};

async function runContainer(ctx: CliContext, flags: FlagValues, args: string[]): Promise<void> {
  const detach = flags.bool("detach");
  let req: CreateRequest;
  try {
    req = buildCreateRequest(flags, args, { detach });
  } catch (e) {
    throw runError(ctx, "run", e);
  }
  if (req.attachStdin && req.tty && !ctx.io.stdinIsTTY) throw new CliError(`${ctx.bin}: the input device is not a TTY`, 1);
  const client = ctx.client();
  let id: string;
  try {
    id = await createContainer(ctx, req, flags.bool("quiet"));
  } catch (e) {
    throw runError(ctx, "run", e);
  }
  if (detach) {
    try {
      await client.requestEmpty("POST", `/containers/${enc(id)}/start`);
    } catch (e) {
      throw runError(ctx, "run", e, e instanceof DaemonError ? startErrorStatus(e.message) : 125);
    }
    await write(ctx.io.stdout, id + "\n");
    return;
  }
  const attaching = req.attachStdin || req.attachStdout || req.attachStderr;
  // Attach and wait before start, as docker does, so no output and no exit is
  // missed: both requests at once, each on its own connection.
  let session: Session | undefined;
  const [attached, waited] = await Promise.allSettled([
    attaching ? client.hijack(`/containers/${enc(id)}/attach`, { query: attachQuery({ stdin: req.attachStdin, stdout: req.attachStdout, stderr: req.attachStderr, detachKeys: flags.string("detach-keys") }) }) : Promise.resolve(undefined),
    waitFor(client, id, req.autoRemove ? "removed" : "next-exit"),
  ]);
  if (attached.status === "rejected" || waited.status === "rejected") {
    if (attached.status === "fulfilled") attached.value?.socket.destroy();
    if (waited.status === "fulfilled") waited.value.abort();
    throw runError(ctx, "run", attached.status === "rejected" ? attached.reason : (waited as PromiseRejectedResult).reason);
  }
  const wait = waited.value;
  if (attached.value) session = connect(ctx, attached.value, { stdin: req.attachStdin, stdout: req.attachStdout, stderr: req.attachStderr, tty: req.tty });
  const stopProxy = flags.bool("sig-proxy") && !req.tty ? proxySignals((s) => client.requestEmpty("POST", `/containers/${enc(id)}/kill`, { query: { signal: s } })) : () => {};
  try {
    try {
      await client.requestEmpty("POST", `/containers/${enc(id)}/start`);
    } catch (e) {
      session?.close();
      if (req.autoRemove) await wait.result.catch(() => {});
      else wait.abort();
      throw runError(ctx, "run", e, e instanceof DaemonError ? startErrorStatus(e.message) : 125);
    }
    const stopResize = req.tty && ctx.io.stdoutIsTTY ? forwardResize(ctx.io.stdout, resizeOf(client, "containers", id)) : () => {};
    try {
      if (session) await session.done;
      const status = await wait.result;
      if (status !== 0) throw new CliError("", status);
    } finally {
      stopResize();
    }
  } finally {
    stopProxy();
  }
}

// ---------------------------------------------------------------- start / attach

interface ContainerView {
  Id: string;
  Config: { Tty: boolean; OpenStdin: boolean; AttachStdin: boolean };
  State: { Running: boolean; Paused: boolean; Restarting: boolean; Status: string };
}

export const startCommand: Command = {
  spec: {
    use: "[OPTIONS] CONTAINER [CONTAINER...]",
    short: "Start one or more stopped containers",
    aliases: "wharf container start, wharf start",
    args: { kind: "min", n: 1 },
    flags: [
      { name: "attach", short: "a", kind: "bool", usage: "Attach STDOUT/STDERR and forward signals" },
      { name: "detach-keys", kind: "string", valueName: "string", usage: "Override the key sequence for detaching a container" },
      { name: "interactive", short: "i", kind: "bool", usage: "Attach container's STDIN" },
    ],
  },
  async run(ctx, flags, args) {
    const client = ctx.client();
    const attach = flags.bool("attach") || flags.bool("interactive");
    if (attach) {
      if (args.length > 1) throw new CliError("you cannot start and attach multiple containers at once");
      const c = await client.requestJson<ContainerView>("GET", `/containers/${enc(args[0]!)}/json`);
      const stdin = flags.bool("interactive") && c.Config.OpenStdin;
      const h = await client.hijack(`/containers/${enc(c.Id)}/attach`, { query: attachQuery({ stdin, stdout: true, stderr: true, detachKeys: flags.string("detach-keys") }) });
      const session = connect(ctx, h, { stdin, stdout: true, stderr: true, tty: c.Config.Tty });
      const wait = await waitFor(client, c.Id, "next-exit");
      const stopProxy = !c.Config.Tty ? proxySignals((s) => client.requestEmpty("POST", `/containers/${enc(c.Id)}/kill`, { query: { signal: s } })) : () => {};
      try {
        await client.requestEmpty("POST", `/containers/${enc(c.Id)}/start`);
      } catch (e) {
        session.close();
        wait.abort();
        stopProxy();
        throw e;
      }
      const stopResize = c.Config.Tty && ctx.io.stdoutIsTTY ? forwardResize(ctx.io.stdout, resizeOf(client, "containers", c.Id)) : () => {};
      try {
        await session.done;
        const status = await wait.result;
        if (status !== 0) throw new CliError("", status);
      } finally {
        stopResize();
        stopProxy();
      }
      return;
    }
    const errors: string[] = [];
    const failed: string[] = [];
    for (const name of args) {
      try {
        await client.requestEmpty("POST", `/containers/${enc(name)}/start`);
        await write(ctx.io.stdout, name + "\n");
      } catch (e) {
        if (!(e instanceof DaemonError)) throw e;
        errors.push(daemonText(e));
        failed.push(name);
      }
    }
    if (errors.length > 0) throw new CliError(`${errors.join("\n")}\nError: failed to start containers: ${failed.join(", ")}`);
  },
};

export const attachCommand: Command = {
  spec: {
    use: "[OPTIONS] CONTAINER",
    short: "Attach local standard input, output, and error streams to a running container",
    aliases: "wharf container attach, wharf attach",
    args: { kind: "exact", n: 1 },
    flags: [
      { name: "detach-keys", kind: "string", valueName: "string", usage: "Override the key sequence for detaching a container" },
      { name: "no-stdin", kind: "bool", usage: "Do not attach STDIN" },
      { name: "sig-proxy", kind: "bool", defaultValue: true, usage: "Proxy all received signals to the process" },
    ],
  },
  async run(ctx, flags, args) {
    const client = ctx.client();
    const c = await client.requestJson<ContainerView>("GET", `/containers/${enc(args[0]!)}/json`);
    if (!c.State.Running) throw new CliError("You cannot attach to a stopped container, start it first");
    if (c.State.Paused) throw new CliError("You cannot attach to a paused container, unpause it first");
    if (c.State.Restarting) throw new CliError("You cannot attach to a restarting container, wait until it is running");
    const stdin = !flags.bool("no-stdin") && c.Config.OpenStdin;
    if (stdin && c.Config.Tty && !ctx.io.stdinIsTTY) throw new CliError("the input device is not a TTY");
    const h = await client.hijack(`/containers/${enc(c.Id)}/attach`, { query: attachQuery({ stdin, stdout: true, stderr: true, detachKeys: flags.string("detach-keys") }) });
    const session = connect(ctx, h, { stdin, stdout: true, stderr: true, tty: c.Config.Tty });
    const stopProxy = flags.bool("sig-proxy") && !c.Config.Tty ? proxySignals((s) => client.requestEmpty("POST", `/containers/${enc(c.Id)}/kill`, { query: { signal: s } })) : () => {};
    const stopResize = c.Config.Tty && ctx.io.stdoutIsTTY ? forwardResize(ctx.io.stdout, resizeOf(client, "containers", c.Id)) : () => {};
    try {
      await session.done;
    } finally {
      stopResize();
      stopProxy();
    }
    // The exit code of the container, as docker reports it after the stream ends.
    const after = await client.requestJson<{ State: { Running: boolean; ExitCode: number } }>("GET", `/containers/${enc(c.Id)}/json`).catch(() => undefined);
    if (after && !after.State.Running && after.State.ExitCode !== 0) throw new CliError("", after.State.ExitCode);
  },
};

// ---------------------------------------------------------------- exec

const EXEC_FLAGS: readonly FlagSpec[] = [
  { name: "detach", short: "d", kind: "bool", usage: "Detached mode: run command in the background" },
  { name: "detach-keys", kind: "string", valueName: "string", usage: "Override the key sequence for detaching a container" },
  { name: "env", short: "e", kind: "stringArray", valueName: "list", usage: "Set environment variables" },
  { name: "env-file", kind: "stringArray", valueName: "list", usage: "Read in a file of environment variables" },
  { name: "interactive", short: "i", kind: "bool", usage: "Keep STDIN open even if not attached" },
  { name: "privileged", kind: "bool", usage: "Give extended privileges to the command" },
  { name: "tty", short: "t", kind: "bool", usage: "Allocate a pseudo-TTY" },
  { name: "user", short: "u", kind: "string", valueName: "string", usage: "Username or UID (format: \"<name|uid>[:<group|gid>]\")" },
  { name: "workdir", short: "w", kind: "string", valueName: "string", usage: "Working directory inside the container" },
];

/** The body of `POST /containers/{id}/exec`, in docker's member order. */
export function execBody(flags: FlagValues, cmd: readonly string[], env: NodeJS.ProcessEnv = process.env, consoleSize?: [number, number]): { body: Record<string, unknown>; tty: boolean; stdin: boolean; detach: boolean } {
  const detach = flags.bool("detach");
  const tty = flags.bool("tty");
  const stdin = flags.bool("interactive") && !detach;
  const envList = [...flags.strings("env-file").flatMap((f) => readKeyValueFile(f, true, env)), ...flags.strings("env").map((e) => (e.includes("=") || env[e] === undefined ? e : `${e}=${env[e]}`))];
  return {
    tty,
    stdin,
    detach,
    body: {
      User: flags.string("user"),
      Privileged: flags.bool("privileged"),
      Tty: tty,
      ...(consoleSize ? { ConsoleSize: consoleSize } : {}),
      AttachStdin: stdin,
      AttachStderr: !detach,
      AttachStdout: !detach,
      Detach: detach,
      DetachKeys: flags.string("detach-keys"),
      Env: envList.length > 0 ? envList : null,
      WorkingDir: flags.string("workdir"),
      Cmd: [...cmd],
    },
  };
}

export const execCommand: Command = {
  spec: {
    use: "[OPTIONS] CONTAINER COMMAND [ARG...]",
    short: "Execute a command in a running container",
    aliases: "wharf container exec, wharf exec",
    args: { kind: "min", n: 2 },
    interspersed: false,
    flags: EXEC_FLAGS,
  },
  async run(ctx, flags, args) {
    const [container, ...cmd] = args as [string, ...string[]];
    const client = ctx.client();
    const out = ctx.io.stdout as { rows?: number; columns?: number };
    const size: [number, number] | undefined = flags.bool("tty") && ctx.io.stdoutIsTTY && out.rows && out.columns ? [out.rows, out.columns] : undefined;
    const e = execBody(flags, cmd, process.env, size);
    if (e.stdin && e.tty && !ctx.io.stdinIsTTY) throw new CliError("the input device is not a TTY");
    const { Id } = await client.requestJson<{ Id: string }>("POST", `/containers/${enc(container)}/exec`, { body: goJson(e.body) });
    const startBody = goJson({ Detach: e.detach, Tty: e.tty, ...(size ? { ConsoleSize: size } : {}) });
    if (e.detach) {
      const res = await client.request("POST", `/exec/${enc(Id)}/start`, { body: startBody });
      res.resume();
      return;
    }
    const h = await client.hijack(`/exec/${enc(Id)}/start`, { body: startBody });
    const session = connect(ctx, h, { stdin: e.stdin, stdout: true, stderr: true, tty: e.tty });
    const stopResize = e.tty && ctx.io.stdoutIsTTY ? forwardResize(ctx.io.stdout, resizeOf(client, "exec", Id)) : () => {};
    try {
      await session.done;
    } finally {
      stopResize();
    }
    const info = await client.requestJson<{ ExitCode: number | null; Running: boolean }>("GET", `/exec/${enc(Id)}/json`);
    if (info.ExitCode !== null && info.ExitCode !== 0) throw new CliError("", info.ExitCode);
  },
};
