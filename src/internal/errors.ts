// The one error type of wharf. Its `kind` is a closed set; the API maps each
// kind to an HTTP status in exactly one place (api/status.ts).
export type ErrorKind =
  | "invalid-argument" // the caller sent something malformed
  | "not-found" // the named object does not exist
  | "conflict" // the object exists, is in use, or changed under us
  | "unauthorized" // credentials missing or wrong
  | "forbidden" // credentials fine, action refused
  | "precondition" // the state does not allow the action (container running…)
  | "unavailable" // a dependency (registry, runtime) is down; retry may help
  | "no-space" // the disk is full
  | "data-corrupt" // stored or received bytes fail verification
  | "not-implemented"
  | "cancelled"
  | "internal"; // a bug in wharf

export class WharfError extends Error {
  override name = "WharfError";
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
  }
}

export function wharfError(kind: ErrorKind, message: string, cause?: unknown): WharfError {
  return new WharfError(kind, message, cause === undefined ? undefined : { cause });
}

export function isKind(e: unknown, kind: ErrorKind): e is WharfError {
  return e instanceof WharfError && e.kind === kind;
}

/** Node's errno code of an error, if it has one. */
export function errnoCode(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && "code" in e && typeof (e as { code: unknown }).code === "string" ? (e as { code: string }).code : undefined;
}

/**
 * Turns any thrown value into a WharfError, naming the action that failed.
 * ENOSPC becomes no-space and ENOENT not-found, so callers need not look at errno.
 */
export function asWharfError(e: unknown, action: string): WharfError {
  if (e instanceof WharfError) return e;
  const code = errnoCode(e);
  const detail = e instanceof Error ? e.message : String(e);
  if (code === "ENOSPC" || code === "EDQUOT") return new WharfError("no-space", `${action}: no space left on device`, { cause: e });
  if (code === "ENOENT") return new WharfError("not-found", `${action}: ${detail}`, { cause: e });
  if (code === "ABORT_ERR") return new WharfError("cancelled", `${action}: cancelled`, { cause: e });
  return new WharfError("internal", `${action}: ${detail}`, { cause: e });
}

/** The message chain of an error on one line: `outer: inner: innermost`. */
export function errorChain(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 8; depth++) {
    const msg = cur instanceof Error ? cur.message : String(cur);
    if (!parts.some((p) => p.includes(msg))) parts.push(msg);
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return parts.join(": ");
}
