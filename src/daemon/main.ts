// wharfd's entry: parse the command line, start the engine, stop it cleanly
// on SIGTERM or SIGINT. Logs are JSON lines on stderr.
import { readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { errorChain, installedFile, jsonLogger } from "../internal/index.js";
import { parseDaemonArgs, USAGE, type Invocation } from "./config.js";
import type { BuildInfo } from "./daemon.js";

/** The project root: the directory above dist/ (this module's own file, or the daemon's bundle, is in it). */
function projectRoot(): string {
  const pkg = installedFile(import.meta.url, "package.json");
  if (pkg === undefined) throw new Error("package.json not found above the daemon's files");
  return dirname(pkg);
}

/** The commit the build came from, read from .git without running git; "" when unknown. */
export async function readGitCommit(root: string): Promise<string> {
  try {
    const head = (await readFile(join(root, ".git", "HEAD"), "utf8")).trim();
    if (!head.startsWith("ref: ")) return head.slice(0, 7);
    const ref = head.slice(5);
    const loose = await readFile(join(root, ".git", ref), "utf8").catch(() => undefined);
    if (loose) return loose.trim().slice(0, 7);
    const packed = await readFile(join(root, ".git", "packed-refs"), "utf8");
    const line = packed.split("\n").find((l) => l.endsWith(` ${ref}`));
    return line ? line.slice(0, 7) : "";
  } catch {
    return "";
  }
}

export async function buildInfo(root = projectRoot()): Promise<BuildInfo> {
  const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { version?: unknown };
  const built = await stat(fileURLToPath(import.meta.url)).catch(() => undefined);
  return {
    version: typeof pkg.version === "string" ? pkg.version : "0.0.0",
    gitCommit: await readGitCommit(root),
    buildTime: (built?.mtime ?? new Date()).toISOString(),
  };
}

export async function main(argv: readonly string[]): Promise<void> {
  let invocation: Invocation;
  try {
    invocation = parseDaemonArgs(argv);
  } catch (e) {
    process.stderr.write(`wharfd: ${errorChain(e)} (see 'wharfd --help')\n`);
    process.exitCode = 1;
    return;
  }
  if (invocation.kind === "help") {
    process.stdout.write(USAGE);
    return;
  }
  const build = await buildInfo();
  if (invocation.kind === "version") {
    process.stdout.write(`wharfd version ${build.version}, build ${build.gitCommit || "unknown"}\n`);
    return;
  }
  const config = invocation.config;
  const logger = jsonLogger({ level: config.logLevel });
  let daemon;
  try {
    // Loaded only to run: --help, --version and flag errors must not depend on the engine's
    // modules (and the native addon) loading.
    const [{ startDaemon }, { openStores }] = await Promise.all([import("./daemon.js"), import("./stores.js")]);
    daemon = await startDaemon(config, { build, logger, openImages: openStores });
  } catch (e) {
    logger.error("wharfd failed to start", { error: errorChain(e) });
    process.exit(1);
  }
  logger.info("wharfd started", { version: build.version, dataRoot: config.dataRoot, execRoot: config.execRoot, pid: process.pid });
  const running = daemon;
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      // A second signal means the operator will not wait for the grace period.
      logger.warn("second signal while stopping; exiting now", { signal });
      process.exit(1);
    }
    logger.info("stopping", { signal });
    running.stop().then(
      () => {
        logger.info("wharfd stopped");
        process.exit(0);
      },
      (e: unknown) => {
        logger.error("stopping failed", { error: errorChain(e) });
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}
