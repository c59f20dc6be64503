// A small Engine API server for the CLI's tests: canned answers shaped like
// dockerd's, on a temporary unix socket, recording every request it gets.
// The same server answers wharf's CLI and the docker CLI, so their outputs
// can be compared for the same responses.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { containerRoute, containerUpgrade, freshState, type FakeState } from "./fake-containers.js";
import type { HistoryResponseItem, ImageDeleteResponseItem, ImageInspect, ImageSummary, SystemInfo, SystemVersion } from "../api/wire.js";

export interface RecordedRequest {
  method: string;
  url: URL;
  body: Buffer;
}

export interface FakeEngine {
  host: string;
  socketPath: string;
  requests: RecordedRequest[];
  /** What the container endpoints remember (created bodies, stdin, resizes…). */
  state: FakeState;
  close(): Promise<void>;
}

const HEX = (c: string) => c.repeat(64);
export const BUSYBOX_ID = `sha256:${"a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824"}`;
export const DANGLING_ID = `sha256:${HEX("b")}`;
export const APP_ID = `sha256:${HEX("c")}`;
const YEAR = 365 * 24 * 3600;
/** Creation times count back from when this module loaded, so every answer (to wharf or docker) carries the same ones. */
const LOADED = Math.floor(Date.now() / 1000);
export const NOW = () => LOADED;

export function cannedImages(now = NOW()): ImageSummary[] {
  return [
    {
      Id: APP_ID,
      ParentId: "",
      RepoTags: ["localhost:5000/tools/app:1.0"],
      RepoDigests: [`localhost:5000/tools/app@sha256:${HEX("d")}`],
      Created: now - 3 * YEAR,
      Size: 170_000_000,
      SharedSize: -1,
      VirtualSize: 170_000_000,
      Labels: { "org.example.team": "tools" },
      Containers: -1,
    },
    {
      Id: BUSYBOX_ID,
      ParentId: "",
      RepoTags: ["busybox:latest", "busybox:1.36"],
      RepoDigests: [],
      Created: now - 3 * 7 * 24 * 3600 - 100,
      Size: 4_261_550,
      SharedSize: -1,
      VirtualSize: 4_261_550,
      Labels: {},
      Containers: -1,
    },
    {
      Id: DANGLING_ID,
      ParentId: "",
      RepoTags: [],
      RepoDigests: [],
      Created: now - 2 * 3600,
      Size: 736,
      SharedSize: -1,
      VirtualSize: 736,
      Labels: {},
      Containers: -1,
    },
  ];
}

export function cannedInspect(): ImageInspect {
  return {
    Id: BUSYBOX_ID,
    RepoTags: ["busybox:latest", "busybox:1.36"],
    RepoDigests: [],
    Parent: "",
    Comment: "Imported from -",
    Created: "2024-05-01T10:20:30.123456789Z",
    Container: "",
    ContainerConfig: { Env: null, Cmd: null } as unknown as ImageInspect["ContainerConfig"],
    DockerVersion: "",
    Author: "",
    Config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: ["sh"], Labels: null } as unknown as ImageInspect["Config"],
    Architecture: "amd64",
    Os: "linux",
    Size: 4_261_550,
    VirtualSize: 4_261_550,
    GraphDriver: { Name: "overlay2", Data: null },
    RootFS: { Type: "layers", Layers: [`sha256:${HEX("e")}`] },
    Metadata: { LastTagTime: "0001-01-01T00:00:00Z" },
  };
}

export function cannedHistory(now = NOW()): HistoryResponseItem[] {
  return [
    { Id: BUSYBOX_ID, Created: now - 2 * 24 * 3600, CreatedBy: '/bin/sh -c #(nop)  CMD ["sh"]', Tags: ["busybox:latest"], Size: 0, Comment: "" },
    { Id: "<missing>", Created: now - 3 * 24 * 3600, CreatedBy: "/bin/sh -c #(nop) ADD file:6f0cbe1ab5b3c0fa2ca3f9c81f8d6f1c5f7ab7d5c5e4f5a3b2e1d0c9b8a7f6e5 in / ", Tags: null, Size: 4_261_550, Comment: "Imported from -" },
    { Id: "<missing>", Created: 0, CreatedBy: "", Tags: null, Size: 0, Comment: "" },
  ];
}

export function cannedVersion(): SystemVersion {
  return {
    Platform: { Name: "wharf" },
    Components: [
      {
        Name: "Engine",
        Version: "0.1.0",
        Details: { ApiVersion: "1.41", Arch: "amd64", BuildTime: "2024-05-01T10:20:30.000000000+00:00", Experimental: "false", GitCommit: "abcdef0", GoVersion: "node20.11.0", KernelVersion: "6.1.0", MinAPIVersion: "1.22", Os: "linux" },
      },
    ],
    Version: "0.1.0",
    ApiVersion: "1.41",
    MinAPIVersion: "1.22",
    GitCommit: "abcdef0",
    GoVersion: "node20.11.0",
    Os: "linux",
    Arch: "amd64",
    KernelVersion: "6.1.0",
    BuildTime: "2024-05-01T10:20:30.000000000+00:00",
  };
}

