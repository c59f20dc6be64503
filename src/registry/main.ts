// registry/main: `wharf registry serve` — bin/wharf hands the words after
// `registry` here, so the CLI (which talks only to wharfd's API) never loads
// the registry, and the registry runs without a daemon.
import { errorChain, jsonLogger } from "../internal/index.js";
import { parseServe, SERVE_USAGE } from "./config.js";
import { startRegistry } from "./serve.js";

const GROUP_USAGE = `Usage:  wharf registry COMMAND

Run an OCI distribution registry

Commands:
  serve       Serve an OCI distribution registry (no daemon needed)

Run 'wharf registry COMMAND --help' for more information on a command.
`;

/** Runs `wharf registry …` (`argv` starts after `registry`); resolves with the exit status once the server stops. */
export async function runRegistryCommand(argv: readonly string[], io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream } = process): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
    io.stdout.write(GROUP_USAGE);
    return 0;
  }
  if (sub !== "serve") {
    io.stderr.write(`wharf: unknown command: wharf registry ${sub}\n\nRun 'wharf registry --help' for more information\n`);
    return 1;
  }
  let invocation;
  try {
    invocation = await parseServe(rest);
  } catch (e) {
    io.stderr.write(`wharf registry serve: ${errorChain(e)}\nSee 'wharf registry serve --help'.\n`);
    return 125;
  }
  if (invocation.kind === "help") {
    io.stdout.write(SERVE_USAGE);
    return 0;
  }
  const logger = jsonLogger({ level: invocation.config.logLevel, write: (line) => io.stderr.write(line) });
  let running;
  try {
    running = await startRegistry(invocation.config, logger.with({ module: "registry" }));
  } catch (e) {
    io.stderr.write(`wharf registry serve: ${errorChain(e)}\n`);
    return 1;
  }
  const r = running;
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info("stopping", { signal });
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      void r.close().then(resolve, (e: unknown) => {
        logger.error("stop", { error: e });
        resolve();
      });
    };
    const onInt = () => stop("SIGINT");
    const onTerm = () => stop("SIGTERM");
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
  });
  return 0;
}

/** The entry point bin/wharf calls for `wharf registry …`. */
export async function main(argv: readonly string[]): Promise<void> {
  process.exitCode = await runRegistryCommand(argv);
}
