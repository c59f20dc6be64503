// The Engine API's HTTP/1.1 server on unix sockets: version prefixes, the
// headers dockerd puts on every answer, errors mapped through status.ts,
// keep-alive for clients that send many requests on one connection, and a
// graceful stop that lets in-flight requests finish.
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { chmod } from "node:fs/promises";
import { wharfError, type Logger } from "../internal/index.js";
import { Query } from "./query.js";
import { sendJson } from "./respond.js";
import type { Match, RequestContext, Router } from "./router.js";
import { logHandledError } from "./status.js";
import { API_VERSION, MIN_API_VERSION } from "./wire.js";

export interface ApiServerOptions {
  readonly router: Router;
  readonly logger: Logger;
  /** The engine's version, shown as `Server: Docker/<version> (linux)`. */
  readonly serverVersion: string;
}

/** Compares dotted versions numerically, as Go's `versions.Compare`: 1.9 < 1.10. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".");
  const pb = b.split(".");
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = Number(pa[i] ?? "0") || 0;
    const y = Number(pb[i] ?? "0") || 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

export interface ParsedTarget {
  /** Decoded path without the version prefix. */
  readonly path: string;
  /** The version of a `/v1.xx` prefix; undefined when unversioned. */
  readonly version: string | undefined;
  readonly query: Query;
}

/** Splits a request target into version, decoded path and query; undefined when it cannot be decoded. */
export function parseTarget(url: string): ParsedTarget | undefined {
  const q = url.indexOf("?");
  const rawPath = q === -1 ? url : url.slice(0, q);
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return undefined;
  }
  const query = new Query(q === -1 ? "" : url.slice(q + 1));
  const m = /^\/v([0-9.]+)(\/.*)$/.exec(decoded);
  return m ? { path: m[2]!, version: m[1]!, query } : { path: decoded, version: undefined, query };
}

