// Routes of the Engine API: method + path pattern → handler. Image names carry
// slashes and colons (`/images/localhost:5000/a/b:1/json`), so a `{name*}`
// parameter is greedy and a route is found by its fixed suffix; fixed paths
// (`/images/json`, `/images/load`) are tried before any pattern.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "../internal/index.js";
import type { Query } from "./query.js";

export type Method = "GET" | "HEAD" | "POST" | "PUT" | "DELETE";

/** Everything a handler learns about one request, parsed once. */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** Path parameters, percent-decoded. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: Query;
  /** The API version the client asked for (`1.41` when unversioned). */
  readonly apiVersion: string;
  /** Aborted when the client goes away before the answer is complete. */
  readonly signal: AbortSignal;
  /** Carries the request's method and path as fields. */
  readonly logger: Logger;
}

export type Handler = (ctx: RequestContext) => Promise<void>;

/**
 * The seam for `attach` and `exec start`: a request with `Upgrade: tcp` is
 * handed its raw socket (already half-open capable) instead of a response.
 * No route uses it yet.
 */
export interface UpgradeContext extends Omit<RequestContext, "res"> {
  readonly socket: Duplex;
  /** Bytes the client sent after the request head. */
  readonly head: Buffer;
}
export type UpgradeHandler = (ctx: UpgradeContext) => Promise<void>;

export interface Route {
  readonly method: Method;
  readonly pattern: string;
  readonly handler: Handler;
  readonly upgrade?: UpgradeHandler;
}

interface Compiled {
  readonly route: Route;
  readonly regexp: RegExp | undefined;
  readonly names: readonly string[];
}

export interface Match {
  readonly route: Route;
  readonly params: Readonly<Record<string, string>>;
}

/** `{id}` matches one segment; `{name*}` matches one or more, slashes included. */
function compile(route: Route): Compiled {
  if (!route.pattern.includes("{")) return { route, regexp: undefined, names: [] };
  const names: string[] = [];
  let source = "^";
  for (const part of route.pattern.split(/(\{[a-zA-Z]+\*?\})/)) {
    const param = /^\{([a-zA-Z]+)(\*?)\}$/.exec(part);
    if (param) {
      names.push(param[1]!);
      source += param[2] ? "(.+)" : "([^/]+)";
    } else {
      source += part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    }
  }
  return { route, regexp: new RegExp(source + "$"), names };
}

export class Router {
  readonly #fixed = new Map<string, Compiled>();
  readonly #patterns: Compiled[] = [];

  add(route: Route): this {
    const c = compile(route);
    if (c.regexp === undefined) {
      const key = `${route.method} ${route.pattern}`;
      if (this.#fixed.has(key)) throw new Error(`route ${key} registered twice`);
      this.#fixed.set(key, c);
    } else {
      this.#patterns.push(c);
    }
    return this;
  }

  on(methods: Method | readonly Method[], pattern: string, handler: Handler): this {
    for (const method of typeof methods === "string" ? [methods] : methods) this.add({ method, pattern, handler });
    return this;
  }

  /** The route for a method and a decoded, unversioned path. */
  match(method: string, path: string): Match | undefined {
    const fixed = this.#fixed.get(`${method} ${path}`);
    if (fixed) return { route: fixed.route, params: {} };
    for (const c of this.#patterns) {
      if (c.route.method !== method) continue;
      const m = c.regexp!.exec(path);
      if (!m) continue;
      const params: Record<string, string> = {};
      c.names.forEach((name, i) => (params[name] = m[i + 1]!));
      return { route: c.route, params };
    }
    return undefined;
  }
}
