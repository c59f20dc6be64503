// run: one RUN step's process, run by the OCI runtime (runc) in the foreground
// on a root filesystem the executor mounted. The spec comes from the runtime
// module's pure builder; the process's output streams to the build log as it
// comes, and the tail is kept for the error message of a failed step.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { RuntimeMount } from "../oci/index.js";
import { buildSpec, resolveCapabilities, which, type SpecUser } from "../runtime/index.js";
import { wharfError } from "../internal/index.js";

export interface RunProcess {
  readonly rootfs: string;
  readonly args: readonly string[];
  readonly env: readonly string[];
  readonly cwd: string;
  readonly user: SpecUser;
  readonly mounts: readonly RuntimeMount[];
  readonly network: "none" | "host";
  readonly hostname: string;
}

export interface RunnerOptions {
  /** The runtime binary (runc). */
  readonly runtime: string;
  /** Its state directory (`--root`). */
  readonly stateDir: string;
  /** Where bundles go. */
  readonly bundleDir: string;
}

export interface RunOutcome {
  readonly exitCode: number;
  /** The last lines of output, for an error message. */
  readonly tail: string;
}

const TAIL_BYTES = 4096;

export class Runner {
  readonly #o: RunnerOptions;
  readonly #binary: string;

  constructor(options: RunnerOptions) {
    this.#o = options;
    this.#binary = which(options.runtime);
  }

  /** Runs the process to its end; `output` gets its stdout and stderr. */
  async run(p: RunProcess, output: (chunk: Buffer) => void, signal?: AbortSignal): Promise<RunOutcome> {
    const id = `build-${randomBytes(6).toString("hex")}`;
    const bundle = join(this.#o.bundleDir, id);
    await mkdir(bundle, { recursive: true, mode: 0o700 });
    const spec = buildSpec({
      rootfs: p.rootfs,
      readonlyRootfs: false,
      hostname: p.hostname,
      args: p.args,
      env: p.env,
      cwd: p.cwd,
      user: p.user,
      terminal: false,
      capabilities: resolveCapabilities({}),
      noNewPrivileges: false,
      privileged: false,
      seccomp: { kind: "default" },
      mounts: p.mounts,
      shmSize: 64 << 20,
      rlimits: [],
      resources: {},
      cgroupsPath: `/wharf-build/${id}`,
      network: p.network === "host" ? { kind: "host" } : { kind: "new" },
    });
    await writeFile(join(bundle, "config.json"), JSON.stringify(spec));
    let tail = Buffer.alloc(0);
    const keep = (chunk: Buffer) => {
      output(chunk);
      tail = Buffer.concat([tail, chunk]);
      if (tail.length > TAIL_BYTES) tail = tail.subarray(tail.length - TAIL_BYTES);
    };
    let clean = false;
    try {
      const child = spawn(this.#binary, ["--root", this.#o.stateDir, "run", "--bundle", bundle, id], { stdio: ["ignore", "pipe", "pipe"] });
      child.stdout.on("data", keep);
      child.stderr.on("data", keep);
      const onAbort = () => {
        const kill = spawn(this.#binary, ["--root", this.#o.stateDir, "kill", id, "KILL"], { stdio: "ignore" });
        kill.on("error", () => {});
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const code = await new Promise<number>((resolve, reject) => {
        child.once("error", (e) => reject(wharfError("unavailable", `run ${this.#binary}: ${e.message}`)));
        child.once("close", (c, sig) => resolve(c ?? (sig ? 128 + 9 : 1)));
      });
      signal?.removeEventListener("abort", onAbort);
      if (signal?.aborted) throw wharfError("cancelled", "build cancelled");
      clean = true;
      return { exitCode: code, tail: tail.toString("utf8") };
    } finally {
      // `runc run` deletes its container when the process ends; only an interrupted run leaves one behind.
      if (!clean) {
        await new Promise<void>((resolve) => {
          const del = spawn(this.#binary, ["--root", this.#o.stateDir, "delete", "--force", id], { stdio: "ignore" });
          del.once("close", () => resolve());
          del.once("error", () => resolve());
        });
      }
      await rm(bundle, { recursive: true, force: true });
    }
  }
}