/** dockerd's refusal of a version outside what it speaks, word for word. */
export function checkVersion(version: string): void {
  if (compareVersions(version, MIN_API_VERSION) < 0) {
    throw wharfError("invalid-argument", `client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
  }
  if (compareVersions(version, API_VERSION) > 0) {
    throw wharfError("invalid-argument", `client version ${version} is too new. Maximum supported API version is ${API_VERSION}`);
  }
}

const pageNotFound = () => wharfError("not-found", "page not found");

export class ApiServer {
  readonly #options: ApiServerOptions;
  readonly #servers: Server[] = [];
  readonly #upgraded = new Set<Duplex>();
  #inFlight = 0;
  #idle: (() => void) | undefined;

  constructor(options: ApiServerOptions) {
    this.#options = options;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Serves on a unix socket; the socket file is made 0660 (owner and group). */
  async listen(socketPath: string): Promise<void> {
    const server = createServer(
      {
        // Loads and saves run for as long as the bytes flow; Node's default 5-minute request timeout would cut them.
        requestTimeout: 0,
        // dockerd (Go) never closes an idle keep-alive connection; docker-py and compose pool theirs.
        keepAliveTimeout: 0,
      },
      (req, res) => void this.#handle(req, res),
    );
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.#handleUpgrade(req, socket, head));
    server.on("clientError", (err, socket) => {
      this.#options.logger.debug("malformed request", { error: err.message });
      if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
      else socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(socketPath, () => {
        server.off("error", reject);
        resolve();
      });
    });
    await chmod(socketPath, 0o660);
    this.#servers.push(server);
  }

  /**
   * Stops accepting, lets requests in flight finish for up to `graceMs`, then
   * closes every connection that is left (idle keep-alives, upgraded streams).
   */
  async close(graceMs = 5000): Promise<void> {
    const closed = this.#servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const s of this.#servers) s.closeIdleConnections();
    if (this.#inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.#idle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    for (const s of this.#servers) s.closeAllConnections();
    for (const socket of this.#upgraded) socket.destroy();
    await Promise.all(closed);
    this.#servers.length = 0;
  }

  #commonHeaders(res: ServerResponse): void {
    // Go canonicalises dockerd's `API-Version` and `OSType` to these spellings.
    res.setHeader("Api-Version", API_VERSION);
    res.setHeader("Ostype", "linux");
    res.setHeader("Server", `Docker/${this.#options.serverVersion} (linux)`);
  }

  /** Finds the route and checks the version; throws not-found or invalid-argument. */
  #route(req: IncomingMessage, setHeaders: () => void): { match: Match; target: ParsedTarget; version: string } {
    const target = parseTarget(req.url ?? "/");
    if (!target) throw wharfError("invalid-argument", `invalid request path ${JSON.stringify(req.url)}`);
    const match = this.#options.router.match(req.method ?? "GET", target.path);
    // Like dockerd, an unknown path or method is a plain 404 whatever the version.
    if (!match) throw pageNotFound();
    setHeaders();
    const version = target.version ?? API_VERSION;
    if (target.version !== undefined) checkVersion(target.version);
    return { match, target, version };
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    this.#inFlight++;
    const abort = new AbortController();
    res.once("close", () => {
      if (!res.writableFinished) abort.abort(wharfError("cancelled", "the client closed the connection"));
    });
    const logger = this.#options.logger.with({ method: req.method, path: req.url });
    try {
      const { match, target, version } = this.#route(req, () => this.#commonHeaders(res));
      res.setHeader("Docker-Experimental", "false");
      const ctx: RequestContext = { req, res, params: match.params, query: target.query, apiVersion: version, signal: abort.signal, logger };
      await match.route.handler(ctx);
      // A handler that forgot to answer would leave the client waiting forever.
      if (!res.headersSent && !res.writableEnded) throw wharfError("internal", `${req.method} ${target.path}: the handler returned without answering`);
    } catch (e) {
      this.#fail(res, e, logger, abort.signal);
    } finally {
      this.#done();
      logger.debug("request", { status: res.statusCode, ms: Number((performance.now() - started).toFixed(2)) });
    }
  }

  #fail(res: ServerResponse, e: unknown, logger: Logger, signal: AbortSignal): void {
    if (signal.aborted) {
      // Nobody is listening for the answer; not an error of the engine.
      logger.debug("client went away", { error: e instanceof Error ? e.message : String(e) });
      res.destroy();
      return;
    }
    const answer = logHandledError(logger, e, {});
    if (res.headersSent) {
      // The status is out already: cutting the connection is the only honest signal left.
      res.destroy();
      return;
    }
    sendJson(res, answer.status, answer.body);
  }

  #done(): void {
    this.#inFlight--;
    if (this.#inFlight === 0 && this.#idle) {
      const idle = this.#idle;
      this.#idle = undefined;
      idle();
    }
  }

  /** Upgrade requests go to a route's upgrade handler; without one they are refused on the raw socket. */
  async #handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    this.#inFlight++;
    this.#upgraded.add(socket);
    socket.once("close", () => this.#upgraded.delete(socket));
    const abort = new AbortController();
    socket.once("close", () => abort.abort(wharfError("cancelled", "the client closed the connection")));
    const logger = this.#options.logger.with({ method: req.method, path: req.url, upgrade: true });
    try {
      const { match, target, version } = this.#route(req, () => {});
      const upgrade = match.route.upgrade;
      if (!upgrade) throw wharfError("invalid-argument", `${req.method} ${target.path} cannot be upgraded`);
      await upgrade({ req, socket, head, params: match.params, query: target.query, apiVersion: version, signal: abort.signal, logger });
    } catch (e) {
      const answer = logHandledError(logger, e, {});
      if (socket.writable) {
        const body = JSON.stringify(answer.body) + "\n";
        socket.end(`HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? "Error"}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      } else {
        socket.destroy();
      }
    } finally {
      this.#done();
    }
  }
}
