// registry/config: `wharf registry serve`'s flags and config file, parsed
// once into a typed RegistryConfig. The file is JSON; flags override it.
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { resolve } from "node:path";
import { asWharfError, wharfError, type LogLevel } from "../internal/index.js";
import type { AccessRule, Action } from "./auth.js";

export interface TokenConfig {
  /** The token endpoint URL clients are sent to; default `<scheme>://<addr>/token`. */
  readonly realm?: string;
  readonly service: string;
  readonly issuer: string;
  readonly expiresInSeconds: number;
  /** A file whose bytes are the HMAC key; random per start when absent. */
  readonly secretFile?: string;
  readonly rules: readonly AccessRule[];
}

export interface RegistryConfig {
  readonly addr: { readonly host: string; readonly port: number };
  readonly root: string;
  readonly logLevel: LogLevel;
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Plain HTTP on a non-loopback address, which is refused unless this is set. */
  readonly insecureHttp: boolean;
  readonly auth: {
    readonly htpasswd?: string;
    readonly realm: string;
    readonly anonymousPull: boolean;
    readonly token?: TokenConfig;
  };
  readonly deleteEnabled: boolean;
  readonly limits: {
    readonly maxManifestBytes: number;
    readonly maxListEntries: number;
    readonly uploadsPerClient: number;
    readonly uploadsTotal: number;
    readonly uploadIdleSeconds: number;
  };
  readonly gc: {
    /** 0: no periodic collection. */
    readonly intervalSeconds: number;
    readonly gracePeriodSeconds: number;
    readonly deleteUntagged: boolean;
  };
}

export const DEFAULT_ROOT = "/var/lib/wharf-registry";

export const SERVE_USAGE = `Usage:  wharf registry serve [OPTIONS]

Serve an OCI distribution registry (no daemon needed)

Options:
      --addr string         Address to listen on (default "127.0.0.1:5000")
      --root string         Storage root directory (default "${DEFAULT_ROOT}")
      --config string       JSON config file (keys in README); flags override it
      --tls-cert string     TLS certificate file (PEM)
      --tls-key string      TLS private key file (PEM)
      --htpasswd string     htpasswd file (bcrypt) for basic authentication
      --token-auth          Issue bearer tokens at /token instead of checking basic credentials on each request
      --anonymous-pull      Allow pulls without credentials
      --insecure-http       Allow plain HTTP on a non-loopback address
  -l, --log-level string    Logging level ("debug"|"info"|"warn"|"error") (default "info")
  -h, --help                Print usage
`;

export type ServeInvocation = { readonly kind: "serve"; readonly config: RegistryConfig } | { readonly kind: "help" };

function bad(message: string): never {
  throw wharfError("invalid-argument", message);
}

export function parseAddr(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  if (!m) bad(`invalid address ${JSON.stringify(text)}: expected host:port (127.0.0.1:5000, [::1]:5000, :5000)`);
  const port = Number(m[3]);
  if (port > 65535) bad(`invalid address ${JSON.stringify(text)}: port ${port} is out of range`);
  const host = m[1] ?? (m[2] === "" ? "0.0.0.0" : m[2]!);
  return { host, port };
}

export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}

function parseLogLevel(text: string): LogLevel {
  const t = text.toLowerCase();
  if (t === "debug" || t === "info" || t === "error") return t;
  if (t === "warn" || t === "warning") return "warn";
  bad(`invalid log level ${JSON.stringify(text)}: expected debug, info, warn or error`);
}

type Json = Record<string, unknown>;

function obj(v: unknown, where: string): Json {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) bad(`config ${where}: expected an object`);
  return v as Json;
}

function known(o: Json, keys: readonly string[], where: string): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) bad(`config ${where}: unknown key ${JSON.stringify(k)} (known: ${keys.join(", ")})`);
}

function str(o: Json, k: string, where: string): string | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v === "") bad(`config ${where}.${k}: expected a non-empty string`);
  return v;
}

function bool(o: Json, k: string, where: string): boolean | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") bad(`config ${where}.${k}: expected true or false`);
  return v;
}

function int(o: Json, k: string, where: string, min: number, max: number): number | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) bad(`config ${where}.${k}: expected an integer from ${min} to ${max}`);
  return v;
}

const RULE_ACTIONS: readonly Action[] = ["pull", "push", "delete"];

