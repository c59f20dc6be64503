// What every command gets: its streams, the client, and the errors that
// decide the exit status the way docker's do.
import type { Readable, Writable } from "node:stream";
import type { EngineClient } from "../api/client.js";
import type { CommandSpec, FlagValues } from "./flags.js";

export interface Io {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  stdoutIsTTY: boolean;
  stdinIsTTY: boolean;
}

export interface CliContext {
  bin: string;
  io: Io;
  /** The client, made on first use so commands that need no daemon never open one. */
  client(): EngineClient;
}

/** An error the CLI prints as it is (one line or several) and exits with `status`. */
export class CliError extends Error {
  override name = "CliError";
  constructor(
    message: string,
    readonly status: number = 1,
  ) {
    super(message);
  }
}

export interface Command {
  /** Everything but the words that reach the command, which depend on how it was invoked (`images` or `image ls`). */
  spec: Omit<CommandSpec, "path">;
  run(ctx: CliContext, flags: FlagValues, args: string[]): Promise<void>;
}

/** Writes to a stream and waits until it has taken the bytes. */
export function write(stream: Writable, text: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(text, (err) => (err ? reject(err) : resolve()));
  });
}