export function cannedInfo(): Partial<SystemInfo> {
  return {
    ID: "WHRF:ABCD",
    Containers: 0,
    ContainersRunning: 0,
    ContainersPaused: 0,
    ContainersStopped: 0,
    Images: 3,
    Driver: "overlayfs",
    DriverStatus: [["Backing Filesystem", "extfs"]],
    Plugins: { Volume: ["local"], Network: ["bridge", "host", "null"], Authorization: null, Log: ["json-file"] },
    MemoryLimit: true,
    SwapLimit: false,
    KernelVersion: "6.1.0",
    OperatingSystem: "Debian GNU/Linux 12 (bookworm)",
    OSVersion: "12",
    OSType: "linux",
    Architecture: "x86_64",
    NCPU: 4,
    MemTotal: 8_000_000_000,
    DockerRootDir: "/var/lib/wharf",
    Name: "host1",
    Labels: [],
    ServerVersion: "0.1.0",
    LoggingDriver: "json-file",
    CgroupDriver: "cgroupfs",
    CgroupVersion: "2",
    Runtimes: { runc: { path: "runc" } },
    DefaultRuntime: "runc",
    Swarm: { LocalNodeState: "inactive", NodeID: "", NodeAddr: "", ControlAvailable: false, Error: "", RemoteManagers: null },
    LiveRestoreEnabled: true,
    SecurityOptions: ["name=seccomp,profile=builtin"],
    IndexServerAddress: "https://index.docker.io/v1/",
    Warnings: null,
  };
}

/** What `rmi` answers per name; absent names are 404. */
export const REMOVALS: Record<string, ImageDeleteResponseItem[]> = {
  "busybox:1.36": [{ Untagged: "busybox:1.36" }],
  app: [{ Untagged: "localhost:5000/tools/app:1.0" }, { Untagged: `localhost:5000/tools/app@sha256:${HEX("d")}` }, { Deleted: APP_ID }, { Deleted: `sha256:${HEX("f")}` }],
};

