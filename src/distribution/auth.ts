// distribution/auth: what a registry asks for (WWW-Authenticate challenges)
// and what answers it — anonymous, Basic, or a Bearer token fetched from the
// realm the registry names, for the scopes an operation needs. Tokens are kept
// per scope set until they expire, and dropped when the registry refuses them.
//
// Credentials belong to one registry host: the Authorizer is made for that
// host and the client attaches its header only to requests to that host.
import { wharfError } from "../internal/index.js";

export interface Credentials {
  readonly username?: string;
  readonly password?: string;
  /** An OAuth2 refresh token (docker's `identitytoken`), exchanged at the realm. */
  readonly identityToken?: string;
  /** A bearer token used as is (docker's `registrytoken`). */
  readonly registryToken?: string;
}

export interface Challenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

/** Parses a WWW-Authenticate header: `Bearer realm="…",service="…",scope="…"`, possibly several challenges. */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const texts = header === undefined ? [] : Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const text of texts) {
    let i = 0;
    let current: { scheme: string; params: Record<string, string> } | undefined;
    const s = text;
    while (i < s.length) {
      while (i < s.length && (s[i] === " " || s[i] === ",")) i++;
      const tokenStart = i;
      while (i < s.length && /[A-Za-z0-9!#$%&'*+.^_`|~-]/.test(s[i]!)) i++;
      const token = s.slice(tokenStart, i);
      if (!token) {
        i++;
        continue;
      }
      while (i < s.length && s[i] === " ") i++;
      if (s[i] === "=") {
        i++;
        while (i < s.length && s[i] === " ") i++;
        let value = "";
        if (s[i] === '"') {
          i++;
          while (i < s.length && s[i] !== '"') {
            if (s[i] === "\\" && i + 1 < s.length) i++;
            value += s[i];
            i++;
          }
          i++;
        } else {
          const vs = i;
          while (i < s.length && s[i] !== "," && s[i] !== " ") i++;
          value = s.slice(vs, i);
        }
        if (current) current.params[token.toLowerCase()] = value;
      } else {
        current = { scheme: token.toLowerCase(), params: {} };
        out.push(current);
      }
    }
  }
  return out;
}

/** The scope of a repository operation, as the token server expects it. */
export function repositoryScope(path: string, actions: readonly ("pull" | "push")[]): string {
  return `repository:${path}:${actions.join(",")}`;
}

interface Token {
  readonly value: string;
  readonly expiresAt: number;
}

/** Fetches a token document from a realm; returns the raw response text, or throws with the realm's status. */
export type TokenFetcher = (request: { url: URL; method: "GET" | "POST"; headers: Record<string, string>; body?: Buffer }) => Promise<{ status: number; body: string }>;

const MIN_TOKEN_SECONDS = 60;
const MAX_TOKEN_BYTES = 1 << 20;
export { MAX_TOKEN_BYTES };

export class Authorizer {
  readonly host: string;
  readonly #credentials: Credentials | undefined;
  readonly #fetch: TokenFetcher;
  #challenge: Challenge | undefined;
  readonly #tokens = new Map<string, Token>();
  readonly #pending = new Map<string, Promise<Token>>();

  constructor(host: string, credentials: Credentials | undefined, fetch: TokenFetcher) {
    this.host = host;
    this.#credentials = credentials && (credentials.username || credentials.identityToken || credentials.registryToken) ? credentials : undefined;
    this.#fetch = fetch;
  }

  get hasCredentials(): boolean {
    return this.#credentials !== undefined;
  }

  #basic(): string | undefined {
    const c = this.#credentials;
    if (!c?.username) return undefined;
    return "Basic " + Buffer.from(`${c.username}:${c.password ?? ""}`).toString("base64");
  }

  /** The Authorization header for a request needing `scopes`, or undefined while no challenge was seen (anonymous first). */
  async header(scopes: readonly string[], signal?: AbortSignal): Promise<string | undefined> {
    if (this.#credentials?.registryToken) return `Bearer ${this.#credentials.registryToken}`;
    const ch = this.#challenge;
    if (!ch) return undefined;
    if (ch.scheme === "basic") return this.#basic();
    if (ch.scheme !== "bearer") return undefined;
    const key = [...scopes].sort().join(" ");
    const cached = this.#tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.value}`;
    let p = this.#pending.get(key);
    if (!p) {
      p = this.#fetchToken(ch, scopes, signal).finally(() => this.#pending.delete(key));
      this.#pending.set(key, p);
    }
    const token = await p;
    this.#tokens.set(key, token);
    return `Bearer ${token.value}`;
  }

  /**
   * Takes the challenges of a 401. Returns whether a retry with new
   * authorization can succeed: false when the same kind of answer was
   * already refused (wrong credentials) or nothing we know is asked for.
   */
  onUnauthorized(header: string | string[] | undefined, scopes: readonly string[], sentAuthorization: boolean): boolean {
    const challenges = parseChallenges(header);
    const chosen = challenges.find((c) => c.scheme === "bearer" && c.params["realm"]) ?? challenges.find((c) => c.scheme === "basic");
    if (!chosen) return false;
    const key = [...scopes].sort().join(" ");
    const hadToken = this.#tokens.has(key);
    this.#tokens.delete(key);
    if (chosen.scheme === "basic") {
      const first = this.#challenge?.scheme !== "basic";
      this.#challenge = chosen;
      return first && this.#credentials?.username !== undefined && !sentAuthorization;
    }
    const changed = this.#challenge?.scheme !== "bearer" || this.#challenge.params["realm"] !== chosen.params["realm"];
    this.#challenge = chosen;
    // A refused token may have expired early: fetch once more; a refused fresh token means no access.
    return !sentAuthorization || changed || hadToken;
  }

  async #fetchToken(ch: Challenge, scopes: readonly string[], signal?: AbortSignal): Promise<Token> {
    signal?.throwIfAborted();
    const realm = ch.params["realm"]!;
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw wharfError("unavailable", `registry ${this.host}: invalid token realm ${JSON.stringify(realm)}`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") throw wharfError("unavailable", `registry ${this.host}: invalid token realm ${JSON.stringify(realm)}`);
    const service = ch.params["service"];
    const c = this.#credentials;
    let answer: { status: number; body: string };
    if (c?.identityToken) {
      const form = new URLSearchParams({ grant_type: "refresh_token", client_id: "wharf", refresh_token: c.identityToken, ...(service ? { service } : {}) });
      if (scopes.length) form.set("scope", scopes.join(" "));
      answer = await this.#fetch({ url, method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: Buffer.from(form.toString()) });
    } else {
      if (service) url.searchParams.set("service", service);
      for (const s of scopes) url.searchParams.append("scope", s);
      const basic = this.#basic();
      answer = await this.#fetch({ url, method: "GET", headers: basic ? { Authorization: basic } : {} });
    }
    if (answer.status === 401 || answer.status === 403) {
      throw wharfError("unauthorized", `Get ${realm}: unauthorized: ${c ? "incorrect username or password" : "authentication required"}`);
    }
    if (answer.status !== 200) throw wharfError("unavailable", `fetch token from ${realm}: status ${answer.status}`);
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(answer.body) as Record<string, unknown>;
    } catch {
      throw wharfError("unavailable", `fetch token from ${realm}: the answer is not JSON`);
    }
    const value = typeof doc["token"] === "string" && doc["token"] ? doc["token"] : doc["access_token"];
    if (typeof value !== "string" || value === "") throw wharfError("unavailable", `fetch token from ${realm}: the answer has no token`);
    const expiresIn = typeof doc["expires_in"] === "number" && doc["expires_in"] > 0 ? doc["expires_in"] : MIN_TOKEN_SECONDS;
    // Refresh a little before the server would refuse it.
    return { value, expiresAt: Date.now() + Math.max(expiresIn, MIN_TOKEN_SECONDS) * 1000 - 5000 };
  }
}
