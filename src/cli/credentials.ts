// Registry credentials as docker keeps them: `~/.docker/config.json` (or
// `$DOCKER_CONFIG/config.json`), `auths` with base64 `user:password`, or a
// credential helper (`credHelpers` per registry, `credsStore` for all) run as
// `docker-credential-<name> get|store|erase`. The same file docker reads, so
// a `docker login` is seen by wharf and the other way round.
import { spawn } from "node:child_process";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { CliError } from "./context.js";

/** Docker Hub's key in `auths`, as docker writes it. */
export const DOCKER_HUB_KEY = "https://index.docker.io/v1/";

export interface AuthConfig {
  username: string;
  password: string;
  serveraddress: string;
}

interface ConfigFile {
  auths?: Record<string, { auth?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [other: string]: unknown;
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env["DOCKER_CONFIG"] || join(env["HOME"] || homedir(), ".docker"), "config.json");
}

async function readConfig(path: string): Promise<ConfigFile> {
  try {
    const doc = JSON.parse(await readFile(path, "utf8")) as unknown;
    return typeof doc === "object" && doc !== null ? (doc as ConfigFile) : {};
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return {};
    throw new CliError(`loading config file ${path}: ${(e as Error).message}`);
  }
}

async function writeConfig(path: string, doc: ConfigFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(doc, null, "\t") + "\n", { mode: 0o600 });
  await rename(tmp, path);
}

/** The key a registry has in the config: Docker Hub's URL for docker.io, the host otherwise. */
export function serverKey(registry: string): string {
  const host = registry.replace(/^https?:\/\//, "").split("/")[0]!;
  return host === "" || host === "docker.io" || host === "index.docker.io" || host === "registry-1.docker.io" ? DOCKER_HUB_KEY : host;
}

function helperFor(doc: ConfigFile, key: string): string | undefined {
  return doc.credHelpers?.[key] ?? doc.credHelpers?.[key.replace(/^https?:\/\//, "").replace(/\/.*$/, "")] ?? doc.credsStore;
}

function runHelper(helper: string, action: "get" | "store" | "erase" | "list", input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(`docker-credential-${helper}`, [action], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    child.on("error", (e) => reject(new CliError(`error getting credentials - err: ${e.message}, out: \`\``)));
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new CliError(`error ${action === "get" ? "getting" : action === "store" ? "storing" : action === "list" ? "listing" : "erasing"} credentials - err: exit status ${code}, out: \`${(out || err).trim()}\``))));
    child.stdin.end(input);
  });
}

/** Credentials for a registry, or undefined when none are stored. */
export async function loadCredentials(registry: string, env: NodeJS.ProcessEnv = process.env): Promise<AuthConfig | undefined> {
  return credentialsIn(await readConfig(configPath(env)), registry);
}

/** A registry's credentials in a config document already read (or from the helper it names). */
async function credentialsIn(doc: ConfigFile, registry: string): Promise<AuthConfig | undefined> {
  const key = serverKey(registry);
  const helper = helperFor(doc, key);
  if (helper) {
    try {
      const got = JSON.parse(await runHelper(helper, "get", key)) as { Username?: string; Secret?: string };
      if (got.Username && got.Secret !== undefined) return { username: got.Username, password: got.Secret, serveraddress: key };
    } catch {
      // "credentials not found" from the helper: anonymous, as docker goes on.
    }
    return undefined;
  }
  const entry = doc.auths?.[key] ?? (key === DOCKER_HUB_KEY ? undefined : doc.auths?.[`https://${key}`] ?? doc.auths?.[`http://${key}`]);
  if (!entry?.auth) return undefined;
  const plain = Buffer.from(entry.auth, "base64").toString("utf8");
  const i = plain.indexOf(":");
  if (i <= 0) return undefined;
  return { username: plain.slice(0, i), password: plain.slice(i + 1), serveraddress: key };
}

export async function storeCredentials(auth: AuthConfig, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const path = configPath(env);
  const doc = await readConfig(path);
  const key = serverKey(auth.serveraddress);
  const helper = helperFor(doc, key);
  doc.auths ??= {};
  if (helper) {
    await runHelper(helper, "store", JSON.stringify({ ServerURL: key, Username: auth.username, Secret: auth.password }));
    doc.auths[key] = {};
  } else {
    doc.auths[key] = { auth: Buffer.from(`${auth.username}:${auth.password}`).toString("base64") };
  }
  await writeConfig(path, doc);
}

/** Removes a registry's credentials; false when there were none. */
export async function eraseCredentials(registry: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const path = configPath(env);
  const doc = await readConfig(path);
  const key = serverKey(registry);
  const helper = helperFor(doc, key);
  const had = doc.auths?.[key] !== undefined;
  if (helper) await runHelper(helper, "erase", key).catch(() => undefined);
  if (doc.auths) delete doc.auths[key];
  await writeConfig(path, doc);
  return had || helper !== undefined;
}

/** X-Registry-Auth for a registry: base64url of the stored AuthConfig, `{}` when none. */
export async function registryAuthHeader(registry: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const auth = await loadCredentials(registry, env);
  return Buffer.from(JSON.stringify(auth ?? {})).toString("base64url");
}

/**
 * X-Registry-Config for a build: every stored credential (the config's `auths`, the registries
 * with a credential helper, and what `credsStore` lists), base64url of docker's map from
 * registry address to AuthConfig, as the docker CLI sends it.
 */
export async function registryConfigHeader(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const doc = await readConfig(configPath(env));
  const keys = new Set([...Object.keys(doc.auths ?? {}), ...Object.keys(doc.credHelpers ?? {})]);
  if (doc.credsStore) {
    try {
      for (const k of Object.keys(JSON.parse(await runHelper(doc.credsStore, "list", "")) as Record<string, unknown>)) keys.add(k);
    } catch {
      // A helper that cannot list: the registries in `auths` are still sent.
    }
  }
  const out: Record<string, AuthConfig> = {};
  for (const key of keys) {
    const auth = await credentialsIn(doc, key);
    if (auth) out[key] = auth;
  }
  return Buffer.from(JSON.stringify(out)).toString("base64url");
}