/** The bytes `GET /images/get` streams; big enough to cross several chunks. */
export function cannedArchive(): Buffer {
  const b = Buffer.alloc(3 * 65536 + 123);
  for (let i = 0; i < b.length; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Api-Version": "1.41" });
  res.end(text + "\n");
}

function notFound(res: ServerResponse, message: string): void {
  json(res, 404, { message });
}

function imageName(path: string, suffix: string): string {
  return decodeURIComponent(path.slice("/images/".length, path.length - suffix.length));
}

const KNOWN = new Set(["busybox", "busybox:latest", "busybox:1.36", BUSYBOX_ID, "a416a98b71e2"]);

function route(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer, state: FakeState = freshState()): void {
  const path = url.pathname.replace(/^\/v1\.\d+/, "");
  const method = req.method ?? "GET";
  if (path !== "/_ping" && containerRoute(req, res, url, body, state)) return;
  if (path === "/_ping") {
    res.writeHead(200, { "Api-Version": "1.41", Ostype: "linux", "Docker-Experimental": "false", "Content-Type": "text/plain; charset=utf-8" });
    res.end(method === "HEAD" ? undefined : "OK");
    return;
  }
  if (method === "GET" && path === "/version") return json(res, 200, cannedVersion());
  if (method === "GET" && path === "/info") return json(res, 200, cannedInfo());
  if (method === "GET" && path === "/system/df") {
    const images = cannedImages().map((i) => ({ ...i, SharedSize: 0, Containers: 0 }));
    return json(res, 200, { LayersSize: 174_262_286, Images: images, Containers: [], Volumes: [], BuildCache: [] });
  }
  if (method === "GET" && path === "/images/json") {
    let images = cannedImages();
    const filters = url.searchParams.get("filters");
    if (filters) {
      const f = JSON.parse(filters) as Record<string, Record<string, boolean>>;
      if (f["dangling"]?.["true"]) images = images.filter((i) => (i.RepoTags ?? []).length === 0);
      const refs = Object.keys(f["reference"] ?? {});
      if (refs.length > 0) images = images.filter((i) => (i.RepoTags ?? []).some((t) => refs.some((r) => t === r || t.startsWith(`${r}:`))));
    }
    return json(res, 200, images);
  }
  if (method === "GET" && path.startsWith("/images/") && path.endsWith("/json")) {
    const name = imageName(path, "/json");
    if (!KNOWN.has(name)) return notFound(res, `No such image: ${name}`);
    return json(res, 200, cannedInspect());
  }
  if (method === "GET" && path.startsWith("/images/") && path.endsWith("/history")) {
    const name = imageName(path, "/history");
    if (!KNOWN.has(name)) return notFound(res, `No such image: ${name}`);
    return json(res, 200, cannedHistory());
  }
  if (method === "POST" && path.startsWith("/images/") && path.endsWith("/tag")) {
    const name = imageName(path, "/tag");
    if (!KNOWN.has(name)) return notFound(res, `No such image: ${name}`);
    res.writeHead(201, { "Api-Version": "1.41" });
    res.end();
    return;
  }
  if (method === "DELETE" && path.startsWith("/images/")) {
    const name = imageName(path, "");
    const answer = REMOVALS[name];
    if (name === "busybox" && url.searchParams.get("force") !== "1") return json(res, 409, { message: "conflict: unable to remove repository reference \"busybox\" (must force) - container 0123456789ab is using its referenced image a416a98b71e2" });
    if (!answer) return notFound(res, `No such image: ${name}`);
    return json(res, 200, answer);
  }
  if (method === "POST" && path === "/images/prune") {
    return json(res, 200, { ImagesDeleted: [{ Untagged: "old:1" }, { Deleted: DANGLING_ID }], SpaceReclaimed: 1_234_567 });
  }
  if (method === "GET" && path === "/images/get") {
    const names = url.searchParams.getAll("names");
    if (names.some((n) => !KNOWN.has(n))) return notFound(res, `No such image: ${names.find((n) => !KNOWN.has(n))}`);
    res.writeHead(200, { "Content-Type": "application/x-tar", "Api-Version": "1.41" });
    const archive = cannedArchive();
    // In pieces, as a real archive streams.
    let off = 0;
    const step = () => {
      if (off >= archive.length) return res.end();
      const n = Math.min(50_000, archive.length - off);
      res.write(archive.subarray(off, off + n));
      off += n;
      setImmediate(step);
    };
    step();
    return;
  }
  if (method === "POST" && path === "/images/load") {
    if (body.length === 0) return json(res, 400, { message: "unexpected EOF" });
    res.writeHead(200, { "Content-Type": "application/json", "Api-Version": "1.41" });
    const archive = cannedArchive();
    if (!body.equals(archive)) {
      res.end(JSON.stringify({ errorDetail: { message: "archive/tar: invalid tar header" }, error: "archive/tar: invalid tar header" }) + "\n");
      return;
    }
    res.end(JSON.stringify({ stream: "Loaded image: busybox:latest\n" }) + "\n" + JSON.stringify({ stream: `Loaded image ID: ${BUSYBOX_ID}\n` }) + "\n");
    return;
  }
  if (method === "POST" && path === "/images/create") {
    if (url.searchParams.get("fromSrc") !== "-") return json(res, 501, { message: "importing from a URL is not implemented" });
    res.writeHead(200, { "Content-Type": "application/json", "Api-Version": "1.41" });
    res.end(JSON.stringify({ status: APP_ID }) + "\n");
    return;
  }
  json(res, 404, { message: "page not found" });
}

/** Starts the fake engine on a socket in a fresh temporary directory. */
export async function startFakeEngine(): Promise<FakeEngine> {
  const dir = await mkdtemp(join(tmpdir(), "wharf-cli-"));
  const socketPath = join(dir, "engine.sock");
  const requests: RecordedRequest[] = [];
  const state = freshState();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://engine");
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method ?? "GET", url, body });
      route(req, res, url, body, state);
    });
  });
  // Hijacked connections are the server's no longer: close() ends them itself.
  const hijacked = new Set<import("node:stream").Duplex>();
  server.on("upgrade", (req: IncomingMessage, socket: import("node:stream").Duplex, head: Buffer) => {
    hijacked.add(socket);
    socket.once("close", () => hijacked.delete(socket));
    const url = new URL(req.url ?? "/", "http://engine");
    containerUpgrade(req, socket, head, url, state, (body) => requests.push({ method: req.method ?? "POST", url, body }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, resolve);
  });
  return {
    host: `unix://${socketPath}`,
    socketPath,
    requests,
    state,
    async close() {
      for (const socket of hijacked) socket.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Runs the fake engine from the command line, for comparing by hand with the docker CLI. */
if (process.argv[1] && process.argv[1].endsWith("fake-engine.js") && process.argv[2] === "serve") {
  const engine = await startFakeEngine();
  process.stdout.write(`${engine.host}\n`);
  process.on("SIGTERM", () => void engine.close().then(() => process.exit(0)));
}
