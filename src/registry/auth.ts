// registry/auth: who may do what.
//
// A request needs access (`repository:<name>:pull|push|delete`, or
// `registry:catalog:*`); an Authorizer grants it or throws UNAUTHORIZED (with
// the WWW-Authenticate challenge docker and podman follow) or DENIED.
//   - open: everything is allowed (loopback development, tests).
//   - basic: htpasswd users (bcrypt), Basic credentials on every request.
//   - token: Bearer tokens (HS256 JWT) from the registry's own token endpoint,
//     which checks Basic credentials against htpasswd and grants the
//     requested scopes that the access rules allow.
// Anonymous pull can be allowed in basic and token modes.
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { IncomingHttpHeaders } from "node:http";
import bcrypt from "bcryptjs";
import { asWharfError, wharfError } from "../internal/index.js";
import { registryError } from "./errors.js";

export type Action = "pull" | "push" | "delete";
const ACTIONS: readonly Action[] = ["pull", "push", "delete"];

export interface Access {
  readonly type: "repository" | "registry";
  readonly name: string;
  readonly actions: readonly (Action | "*")[];
}

export function scopeString(a: Access): string {
  return `${a.type}:${a.name}:${a.actions.join(",")}`;
}

/** Parses `repository:name:pull,push`; undefined for anything malformed. */
export function parseScope(text: string): Access | undefined {
  const first = text.indexOf(":");
  const last = text.lastIndexOf(":");
  if (first <= 0 || last === first) return undefined;
  const type = text.slice(0, first);
  const name = text.slice(first + 1, last);
  const actions = text.slice(last + 1).split(",").filter((a) => a !== "");
  if (type !== "repository" && type !== "registry") return undefined;
  if (!actions.every((a) => a === "*" || (ACTIONS as readonly string[]).includes(a))) return undefined;
  return { type, name, actions: actions as (Action | "*")[] };
}

export interface Grant {
  /** The authenticated user; undefined for anonymous. */
  readonly user: string | undefined;
}

export interface Authorizer {
  /** Grants `access` to the request's credentials or throws UNAUTHORIZED / DENIED. */
  authorize(headers: IncomingHttpHeaders, access: readonly Access[]): Promise<Grant>;
  /** Serves the token endpoint, when this authorizer has one. */
  readonly tokenPath?: string | undefined;
  issueToken?(headers: IncomingHttpHeaders, query: URLSearchParams): Promise<{ token: string; expiresIn: number; issuedAt: string }>;
}

export const openAuthorizer: Authorizer = {
  async authorize() {
    return { user: undefined };
  },
};

// ---- htpasswd ----------------------------------------------------------------

export class Htpasswd {
  readonly #users: Map<string, string>;
  /** Credentials verified already (by hash of user and password): bcrypt is slow by design. */
  readonly #verified = new Set<string>();
  private constructor(users: Map<string, string>) {
    this.#users = users;
  }

  static parse(text: string, source: string): Htpasswd {
    const users = new Map<string, string>();
    text.split(/\r?\n/).forEach((line, i) => {
      if (line.trim() === "" || line.startsWith("#")) return;
      const c = line.indexOf(":");
      const user = line.slice(0, c);
      const hash = line.slice(c + 1).trim();
      if (c <= 0 || !/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
        throw wharfError("invalid-argument", `read htpasswd ${source}: line ${i + 1} is not "user:<bcrypt hash>" (only bcrypt entries, htpasswd -B, are supported)`);
      }
      users.set(user, hash);
    });
    return new Htpasswd(users);
  }

  static async load(path: string): Promise<Htpasswd> {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (e) {
      throw asWharfError(e, `read htpasswd ${JSON.stringify(path)}`);
    }
    return Htpasswd.parse(text, JSON.stringify(path));
  }

