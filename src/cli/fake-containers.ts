// The container, exec, volume, network and event endpoints of the fake
// engine: answers shaped like dockerd's (and the v1.41 spec's) from a small
// in-memory state, hijacked attach and exec start included, so that wharf's
// CLI and the docker CLI can be run against the same answers.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";

const HEX = (c: string) => c.repeat(64);
export const CONTAINER_ID = HEX("1");
export const STOPPED_ID = HEX("2");
export const EXEC_ID = HEX("e");
export const NETWORK_ID = HEX("9");
const IMAGE_ID = `sha256:${"a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824"}`;

/** What the fake remembers between requests of one test. */
export interface FakeState {
  created: { name: string; body: Record<string, unknown> }[];
  started: string[];
  /** Images `POST /images/create?fromImage=` pulled. */
  pulled: string[];
  /** Bytes the last hijacked stdin carried. */
  stdin: Buffer;
  resizes: string[];
  execBodies: Record<string, unknown>[];
  uploads: { path: string; body: Buffer }[];
  /** Signals `kill` delivered to running fake containers. */
  signals: string[];
}

export function freshState(): FakeState {
  return { created: [], started: [], pulled: [], stdin: Buffer.alloc(0), resizes: [], execBodies: [], uploads: [], signals: [] };
}

function frame(kind: 1 | 2, text: string): Buffer {
  const data = Buffer.from(text);
  const h = Buffer.alloc(8);
  h[0] = kind;
  h.writeUInt32BE(data.length, 4);
  return Buffer.concat([h, data]);
}

const CREATED = Math.floor(Date.now() / 1000) - 3600;
const ISO = (s: number) => new Date(s * 1000).toISOString().replace(".000Z", ".123456789Z");

export function containerSummaries(): Record<string, unknown>[] {
  return [
    {
      Id: CONTAINER_ID,
      Names: ["/web"],
      Image: "busybox",
      ImageID: IMAGE_ID,
      Command: "sh -c 'while true; do sleep 1; done'",
      Created: CREATED,
      Ports: [
        { IP: "0.0.0.0", PrivatePort: 80, PublicPort: 8080, Type: "tcp" },
        { IP: "::", PrivatePort: 80, PublicPort: 8080, Type: "tcp" },
        { PrivatePort: 443, Type: "tcp" },
      ],
      SizeRw: 12,
      SizeRootFs: 4_261_562,
      Labels: { "com.example.tier": "front" },
      State: "running",
      Status: "Up About an hour",
      HostConfig: { NetworkMode: "default" },
      NetworkSettings: { Networks: { bridge: {} } },
      Mounts: [],
    },
    {
      Id: STOPPED_ID,
      Names: ["/old"],
      Image: IMAGE_ID,
      ImageID: IMAGE_ID,
      Command: "true",
      Created: CREATED - 86_400 * 3,
      Ports: [],
      SizeRw: 0,
      SizeRootFs: 4_261_550,
      Labels: {},
      State: "exited",
      Status: "Exited (0) 2 days ago",
      HostConfig: { NetworkMode: "none" },
      NetworkSettings: { Networks: { none: {} } },
      Mounts: [],
    },
  ];
}

