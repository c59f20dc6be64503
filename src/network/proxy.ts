// The userland side of a published port, in wharfd. Its socket holds the
// host port (so a port in use fails the start with a clear error, and a
// random port is the kernel's pick), and relays what the kernel rules do not
// catch: IPv6 clients and any path where the DNAT does not apply. IPv4
// traffic, loopback included, goes by the kernel rules and never through
// here, so published ports keep working while wharfd is down; at start the
// proxies are opened again for the containers that run.
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { connect, createServer, type Server, type Socket } from "node:net";
import { errnoCode, wharfError } from "../internal/index.js";
import type { Protocol } from "./types.js";

export interface PortProxy {
  readonly proto: Protocol;
  readonly hostIp: string;
  /** The bound port: the asked one, or the kernel's pick for 0. */
  readonly hostPort: number;
  close(): Promise<void>;
}

function bindError(hostIp: string, port: number, e: unknown) {
  const code = errnoCode(e);
  if (code === "EADDRINUSE") return wharfError("conflict", `Bind for ${hostIp}:${port} failed: port is already allocated`);
  if (code === "EADDRNOTAVAIL") return wharfError("invalid-argument", `Bind for ${hostIp}:${port} failed: cannot assign requested address`);
  return wharfError("unavailable", `Bind for ${hostIp}:${port} failed: ${(e as Error).message}`);
}

function listenTcp(server: Server, host: string, port: number, ipv6Only: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port, ipv6Only, exclusive: true }, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** Opens the proxy of one published port to `target:targetPort`. */
export async function openProxy(proto: Protocol, hostIp: string, hostPort: number, target: string, targetPort: number): Promise<PortProxy> {
  if (proto === "udp") return openUdp(hostIp, hostPort);
  const conns = new Set<Socket>();
  const server = createServer((client) => {
    conns.add(client);
    const upstream = connect({ host: target, port: targetPort });
    conns.add(upstream);
    const done = () => {
      client.destroy();
      upstream.destroy();
      conns.delete(client);
      conns.delete(upstream);
    };
    client.on("error", done).on("close", done);
    upstream.on("error", done).on("close", done);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  try {
    // All addresses: one dual-stack socket holds both families' port.
    if (hostIp === "0.0.0.0") {
      try {
        await listenTcp(server, "::", hostPort, false);
      } catch (e) {
        if (errnoCode(e) !== "EAFNOSUPPORT" && errnoCode(e) !== "EADDRNOTAVAIL") throw e;
        await listenTcp(server, "0.0.0.0", hostPort, false);
      }
    } else {
      await listenTcp(server, hostIp, hostPort, false);
    }
  } catch (e) {
    server.close();
    throw bindError(hostIp, hostPort, e);
  }
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : hostPort;
  server.unref();
  return {
    proto,
    hostIp,
    hostPort: port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of conns) c.destroy();
        server.close(() => resolve());
      }),
  };
}

async function openUdp(hostIp: string, hostPort: number): Promise<PortProxy> {
  const tryBind = (type: "udp4" | "udp6", host: string): Promise<UdpSocket> =>
    new Promise((resolve, reject) => {
      const s = createSocket({ type, ipv6Only: false, reuseAddr: false });
      s.once("error", (e) => {
        s.close();
        reject(e);
      });
      s.bind({ address: host, port: hostPort, exclusive: true }, () => resolve(s));
    });
  let socket: UdpSocket;
  try {
    socket = hostIp === "0.0.0.0" ? await tryBind("udp6", "::").catch(() => tryBind("udp4", "0.0.0.0")) : await tryBind("udp4", hostIp);
  } catch (e) {
    throw bindError(hostIp, hostPort, e);
  }
  socket.unref();
  // UDP is reserved here and carried by the kernel rules only (IPv4).
  socket.on("message", () => {});
  return { proto: "udp", hostIp, hostPort: socket.address().port, close: () => new Promise<void>((r) => socket.close(() => r())) };
}