  async verify(user: string, password: string): Promise<boolean> {
    const hash = this.#users.get(user);
    if (hash === undefined) return false;
    const key = createHash("sha256").update(`${user}\0${password}\0${hash}`).digest("hex");
    if (this.#verified.has(key)) return true;
    const ok = await bcrypt.compare(password, hash);
    if (ok) this.#verified.add(key);
    return ok;
  }
}

function basicCredentials(headers: IncomingHttpHeaders): { user: string; password: string } | undefined {
  const h = headers.authorization;
  if (!h || !/^basic /i.test(h)) return undefined;
  const text = Buffer.from(h.slice(6).trim(), "base64").toString("utf8");
  const c = text.indexOf(":");
  // Clients without credentials may still send an empty pair (skopeo --no-creds): that is anonymous.
  if (c <= 0) return undefined;
  return { user: text.slice(0, c), password: text.slice(c + 1) };
}

/** Whether anonymous pull covers the access; the ping (no access) still challenges, so clients learn how to log in. */
function onlyPull(access: readonly Access[]): boolean {
  return access.length > 0 && access.every((a) => a.type === "repository" && a.actions.every((x) => x === "pull"));
}

export interface BasicOptions {
  readonly htpasswd: Htpasswd;
  readonly realm: string;
  readonly anonymousPull: boolean;
}

export function basicAuthorizer(o: BasicOptions): Authorizer {
  const challenge = `Basic realm=${JSON.stringify(o.realm)}`;
  return {
    async authorize(headers, access) {
      const cred = basicCredentials(headers);
      if (!cred) {
        if (o.anonymousPull && onlyPull(access)) return { user: undefined };
        throw registryError("UNAUTHORIZED", "authentication required", { detail: access.map((a) => ({ Type: a.type, Name: a.name, Action: a.actions.join(",") })), challenge });
      }
      if (!(await o.htpasswd.verify(cred.user, cred.password))) throw registryError("UNAUTHORIZED", "invalid username or password", { challenge });
      return { user: cred.user };
    },
  };
}

// ---- tokens --------------------------------------------------------------------

export interface AccessRule {
  /** A user name, `*` for every authenticated user, or `anonymous`. */
  readonly user: string;
  /** A repository name, or a prefix ending in `*` (`team/*`, `*`). */
  readonly repository: string;
  readonly actions: readonly Action[];
}

export interface TokenOptions {
  readonly htpasswd: Htpasswd | undefined;
  /** The token endpoint's URL as clients must reach it (`https://host:5000/token`). */
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** HMAC key; random per start when not given (tokens then do not outlive a restart). */
  readonly secret?: Buffer;
  readonly expiresInSeconds: number;
  readonly anonymousPull: boolean;
  /** Who may do what; without rules, authenticated users may do everything. */
  readonly rules?: readonly AccessRule[];
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

interface Claims {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  access: { type: string; name: string; actions: string[] }[];
}

function ruleMatches(rule: AccessRule, user: string | undefined, repo: string): boolean {
  const who = user === undefined ? rule.user === "anonymous" : rule.user === "*" || rule.user === user;
  if (!who) return false;
  return rule.repository.endsWith("*") ? repo.startsWith(rule.repository.slice(0, -1)) : rule.repository === repo;
}

export class TokenAuthorizer implements Authorizer {
  readonly tokenPath: string;
  readonly #o: TokenOptions;
  readonly #secret: Buffer;

  constructor(o: TokenOptions) {
    this.#o = o;
    this.#secret = o.secret ?? randomBytes(32);
    this.tokenPath = new URL(o.realm).pathname;
  }

  /** The actions `user` may take on a scope's resource. */
  allowed(user: string | undefined, a: Access): Action[] {
    if (a.type === "registry") return user !== undefined && a.name === "catalog" ? ["pull", "push", "delete"] : [];
    const rules = this.#o.rules;
    if (!rules || rules.length === 0) {
      if (user !== undefined) return [...ACTIONS];
      return this.#o.anonymousPull ? ["pull"] : [];
    }
    const out = new Set<Action>();
    for (const r of rules) if (ruleMatches(r, user, a.name)) for (const x of r.actions) out.add(x);
    if (user === undefined && this.#o.anonymousPull) out.add("pull");
    return [...out];
  }

  #challenge(access: readonly Access[], error?: string): string {
    const scope = access.map(scopeString).join(" ");
    return `Bearer realm=${JSON.stringify(this.#o.realm)},service=${JSON.stringify(this.#o.service)}${scope ? `,scope=${JSON.stringify(scope)}` : ""}${error ? `,error=${JSON.stringify(error)}` : ""}`;
  }

