// registry/serve: a running standalone registry from a RegistryConfig —
// storage, authorizer, HTTP(S) listener and the GC schedule — and its shutdown.
import { readFile } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { asWharfError, type Logger } from "../internal/index.js";
import { basicAuthorizer, Htpasswd, openAuthorizer, TokenAuthorizer, type Authorizer } from "./auth.js";
import type { RegistryConfig } from "./config.js";
import { openFsStorage } from "./fs-storage.js";
import { scheduleGc } from "./gc.js";
import { Registry } from "./registry.js";
import type { RegistryStorage } from "./storage.js";
import { createRegistryServer } from "./server.js";

export interface RunningRegistry {
  readonly registry: Registry;
  readonly server: Server;
  /** The URL clients use (`http://127.0.0.1:5000`), with the port actually bound. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

async function readOrFail(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw asWharfError(e, `read ${what} ${JSON.stringify(path)}`);
  }
}

export async function makeAuthorizer(config: RegistryConfig, url: string): Promise<Authorizer> {
  const a = config.auth;
  const htpasswd = a.htpasswd !== undefined ? await Htpasswd.load(a.htpasswd) : undefined;
  if (a.token) {
    return new TokenAuthorizer({
      htpasswd,
      realm: a.token.realm ?? `${url}/token`,
      service: a.token.service,
      issuer: a.token.issuer,
      expiresInSeconds: a.token.expiresInSeconds,
      anonymousPull: a.anonymousPull,
      rules: a.token.rules,
      ...(a.token.secretFile !== undefined ? { secret: await readOrFail(a.token.secretFile, "token secret") } : {}),
    });
  }
  if (htpasswd) return basicAuthorizer({ htpasswd, realm: a.realm, anonymousPull: a.anonymousPull });
  return openAuthorizer;
}

/**
 * Serves `storage`, or without it a filesystem store at `config.root`. A
 * storage given is closed with the registry through its own close (if any).
 */
export async function startRegistry(config: RegistryConfig, logger: Logger, given?: RegistryStorage): Promise<RunningRegistry> {
  const storage = given ?? (await openFsStorage(config.root, logger));
  const registry = await Registry.open(storage, {
    logger,
    deleteEnabled: config.deleteEnabled,
    limits: {
      maxManifestBytes: config.limits.maxManifestBytes,
      maxListEntries: config.limits.maxListEntries,
      uploads: { perClient: config.limits.uploadsPerClient, total: config.limits.uploadsTotal, idleMs: config.limits.uploadIdleSeconds * 1000 },
    },
  });
  try {
    const tls = config.tls ? { cert: await readOrFail(config.tls.cert, "TLS certificate"), key: await readOrFail(config.tls.key, "TLS key") } : undefined;
    const scheme = tls ? "https" : "http";
    const hostForUrl = (port: number) => `${scheme}://${config.addr.host.includes(":") ? `[${config.addr.host}]` : config.addr.host}:${port}`;
    // The token realm needs the bound port, so the authorizer is made after listening; until then nothing is served.
    let authorizer: Authorizer | undefined;
    const gate: Authorizer = {
      get tokenPath() {
        return authorizer?.tokenPath;
      },
      authorize: (h, a) => authorizer!.authorize(h, a),
      issueToken: (h, q) => authorizer!.issueToken!(h, q),
    };
    const server = createRegistryServer(registry, { authorizer: gate, logger, ...(tls ? { tls } : {}) });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(config.addr.port, config.addr.host, () => {
        server.off("error", reject);
        resolve();
      });
    }).catch((e: unknown) => {
      throw asWharfError(e, `listen on ${config.addr.host}:${config.addr.port}`);
    });
    const port = (server.address() as AddressInfo).port;
    const url = hostForUrl(port);
    try {
      authorizer = await makeAuthorizer(config, url);
    } catch (e) {
      server.close();
      server.closeAllConnections();
      throw e;
    }
    const gc = config.gc.intervalSeconds > 0 ? scheduleGc(registry, { gracePeriodMs: config.gc.gracePeriodSeconds * 1000, deleteUntagged: config.gc.deleteUntagged }, config.gc.intervalSeconds * 1000, logger) : undefined;
    logger.info("registry listening", { url, ...(given ? {} : { root: config.root }), auth: config.auth.token ? "token" : config.auth.htpasswd ? "basic" : "none" });
    return {
      registry,
      server,
      url,
      port,
      async close() {
        await gc?.stop();
        const closed = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        const timer = setTimeout(() => server.closeAllConnections(), 5000);
        await closed;
        clearTimeout(timer);
        await registry.close();
      },
    };
  } catch (e) {
    await registry.close();
    throw e;
  }
}
