// registry/errors: the distribution spec's error codes. A registry error is a
// WharfError (the one error class) whose wire code is recorded beside it;
// `errorResponse` is the one place codes and kinds become HTTP statuses.
import { WharfError, type ErrorKind } from "../internal/index.js";

export type ErrorCode =
  | "BLOB_UNKNOWN"
  | "BLOB_UPLOAD_INVALID"
  | "BLOB_UPLOAD_UNKNOWN"
  | "DIGEST_INVALID"
  | "MANIFEST_BLOB_UNKNOWN"
  | "MANIFEST_INVALID"
  | "MANIFEST_UNKNOWN"
  | "NAME_INVALID"
  | "NAME_UNKNOWN"
  | "SIZE_INVALID"
  | "UNAUTHORIZED"
  | "DENIED"
  | "UNSUPPORTED"
  | "TOOMANYREQUESTS"
  // Not in the spec's table, but what clients expect for these statuses.
  | "RANGE_INVALID"
  | "MANIFEST_TOO_LARGE"
  | "PAGINATION_NUMBER_INVALID"
  | "UNKNOWN";

interface CodeInfo {
  readonly status: number;
  readonly kind: ErrorKind;
  readonly description: string;
}

const CODES: Record<ErrorCode, CodeInfo> = {
  BLOB_UNKNOWN: { status: 404, kind: "not-found", description: "blob unknown to registry" },
  BLOB_UPLOAD_INVALID: { status: 400, kind: "invalid-argument", description: "blob upload invalid" },
  BLOB_UPLOAD_UNKNOWN: { status: 404, kind: "not-found", description: "blob upload unknown to registry" },
  DIGEST_INVALID: { status: 400, kind: "invalid-argument", description: "provided digest did not match uploaded content" },
  MANIFEST_BLOB_UNKNOWN: { status: 400, kind: "precondition", description: "manifest references a manifest or blob unknown to registry" },
  MANIFEST_INVALID: { status: 400, kind: "invalid-argument", description: "manifest invalid" },
  MANIFEST_UNKNOWN: { status: 404, kind: "not-found", description: "manifest unknown to registry" },
  NAME_INVALID: { status: 400, kind: "invalid-argument", description: "invalid repository name" },
  NAME_UNKNOWN: { status: 404, kind: "not-found", description: "repository name not known to registry" },
  SIZE_INVALID: { status: 400, kind: "invalid-argument", description: "provided length did not match content length" },
  UNAUTHORIZED: { status: 401, kind: "unauthorized", description: "authentication required" },
  DENIED: { status: 403, kind: "forbidden", description: "requested access to the resource is denied" },
  UNSUPPORTED: { status: 405, kind: "not-implemented", description: "the operation is unsupported" },
  TOOMANYREQUESTS: { status: 429, kind: "unavailable", description: "too many requests" },
  RANGE_INVALID: { status: 416, kind: "invalid-argument", description: "requested range not satisfiable" },
  MANIFEST_TOO_LARGE: { status: 413, kind: "invalid-argument", description: "manifest too large" },
  PAGINATION_NUMBER_INVALID: { status: 400, kind: "invalid-argument", description: "invalid number of results requested" },
  UNKNOWN: { status: 500, kind: "internal", description: "unknown error" },
};

interface Recorded {
  readonly code: ErrorCode;
  readonly detail?: unknown;
  /** The WWW-Authenticate challenge of an UNAUTHORIZED error. */
  readonly challenge?: string;
}

const codes = new WeakMap<WharfError, Recorded>();

/** A WharfError carrying the spec's `code` (and optional `detail` for the JSON body). */
export function registryError(code: ErrorCode, message: string, options: { detail?: unknown; cause?: unknown; challenge?: string } = {}): WharfError {
  const e = new WharfError(CODES[code].kind, message, options.cause === undefined ? undefined : { cause: options.cause });
  codes.set(e, { code, ...(options.detail !== undefined ? { detail: options.detail } : {}), ...(options.challenge !== undefined ? { challenge: options.challenge } : {}) });
  return e;
}

export function errorCodeOf(e: unknown): ErrorCode | undefined {
  return e instanceof WharfError ? codes.get(e)?.code : undefined;
}

/** When an error has no registry code, its kind decides, with `fallback` for not-found. */
const KIND_CODES: Record<ErrorKind, ErrorCode> = {
  "invalid-argument": "BLOB_UPLOAD_INVALID",
  "not-found": "NAME_UNKNOWN",
  conflict: "BLOB_UPLOAD_INVALID",
  unauthorized: "UNAUTHORIZED",
  forbidden: "DENIED",
  precondition: "BLOB_UPLOAD_INVALID",
  unavailable: "TOOMANYREQUESTS",
  "no-space": "UNKNOWN",
  "data-corrupt": "DIGEST_INVALID",
  "not-implemented": "UNSUPPORTED",
  cancelled: "UNKNOWN",
  internal: "UNKNOWN",
};

export interface ErrorResponse {
  readonly status: number;
  readonly code: ErrorCode;
  readonly body: string;
  readonly challenge?: string;
}

/** The status and JSON body (`{"errors":[{code,message,detail}]}`) for any thrown value. */
export function errorResponse(e: unknown): ErrorResponse {
  const recorded = e instanceof WharfError ? codes.get(e) : undefined;
  const code: ErrorCode = recorded?.code ?? (e instanceof WharfError ? KIND_CODES[e.kind] : "UNKNOWN");
  let status = CODES[code].status;
  if (!recorded && e instanceof WharfError && e.kind === "no-space") status = 507;
  const message = e instanceof Error ? e.message : String(e);
  const entry: Record<string, unknown> = { code, message: code === "UNKNOWN" && !(e instanceof WharfError) ? "internal error" : message };
  if (recorded?.detail !== undefined) entry.detail = recorded.detail;
  const body = JSON.stringify({ errors: [entry] });
  return recorded?.challenge !== undefined ? { status, code, body, challenge: recorded.challenge } : { status, code, body };
}