function parseRules(v: unknown): AccessRule[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) bad("config auth.token.rules: expected an array");
  return v.map((r, i) => {
    const o = obj(r, `auth.token.rules[${i}]`);
    known(o, ["user", "repository", "actions"], `auth.token.rules[${i}]`);
    const user = str(o, "user", `auth.token.rules[${i}]`) ?? bad(`config auth.token.rules[${i}].user is missing`);
    const repository = str(o, "repository", `auth.token.rules[${i}]`) ?? "*";
    const actions = o.actions;
    if (!Array.isArray(actions) || !actions.every((a) => typeof a === "string" && (RULE_ACTIONS as readonly string[]).includes(a))) bad(`config auth.token.rules[${i}].actions: expected an array of "pull", "push", "delete"`);
    return { user, repository, actions: actions as Action[] };
  });
}

/** Builds the config from the file's JSON (already read) and flag values. */
export function buildConfig(file: Json, flags: FlagValues): RegistryConfig {
  known(file, ["addr", "root", "logLevel", "tls", "insecureHttp", "auth", "delete", "limits", "gc"], "");
  const tlsJ = obj(file.tls, "tls");
  known(tlsJ, ["cert", "key"], "tls");
  const authJ = obj(file.auth, "auth");
  known(authJ, ["htpasswd", "realm", "anonymousPull", "token"], "auth");
  const tokenJ = authJ.token === true ? {} : authJ.token === false ? undefined : authJ.token === undefined ? undefined : obj(authJ.token, "auth.token");
  if (tokenJ) known(tokenJ, ["realm", "service", "issuer", "expiresInSeconds", "secretFile", "rules"], "auth.token");
  const limitsJ = obj(file.limits, "limits");
  known(limitsJ, ["maxManifestBytes", "maxListEntries", "uploadsPerClient", "uploadsTotal", "uploadIdleSeconds"], "limits");
  const gcJ = obj(file.gc, "gc");
  known(gcJ, ["intervalSeconds", "gracePeriodSeconds", "deleteUntagged"], "gc");

  const addr = parseAddr(flags.addr ?? str(file, "addr", "") ?? "127.0.0.1:5000");
  const root = resolve(flags.root ?? str(file, "root", "") ?? DEFAULT_ROOT);
  const cert = flags.tlsCert ?? str(tlsJ, "cert", "tls");
  const key = flags.tlsKey ?? str(tlsJ, "key", "tls");
  if ((cert === undefined) !== (key === undefined)) bad("TLS needs both a certificate and a key (--tls-cert and --tls-key, or tls.cert and tls.key)");
  const insecureHttp = flags.insecureHttp || (bool(file, "insecureHttp", "") ?? false);
  if (cert === undefined && !insecureHttp && !isLoopback(addr.host)) {
    bad(`refusing plain HTTP on ${addr.host}:${addr.port}, which is not a loopback address: give --tls-cert and --tls-key, or --insecure-http`);
  }
  const htpasswd = flags.htpasswd ?? str(authJ, "htpasswd", "auth");
  const useToken = flags.tokenAuth || tokenJ !== undefined;
  const t = tokenJ ?? {};
  const token: TokenConfig | undefined = useToken
    ? {
        ...(str(t, "realm", "auth.token") !== undefined ? { realm: str(t, "realm", "auth.token")! } : {}),
        service: str(t, "service", "auth.token") ?? "wharf-registry",
        issuer: str(t, "issuer", "auth.token") ?? "wharf-registry",
        expiresInSeconds: int(t, "expiresInSeconds", "auth.token", 10, 86400) ?? 300,
        ...(str(t, "secretFile", "auth.token") !== undefined ? { secretFile: str(t, "secretFile", "auth.token")! } : {}),
        rules: parseRules(t.rules),
      }
    : undefined;
  if (token && htpasswd === undefined && !(flags.anonymousPull || bool(authJ, "anonymousPull", "auth"))) bad("token authentication needs users (--htpasswd or auth.htpasswd) or anonymous pull");
  return {
    addr,
    root,
    logLevel: parseLogLevel(flags.logLevel ?? str(file, "logLevel", "") ?? "info"),
    ...(cert !== undefined && key !== undefined ? { tls: { cert, key } } : {}),
    insecureHttp,
    auth: {
      ...(htpasswd !== undefined ? { htpasswd } : {}),
      realm: str(authJ, "realm", "auth") ?? "wharf-registry",
      anonymousPull: flags.anonymousPull || (bool(authJ, "anonymousPull", "auth") ?? false),
      ...(token ? { token } : {}),
    },
    deleteEnabled: bool(file, "delete", "") ?? true,
    limits: {
      maxManifestBytes: int(limitsJ, "maxManifestBytes", "limits", 1024, 64 * 1024 * 1024) ?? 4 * 1024 * 1024,
      maxListEntries: int(limitsJ, "maxListEntries", "limits", 1, 100_000) ?? 1000,
      uploadsPerClient: int(limitsJ, "uploadsPerClient", "limits", 1, 1_000_000) ?? 128,
      uploadsTotal: int(limitsJ, "uploadsTotal", "limits", 1, 1_000_000) ?? 4096,
      uploadIdleSeconds: int(limitsJ, "uploadIdleSeconds", "limits", 1, 7 * 86400) ?? 1800,
    },
    gc: {
      intervalSeconds: int(gcJ, "intervalSeconds", "gc", 0, 30 * 86400) ?? 0,
      gracePeriodSeconds: int(gcJ, "gracePeriodSeconds", "gc", 0, 30 * 86400) ?? 3600,
      deleteUntagged: bool(gcJ, "deleteUntagged", "gc") ?? false,
    },
  };
}