export function containerInspect(id = CONTAINER_ID, tty = false): Record<string, unknown> {
  return {
    Id: id,
    Created: ISO(CREATED),
    Path: "sh",
    Args: ["-c", "while true; do sleep 1; done"],
    State: { Status: "running", Running: true, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: 4242, ExitCode: 0, Error: "", StartedAt: ISO(CREATED + 1), FinishedAt: "0001-01-01T00:00:00Z" },
    Image: IMAGE_ID,
    Name: id === CONTAINER_ID ? "/web" : "/old",
    RestartCount: 0,
    Driver: "overlay2",
    Platform: "linux",
    HostConfig: { NetworkMode: "default", AutoRemove: false },
    Mounts: [],
    Config: { Hostname: id.slice(0, 12), Tty: tty, OpenStdin: false, AttachStdin: false, Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: ["sh", "-c", "while true; do sleep 1; done"], Image: "busybox", Labels: { "com.example.tier": "front" } },
    NetworkSettings: { Ports: { "80/tcp": [{ HostIp: "0.0.0.0", HostPort: "8080" }, { HostIp: "::", HostPort: "8080" }], "443/tcp": null, "53/udp": [{ HostIp: "127.0.0.1", HostPort: "5353" }] } },
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json", "Api-Version": "1.41" });
  res.end(JSON.stringify(body) + "\n");
}

function empty(res: ServerResponse, status: number): void {
  res.writeHead(status, { "Api-Version": "1.41" });
  res.end();
}

const KNOWN_CONTAINERS = new Map<string, string>([
  ["web", CONTAINER_ID],
  [CONTAINER_ID, CONTAINER_ID],
  [CONTAINER_ID.slice(0, 12), CONTAINER_ID],
  ["old", STOPPED_ID],
  [STOPPED_ID, STOPPED_ID],
  ["tty", HEX("3")],
]);

/** What a created container prints and exits with, from its command. */
function behaviour(body: Record<string, unknown>): { out: string; err: string; status: number } {
  const cmd = (body["Cmd"] as string[] | null) ?? [];
  const text = cmd.join(" ");
  const m = /exit (\d+)/.exec(text);
  return { out: text.includes("echo") ? "hello\n" : "", err: text.includes(">&2") ? "oops\n" : "", status: m ? Number(m[1]) : 0 };
}

const waiters = new Map<string, (status: number) => void>();
const killers = new Map<string, (signal: string) => void>();
const attached = new Map<string, Duplex>();
const createdById = new Map<string, Record<string, unknown>>();

/** Answers the container-side endpoints; false when the path is not one of them. */
export function containerRoute(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer, state: FakeState): boolean {
  const path = url.pathname.replace(/^\/v1\.\d+/, "");
  const method = req.method ?? "GET";
  const q = url.searchParams;
  let m: RegExpExecArray | null;
  if (method === "POST" && path === "/containers/create") {
    const parsed = JSON.parse(body.toString() || "{}") as Record<string, unknown>;
    const image = String(parsed["Image"]);
    if (image === "missing" && !state.pulled.includes("docker.io/library/missing")) {
      json(res, 404, { message: "No such image: missing:latest" });
      return true;
    }
    if (q.get("name") === "taken") {
      json(res, 409, { message: `Conflict. The container name "/taken" is already in use by container "${CONTAINER_ID}". You have to remove (or rename) that container to be able to reuse that name.` });
      return true;
    }
    // The same body gets the same id, so two CLIs' runs of one command can be compared.
    let sum = 0;
    for (const b of body) sum = (sum + b) % 6;
    const id = HEX(String.fromCharCode(97 + sum));
    state.created.push({ name: q.get("name") ?? "", body: parsed });
    createdById.set(id, parsed);
    json(res, 201, { Id: id, Warnings: [] });
    return true;
  }
  if (method === "POST" && path === "/images/create" && q.get("fromImage")) {
    state.pulled.push(q.get("fromImage")!);
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(
      [
        { status: `Pulling from library/${q.get("fromImage")!.split("/").pop()}`, id: q.get("tag") },
        { status: "Pull complete", progressDetail: {}, id: "aaaaaaaaaaaa" },
        { status: `Digest: sha256:${HEX("d")}` },
        { status: `Status: Downloaded newer image for ${q.get("fromImage")!.replace("docker.io/library/", "")}:${q.get("tag")}` },
      ]
        .map((x) => JSON.stringify(x) + "\n")
        .join(""),
    );
    return true;
  }
  if (method === "GET" && path === "/containers/json") {
    let list = containerSummaries();
    if (q.get("all") !== "1" && !q.get("limit")) list = list.filter((c) => c["State"] === "running");
    if (q.get("limit")) list = list.slice(0, Number(q.get("limit")));
    if (q.get("size") !== "1") list = list.map(({ SizeRw: _a, SizeRootFs: _b, ...rest }) => rest);
    json(res, 200, list);
    return true;
  }
  if ((m = /^\/containers\/([^/]+)\/json$/.exec(path)) && method === "GET") {
    const name = decodeURIComponent(m[1]!);
    const id = KNOWN_CONTAINERS.get(name) ?? (createdById.has(name) ? name : undefined);
    if (!id) json(res, 404, { message: `No such container: ${name}` });
    else json(res, 200, { ...containerInspect(id, name === "tty"), ...(q.get("size") === "1" ? { SizeRw: 12, SizeRootFs: 4_261_562 } : {}) });
    return true;
  }
  if ((m = /^\/containers\/([^/]+)\/(start|stop|restart|kill|pause|unpause|rename|resize|wait|logs|top|stats|update|changes|export|archive|attach|exec)$/.exec(path))) {
    const name = decodeURIComponent(m[1]!);
    const verb = m[2]!;
    const id = KNOWN_CONTAINERS.get(name) ?? (createdById.has(name) ? name : undefined);
    if (!id) {
      json(res, 404, { message: `No such container: ${name}` });
      return true;
    }
    const created = createdById.get(id);
    switch (verb) {
      case "start": {
        if (created && ((created["Cmd"] as string[] | null) ?? [])[0] === "nosuch") {
          json(res, 400, { message: 'failed to create task for container: OCI runtime create failed: runc create failed: unable to start container process: exec: "nosuch": executable file not found in $PATH: unknown' });
          return true;
        }
        state.started.push(id);
        empty(res, 204);
        if (created) {
          const b = behaviour(created);
          const sock = attached.get(id);
          // `sleep` runs until a signal comes (kill), then exits with 128 + 2.
          if (((created["Cmd"] as string[] | null) ?? [])[0] === "sleep") {
            killers.set(id, (signal) => {
              state.signals.push(signal);
              sock?.end();
              waiters.get(id)?.(130);
            });
            return true;
          }
          setTimeout(() => {
            if (sock) {
              if (b.out) sock.write(created["Tty"] ? b.out : frame(1, b.out));
              if (b.err) sock.write(created["Tty"] ? b.err : frame(2, b.err));
              // With stdin attached the stream ends when the client's stdin does.
              if (!(created["OpenStdin"] as boolean)) sock.end();
            }
            waiters.get(id)?.(b.status);
          }, 5);
        }
        return true;
      }
      case "wait": {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.flushHeaders();
        if (!created) {
          res.end(JSON.stringify({ Error: null, StatusCode: id === STOPPED_ID ? 0 : 137 }) + "\n");
          return true;
        }
        waiters.set(id, (status) => res.end(JSON.stringify({ Error: null, StatusCode: status }) + "\n"));
        return true;
      }
      case "resize":
        state.resizes.push(`${q.get("h")}x${q.get("w")}`);
        empty(res, 200);
        return true;
      case "logs": {
        res.writeHead(200, { "Content-Type": "application/vnd.docker.multiplexed-stream" });
        const ts = q.get("timestamps") === "1" ? "2024-05-01T10:20:30.123456789Z " : "";
        res.end(Buffer.concat([frame(1, `${ts}line one\n`), frame(2, `${ts}warning two\n`), frame(1, `${ts}line three\n`)]));
        return true;
      }
      case "top":
        json(res, 200, { Titles: ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"], Processes: [["root", "4242", "4230", "0", "10:20", "?", "00:00:00", "sh -c while true; do sleep 1; done"], ["root", "4300", "4242", "0", "10:21", "?", "00:00:00", "sleep 1"]] });
        return true;
      case "stats":
        json(res, 200, {
          read: "2024-05-01T10:20:30.123456789Z",
          preread: "2024-05-01T10:20:29.123456789Z",
          pids_stats: { current: 2 },
          blkio_stats: { io_service_bytes_recursive: [{ major: 8, minor: 0, op: "read", value: 4096 }, { major: 8, minor: 0, op: "write", value: 8192 }] },
          cpu_stats: { cpu_usage: { total_usage: 2_000_000_000, percpu_usage: [1, 1] }, system_cpu_usage: 100_000_000_000, online_cpus: 2 },
          precpu_stats: { cpu_usage: { total_usage: 1_000_000_000 }, system_cpu_usage: 90_000_000_000, online_cpus: 2 },
          memory_stats: { usage: 10_485_760, limit: 1_073_741_824, stats: { total_inactive_file: 2_097_152 } },
          networks: { eth0: { rx_bytes: 1500, tx_bytes: 700 } },
          name: "/web",
          id: CONTAINER_ID,
        });
        return true;
      case "update":
        json(res, 200, { Warnings: [] });
        return true;
      case "changes":
        json(res, 200, [
          { Path: "/etc", Kind: 0 },
          { Path: "/etc/motd", Kind: 1 },
          { Path: "/tmp/gone", Kind: 2 },
        ]);
        return true;
      case "export":
        res.writeHead(200, { "Content-Type": "application/x-tar" });
        res.end(Buffer.alloc(2048, 7));
        return true;
      case "archive":
        return archive(req, res, q, body, state);
      case "exec": {
        state.execBodies.push(JSON.parse(body.toString() || "{}") as Record<string, unknown>);
        json(res, 201, { Id: EXEC_ID });
        return true;
      }
      case "kill":
        killers.get(id)?.(q.get("signal") ?? "SIGKILL");
        killers.delete(id);
        empty(res, 204);
        return true;
      default:
        empty(res, 204);
        return true;
    }
  }
  if ((m = /^\/containers\/([^/]+)$/.exec(path)) && method === "DELETE") {
    const name = decodeURIComponent(m[1]!);
    if (!KNOWN_CONTAINERS.has(name) && !createdById.has(name)) json(res, 404, { message: `No such container: ${name}` });
    else if (name === "web" && q.get("force") !== "1") json(res, 409, { message: `cannot remove container "/web": container is running: stop the container before removing or force remove` });
    else empty(res, 204);
    return true;
  }
  if (method === "POST" && path === "/containers/prune") {
    json(res, 200, { ContainersDeleted: [STOPPED_ID], SpaceReclaimed: 1234 });
    return true;
  }
  if (method === "POST" && path === "/commit") {
    if (!KNOWN_CONTAINERS.has(q.get("container") ?? "")) json(res, 404, { message: `No such container: ${q.get("container")}` });
    else json(res, 201, { Id: `sha256:${HEX("c")}` });
    return true;
  }
  if ((m = /^\/exec\/([^/]+)\/json$/.exec(path))) {
    const last = state.execBodies[state.execBodies.length - 1] ?? {};
    const b = behaviour(last);
    json(res, 200, { ID: EXEC_ID, Running: false, ExitCode: b.status, ProcessConfig: { tty: false, entrypoint: "sh", arguments: [] }, OpenStdin: false, OpenStderr: true, OpenStdout: true, ContainerID: CONTAINER_ID, Pid: 4400 });
    return true;
  }
  if ((m = /^\/exec\/([^/]+)\/(start|resize)$/.exec(path))) {
    if (m[2] === "resize") {
      state.resizes.push(`exec ${q.get("h")}x${q.get("w")}`);
      empty(res, 201);
    } else {
      // A plain (not upgraded) start: detached.
      empty(res, 200);
    }
    return true;
  }
  if (path.startsWith("/volumes")) return volumeRoute(method, path, q, body, res);
  if (path.startsWith("/networks")) return networkRoute(method, path, q, body, res);
  if (method === "GET" && path === "/events") {
    res.writeHead(200, { "Content-Type": "application/json" });
    const events = [
      { status: "create", id: CONTAINER_ID, from: "busybox", Type: "container", Action: "create", Actor: { ID: CONTAINER_ID, Attributes: { image: "busybox", name: "web" } }, scope: "local", time: 1714558830, timeNano: "1714558830123456789" },
      { status: "start", id: CONTAINER_ID, from: "busybox", Type: "container", Action: "start", Actor: { ID: CONTAINER_ID, Attributes: { image: "busybox", name: "web" } }, scope: "local", time: 1714558831, timeNano: "1714558831000000001" },
      { Type: "network", Action: "connect", Actor: { ID: NETWORK_ID, Attributes: { container: CONTAINER_ID, name: "bridge", type: "bridge" } }, scope: "local", time: 1714558831, timeNano: "1714558831500000000" },
    ];
    // timeNano goes out as a bare number with all its digits, as dockerd's int64.
    res.end(events.map((e) => JSON.stringify(e).replace(/"timeNano":"(\d+)"/, '"timeNano":$1') + "\n").join(""));
    return true;
  }
  return false;
}

function archive(req: IncomingMessage, res: ServerResponse, q: URLSearchParams, body: Buffer, state: FakeState): boolean {
  const path = q.get("path") ?? "";
  const method = req.method ?? "GET";
  const stats: Record<string, { name: string; size: number; mode: number; mtime: string; linkTarget: string }> = {
    "/etc/hostname": { name: "hostname", size: 13, mode: 0o644, mtime: "2024-05-01T10:20:30Z", linkTarget: "" },
    "/etc": { name: "etc", size: 4096, mode: 0o755 + 2 ** 31, mtime: "2024-05-01T10:20:30Z", linkTarget: "" },
    "/tmp": { name: "tmp", size: 4096, mode: 0o1777 + 2 ** 31, mtime: "2024-05-01T10:20:30Z", linkTarget: "" },
  };
  const st = stats[path];
  if (method === "PUT") {
    state.uploads.push({ path, body });
    empty(res, 200);
    return true;
  }
  if (!st) {
    json(res, 404, { message: `Could not find the file ${path} in container web` });
    return true;
  }
  res.writeHead(200, { "Content-Type": "application/x-tar", "X-Docker-Container-Path-Stat": Buffer.from(JSON.stringify(st)).toString("base64") });
  if (method === "HEAD") res.end();
  else res.end(hostnameTar());
  return true;
}

/** A one-file tar: `hostname` holding `0123456789ab\n`. */
export function hostnameTar(): Buffer {
  const content = Buffer.from("0123456789ab\n");
  const h = Buffer.alloc(512);
  h.write("hostname", 0);
  h.write("0000644\0", 100);
  h.write("0000000\0", 108);
  h.write("0000000\0", 116);
  h.write(content.length.toString(8).padStart(11, "0") + "\0", 124);
  h.write("14614066656\0", 136);
  h.write("        ", 148);
  h.write("0", 156);
  h.write("ustar\0", 257);
  h.write("00", 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  const data = Buffer.alloc(512);
  content.copy(data);
  return Buffer.concat([h, data, Buffer.alloc(1024)]);
}

const VOLUME = { CreatedAt: "2024-05-01T10:20:30Z", Driver: "local", Labels: { a: "b" }, Mountpoint: "/var/lib/wharf/volumes/data/_data", Name: "data", Options: null, Scope: "local" };

function volumeRoute(method: string, path: string, q: URLSearchParams, body: Buffer, res: ServerResponse): boolean {
  if (method === "POST" && path === "/volumes/create") {
    const b = JSON.parse(body.toString() || "{}") as { Name?: string };
    json(res, 201, { ...VOLUME, Name: b.Name || HEX("7") });
  } else if (method === "GET" && path === "/volumes") json(res, 200, { Volumes: [VOLUME, { ...VOLUME, Name: HEX("7"), Labels: null }], Warnings: null });
  else if (method === "POST" && path === "/volumes/prune") json(res, 200, { VolumesDeleted: [HEX("7")], SpaceReclaimed: 2048 });
  else {
    const name = decodeURIComponent(path.slice("/volumes/".length));
    if (name !== "data") json(res, 404, { message: `get ${name}: no such volume` });
    else if (method === "GET") json(res, 200, VOLUME);
    else if (method === "DELETE") empty(res, 204);
    else json(res, 404, { message: "page not found" });
  }
  void q;
  return true;
}

const NETWORK = { Name: "appnet", Id: NETWORK_ID, Created: "2024-05-01T10:20:30.123456789Z", Scope: "local", Driver: "bridge", EnableIPv6: false, IPAM: { Driver: "default", Options: {}, Config: [{ Subnet: "10.9.0.0/24", Gateway: "10.9.0.1" }] }, Internal: false, Attachable: false, Ingress: false, ConfigFrom: { Network: "" }, ConfigOnly: false, Containers: {}, Options: {}, Labels: {} };

function networkRoute(method: string, path: string, q: URLSearchParams, body: Buffer, res: ServerResponse): boolean {
  if (method === "POST" && path === "/networks/create") json(res, 201, { Id: NETWORK_ID, Warning: "" });
  else if (method === "GET" && path === "/networks") json(res, 200, [NETWORK, { ...NETWORK, Name: "bridge", Id: HEX("8"), Created: "2024-04-01T10:20:30Z" }]);
  else if (method === "POST" && path === "/networks/prune") json(res, 200, { NetworksDeleted: ["appnet"] });
  else {
    const m = /^\/networks\/([^/]+)(\/connect|\/disconnect)?$/.exec(path);
    const name = decodeURIComponent(m?.[1] ?? "");
    if (name !== "appnet" && name !== NETWORK_ID) json(res, 404, { message: `network ${name} not found` });
    else if (m?.[2]) empty(res, 200);
    else if (method === "GET") json(res, 200, NETWORK);
    else if (method === "DELETE") empty(res, 204);
    else json(res, 404, { message: "page not found" });
  }
  void q;
  void body;
  return true;
}

/** Hijacked requests: attach and exec start. */
export function containerUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL, state: FakeState, record: (body: Buffer) => void): void {
  const path = url.pathname.replace(/^\/v1\.\d+/, "");
  const q = url.searchParams;
  let m: RegExpExecArray | null;
  const chunks: Buffer[] = head.length ? [head] : [];
  const upgrade = (type: string) => socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${type}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
  if ((m = /^\/containers\/([^/]+)\/attach$/.exec(path))) {
    record(Buffer.alloc(0));
    const name = decodeURIComponent(m[1]!);
    const id = KNOWN_CONTAINERS.get(name) ?? name;
    const created = createdById.get(id);
    const tty = created ? created["Tty"] === true : name === "tty";
    upgrade(tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream");
    attached.set(id, socket);
    state.stdin = Buffer.alloc(0);
    socket.on("data", (c: Buffer) => {
      state.stdin = Buffer.concat([state.stdin, c]);
      // stdin comes back on stdout, as `cat` would print it.
      if (q.get("stdin") === "1") socket.write(tty ? c : frame(1, c.toString()));
    });
    socket.on("end", () => {
      if (q.get("stdin") === "1" || !created) socket.end();
    });
    socket.on("error", () => {});
    if (!created) {
      // An existing container: some output, then it keeps running until the client leaves.
      socket.write(tty ? "attached\r\n" : frame(1, "attached\n"));
    }
    return;
  }
  if ((m = /^\/exec\/([^/]+)\/start$/.exec(path))) {
    const length = Number(req.headers["content-length"] ?? "0");
    const onBody = () => {
      const body = Buffer.concat(chunks).subarray(0, length);
      record(body);
      const start = JSON.parse(body.toString() || "{}") as { Tty?: boolean };
      const last = state.execBodies[state.execBodies.length - 1] ?? {};
      const b = behaviour(last);
      const tty = start.Tty === true;
      upgrade(tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream");
      if (b.out) socket.write(tty ? b.out : frame(1, b.out));
      if (b.err) socket.write(tty ? b.err : frame(2, b.err));
      if (last["AttachStdin"] === true) {
        socket.on("data", (c: Buffer) => socket.write(tty ? c : frame(1, c.toString())));
        socket.on("end", () => socket.end());
      } else socket.end();
      socket.on("error", () => {});
    };
    if (Buffer.concat(chunks).length >= length) onBody();
    else {
      const onData = (c: Buffer) => {
        chunks.push(c);
        if (Buffer.concat(chunks).length >= length) {
          socket.off("data", onData);
          onBody();
        }
      };
      socket.on("data", onData);
    }
    return;
  }
  socket.end("HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 29\r\n\r\n{\"message\":\"page not found\"}\n");
}
