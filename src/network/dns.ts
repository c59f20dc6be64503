// The embedded DNS server of user-defined networks. wharfd listens on each
// such network's gateway address, port 53 (UDP), and containers' resolv.conf
// names that address. Docker listens on 127.0.0.11 inside every container's
// namespace, which needs a thread entered into each namespace; a listener on
// the gateway serves every container of the network from the daemon's own
// namespace, with one socket per network. Names of containers (name, alias,
// id, short id) on the asker's networks are answered here; anything else is
// relayed as is to the host's resolvers.
import { createSocket, type Socket } from "node:dgram";
import type { Logger } from "../internal/index.js";

export interface Question {
  readonly name: string;
  readonly type: number;
  readonly klass: number;
  /** Offset just past the question. */
  readonly end: number;
}

export const TYPE_A = 1;
export const TYPE_AAAA = 28;

/** The first question of a query; undefined when the packet is not one we can read. */
export function parseQuestion(msg: Buffer): Question | undefined {
  if (msg.length < 12) return undefined;
  const flags = msg.readUInt16BE(2);
  if (flags & 0x8000) return undefined; // a response
  if (msg.readUInt16BE(4) < 1) return undefined;
  const labels: string[] = [];
  let off = 12;
  for (;;) {
    if (off >= msg.length) return undefined;
    const len = msg[off]!;
    if (len === 0) {
      off++;
      break;
    }
    if (len & 0xc0 || off + 1 + len > msg.length) return undefined;
    labels.push(msg.subarray(off + 1, off + 1 + len).toString("latin1"));
    off += 1 + len;
  }
  if (off + 4 > msg.length) return undefined;
  return { name: labels.join(".").toLowerCase(), type: msg.readUInt16BE(off), klass: msg.readUInt16BE(off + 2), end: off + 4 };
}

/** An authoritative answer to `query` with the given IPv4 addresses (for A; none for other types). */
export function answer(query: Buffer, q: Question, addresses: readonly string[], ttl = 600): Buffer {
  const records = q.type === TYPE_A ? addresses : [];
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2);
  const rd = query.readUInt16BE(2) & 0x0100;
  header.writeUInt16BE(0x8000 | 0x0400 | rd | 0x0080, 2); // QR, AA, RD as asked, RA
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(records.length, 6);
  const question = query.subarray(12, q.end);
  const rrs = records.map((ip) => {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // the name of the question
    rr.writeUInt16BE(TYPE_A, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(ttl, 6);
    rr.writeUInt16BE(4, 10);
    ip.split(".").forEach((b, i) => rr.writeUInt8(Number(b), 12 + i));
    return rr;
  });
  return Buffer.concat([header, question, ...rrs]);
}

/** A SERVFAIL answer (upstream unreachable). */
export function servfail(query: Buffer, q: Question): Buffer {
  const out = Buffer.concat([query.subarray(0, 12), query.subarray(12, q.end)]);
  out.writeUInt16BE(0x8000 | (query.readUInt16BE(2) & 0x0100) | 0x0080 | 2, 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt32BE(0, 6);
  out.writeUInt16BE(0, 10);
  return out;
}

/** Answers from the engine: the addresses of `name` as seen by the container at `clientIp`; undefined when not one of ours. */
export type LocalResolver = (name: string, clientIp: string) => readonly string[] | undefined;

export interface DnsServerOptions {
  readonly address: string;
  readonly resolve: LocalResolver;
  readonly upstreams: () => readonly string[];
  readonly logger: Logger;
  readonly port?: number;
  /** Where upstream resolvers listen (53). */
  readonly upstreamPort?: number;
}

/** One network's DNS listener. */
export class DnsServer {
  readonly #o: DnsServerOptions;
  readonly #socket: Socket;
  #closed = false;

  private constructor(o: DnsServerOptions, socket: Socket) {
    this.#o = o;
    this.#socket = socket;
    socket.on("message", (msg, rinfo) => void this.#serve(msg, rinfo.address, rinfo.port));
    socket.on("error", (e) => o.logger.warn("dns socket failed", { address: o.address, error: e.message }));
  }

  static listen(o: DnsServerOptions): Promise<DnsServer> {
    return new Promise((resolve, reject) => {
      const socket = createSocket({ type: "udp4", reuseAddr: true });
      socket.once("error", reject);
      socket.bind({ address: o.address, port: o.port ?? 53 }, () => {
        socket.off("error", reject);
        socket.unref();
        resolve(new DnsServer(o, socket));
      });
    });
  }

  get port(): number {
    return this.#socket.address().port;
  }

  async #serve(msg: Buffer, clientIp: string, clientPort: number): Promise<void> {
    const q = parseQuestion(msg);
    if (!q) return;
    const local = q.klass === 1 ? this.#o.resolve(q.name.replace(/\.$/, ""), clientIp) : undefined;
    let reply: Buffer;
    if (local) reply = answer(msg, q, local);
    else reply = (await this.#relay(msg)) ?? servfail(msg, q);
    if (!this.#closed) this.#socket.send(reply, clientPort, clientIp);
  }

  /** Relays the query to the first upstream that answers. */
  async #relay(msg: Buffer): Promise<Buffer | undefined> {
    for (const server of this.#o.upstreams()) {
      const got = await new Promise<Buffer | undefined>((resolve) => {
        const s = createSocket(server.includes(":") ? "udp6" : "udp4");
        const timer = setTimeout(() => finish(undefined), 2000);
        const finish = (b: Buffer | undefined) => {
          clearTimeout(timer);
          s.close();
          resolve(b);
        };
        s.on("error", () => finish(undefined));
        s.on("message", (reply) => {
          if (reply.length >= 2 && reply.readUInt16BE(0) === msg.readUInt16BE(0)) finish(reply);
        });
        s.send(msg, this.#o.upstreamPort ?? 53, server);
      });
      if (got) return got;
    }
    return undefined;
  }

  close(): Promise<void> {
    this.#closed = true;
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }
}

/** The nameservers of a resolv.conf. */
export function nameservers(resolvConf: string): string[] {
  const out: string[] = [];
  for (const line of resolvConf.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m) out.push(m[1]!);
  }
  return out;
}