export interface FlagValues {
  addr?: string;
  root?: string;
  config?: string;
  tlsCert?: string;
  tlsKey?: string;
  htpasswd?: string;
  logLevel?: string;
  tokenAuth: boolean;
  anonymousPull: boolean;
  insecureHttp: boolean;
  help: boolean;
}

const VALUE_FLAGS: Record<string, "addr" | "root" | "config" | "tlsCert" | "tlsKey" | "htpasswd" | "logLevel"> = {
  addr: "addr",
  root: "root",
  config: "config",
  "tls-cert": "tlsCert",
  "tls-key": "tlsKey",
  htpasswd: "htpasswd",
  "log-level": "logLevel",
  l: "logLevel",
};
const BOOL_FLAGS: Record<string, "tokenAuth" | "anonymousPull" | "insecureHttp" | "help"> = { "token-auth": "tokenAuth", "anonymous-pull": "anonymousPull", "insecure-http": "insecureHttp", help: "help", h: "help" };

/** Parses the words after `wharf registry serve`. */
export function parseServeFlags(argv: readonly string[]): FlagValues {
  const out: FlagValues = { tokenAuth: false, anonymousPull: false, insecureHttp: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--?([a-z][a-z-]*)(?:=(.*))?$/.exec(arg);
    if (!m) bad(`"wharf registry serve" accepts no arguments, got ${JSON.stringify(arg)}`);
    const name = m[1]!;
    if (arg.startsWith("--") ? name.length === 1 : name.length > 1) bad(`unknown flag: ${arg}`);
    const vf = VALUE_FLAGS[name];
    if (vf) {
      const value = m[2] ?? argv[++i];
      if (value === undefined) bad(`flag needs an argument: ${arg}`);
      out[vf] = value;
      continue;
    }
    const bf = BOOL_FLAGS[name];
    if (bf) {
      if (m[2] !== undefined && !/^(true|false|1|0)$/.test(m[2])) bad(`invalid argument ${JSON.stringify(m[2])} for ${arg}: expected true or false`);
      out[bf] = m[2] === undefined || m[2] === "true" || m[2] === "1";
      continue;
    }
    bad(`unknown flag: ${arg}`);
  }
  return out;
}

/** The JSON object a config file holds; a clear error for a file that cannot be read or is not one. */
export async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw asWharfError(e, `read config ${JSON.stringify(path)}`);
  }
  try {
    return obj(JSON.parse(text), "");
  } catch (e) {
    if (e instanceof SyntaxError) bad(`read config ${JSON.stringify(path)}: ${e.message}`);
    throw e;
  }
}

export async function parseServe(argv: readonly string[]): Promise<ServeInvocation> {
  const flags = parseServeFlags(argv);
  if (flags.help) return { kind: "help" };
  const file: Json = flags.config !== undefined ? await readConfigFile(flags.config) : {};
  return { kind: "serve", config: buildConfig(file, flags) };
}