  async issueToken(headers: IncomingHttpHeaders, query: URLSearchParams): Promise<{ token: string; expiresIn: number; issuedAt: string }> {
    let user: string | undefined;
    const cred = basicCredentials(headers) ?? (query.get("grant_type") === "password" ? { user: query.get("username") ?? "", password: query.get("password") ?? "" } : undefined);
    if (cred) {
      if (!this.#o.htpasswd || !(await this.#o.htpasswd.verify(cred.user, cred.password))) {
        throw registryError("UNAUTHORIZED", "invalid username or password", { challenge: `Basic realm=${JSON.stringify(this.#o.service)}` });
      }
      user = cred.user;
    }
    const service = query.get("service");
    if (service !== null && service !== this.#o.service) throw registryError("DENIED", `token for service ${JSON.stringify(service)} requested; this registry is ${JSON.stringify(this.#o.service)}`);
    const access: Claims["access"] = [];
    for (const scopeParam of query.getAll("scope")) {
      for (const text of scopeParam.split(" ").filter((s) => s !== "")) {
        const a = parseScope(text);
        if (!a) throw registryError("UNSUPPORTED", `malformed scope ${JSON.stringify(text.slice(0, 200))}`);
        const allowed = this.allowed(user, a);
        const wanted = a.actions.includes("*") ? allowed : a.actions.filter((x): x is Action => x !== "*" && allowed.includes(x));
        access.push({ type: a.type, name: a.name, actions: wanted });
      }
    }
    const now = Math.floor(Date.now() / 1000);
    const claims: Claims = { iss: this.#o.issuer, sub: user ?? "", aud: this.#o.service, exp: now + this.#o.expiresInSeconds, nbf: now - 10, iat: now, jti: randomBytes(12).toString("hex"), access };
    const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
    const body = b64url(JSON.stringify(claims));
    const sig = createHmac("sha256", this.#secret).update(`${head}.${body}`).digest("base64url");
    return { token: `${head}.${body}.${sig}`, expiresIn: this.#o.expiresInSeconds, issuedAt: new Date(now * 1000).toISOString() };
  }

  #verify(token: string): Claims | undefined {
    const parts = token.split(".");
    if (parts.length !== 3) return undefined;
    const want = createHmac("sha256", this.#secret).update(`${parts[0]}.${parts[1]}`).digest();
    const got = Buffer.from(parts[2]!, "base64url");
    if (got.length !== want.length || !timingSafeEqual(got, want)) return undefined;
    try {
      const claims = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as Claims;
      const now = Date.now() / 1000;
      if (claims.aud !== this.#o.service || claims.iss !== this.#o.issuer || !(claims.exp > now) || !(claims.nbf <= now) || !Array.isArray(claims.access)) return undefined;
      return claims;
    } catch {
      return undefined;
    }
  }

  async authorize(headers: IncomingHttpHeaders, access: readonly Access[]): Promise<Grant> {
    const h = headers.authorization;
    if (!h || !/^bearer /i.test(h)) {
      if (this.#o.anonymousPull && onlyPull(access) && access.every((a) => this.allowed(undefined, a).includes("pull"))) return { user: undefined };
      throw registryError("UNAUTHORIZED", "authentication required", { challenge: this.#challenge(access) });
    }
    const claims = this.#verify(h.slice(7).trim());
    if (!claims) throw registryError("UNAUTHORIZED", "the bearer token is invalid or expired", { challenge: this.#challenge(access, "invalid_token") });
    for (const a of access) {
      const granted = claims.access.find((g) => g.type === a.type && g.name === a.name);
      const ok = a.actions.every((x) => x === "*" || granted?.actions.includes(x));
      if (!ok) throw registryError("UNAUTHORIZED", `the token does not grant ${scopeString(a)}`, { challenge: this.#challenge(access, "insufficient_scope") });
    }
    return { user: claims.sub === "" ? undefined : claims.sub };
  }
}
