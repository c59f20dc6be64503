// The one place where an error becomes an HTTP answer: each ErrorKind maps to
// the status dockerd gives the same failure, and the body is docker's
// `{"message": "..."}` with the whole cause chain on one line.
import { errorChain, WharfError, type ErrorKind, type Logger } from "../internal/index.js";
import type { ErrorResponse } from "./wire.js";

/** dockerd's status for each kind; exhaustive so a new kind cannot be forgotten. */
export function statusOfKind(kind: ErrorKind): number {
  switch (kind) {
    case "invalid-argument":
      return 400;
    case "unauthorized":
      return 401;
    case "forbidden":
      return 403;
    case "not-found":
      return 404;
    case "conflict":
      return 409;
    // dockerd answers "container already started/stopped" style refusals with 409 (304 only for start/stop no-ops, decided by those routes).
    case "precondition":
      return 409;
    case "not-implemented":
      return 501;
    case "unavailable":
      return 503;
    // dockerd has no 507 or 499: a full disk and a client that went away are both 500 there.
    case "no-space":
    case "cancelled":
    case "data-corrupt":
    case "internal":
      return 500;
  }
}

export interface HttpError {
  readonly status: number;
  readonly body: ErrorResponse;
  readonly kind: ErrorKind;
}

/** Anything thrown → status and body. A value that is not a WharfError is a bug: internal. */
export function httpError(e: unknown): HttpError {
  const kind: ErrorKind = e instanceof WharfError ? e.kind : "internal";
  return { status: statusOfKind(kind), body: { message: errorChain(e) }, kind };
}

/**
 * Logs a handled error once, with fields. Client mistakes (4xx) are only
 * worth a debug line; failures of wharf itself are errors.
 */
export function logHandledError(logger: Logger, e: unknown, fields: Record<string, unknown>): HttpError {
  const answer = httpError(e);
  const entry = { ...fields, status: answer.status, kind: answer.kind, error: answer.body.message };
  if (!(e instanceof WharfError)) logger.error("unexpected error handling request", { ...entry, stack: e instanceof Error ? e.stack : undefined });
  else if (answer.status >= 500) logger.error("request failed", entry);
  else logger.debug("request refused", entry);
  return answer;
}
