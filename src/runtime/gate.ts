// The gate a container's create waits at, so that its monitor starts while
// the daemon still mounts the root file system and writes the spec. conmon
// runs native/wharf_gate.c as the runtime; the gate opens a FIFO in the
// bundle and waits for one byte: `1` runs the real runtime, `0` (or the
// daemon gone) calls the create off. The daemon holds the FIFO open for
// writing from before conmon starts until the create settled, so the gate's
// open never waits and a byte written early is never lost.
import { closeSync, constants, openSync, unlinkSync, writeSync } from "node:fs";
import { nativeFile, sys } from "../internal/index.js";

const S_IFIFO = 0o010000;

/** The gate's FIFO in a container's bundle. */
export const GATE_FILE = "gate";

let gateBinary: string | undefined;

export class StartGate {
  readonly #fd: number;
  #settled = false;

  private constructor(
    /** The FIFO the gate reads. */
    readonly path: string,
    /** The gate's program, which conmon runs as the runtime. */
    readonly binary: string,
    fd: number,
  ) {
    this.#fd = fd;
  }

  /** A gate at `path`, where nothing may be (an earlier start's FIFO is the caller's to remove). */
  static create(path: string): StartGate {
    gateBinary ??= nativeFile("wharf-gate");
    sys().mknod(path, S_IFIFO | 0o600, 0, 0);
    // Read and write: a FIFO opened so never waits for a reader, and keeps what is written for one (libuv opens it close-on-exec).
    return new StartGate(path, gateBinary, openSync(path, constants.O_RDWR | constants.O_NONBLOCK));
  }

  /** What the gate reads from its environment: the FIFO and the runtime it lets run. */
  env(runtime: string): Record<string, string> {
    return { WHARF_GATE: this.path, WHARF_GATE_RUNTIME: runtime };
  }

  /** Lets the runtime's create run. */
  open(): void {
    this.#send("1");
  }

  /** Calls the create off: the gate ends, and conmon reports the runtime's failure. */
  cancel(): void {
    this.#send("0");
  }

  #send(byte: string): void {
    if (this.#settled) return;
    this.#settled = true;
    writeSync(this.#fd, byte);
  }

  /** Once the create settled (the gate has read its byte, or is gone): the FIFO goes. */
  close(): void {
    closeSync(this.#fd);
    try {
      unlinkSync(this.path);
    } catch {
      // gone already
    }
  }
}
