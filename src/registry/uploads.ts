// registry/uploads: blob upload sessions.
//
// A session that holds bytes is an ingest in the content store whose ref
// names it (`registry-upload:<uuid>:<repository>`), so it survives a restart
// and any process that sees the store can resume it. A session is only in
// memory until its first chunk: the common upload, a POST and then one PUT
// with the whole blob, writes nothing but the blob itself (an unnamed file
// linked into place), and a session a restart loses had nothing to resume.
// While a session is in use its Writer stays open (the ingest keeps its
// running hash, so a chunked upload is hashed once); requests on one session
// run one after another. Sessions are bounded per client and in total, and
// expire when idle.
import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import type { BlobInfo, Store, Writer, WriterOptions } from "../content/index.js";
import type { Digest } from "../oci/index.js";
import { isKind, type Logger } from "../internal/index.js";
import { registryError } from "./errors.js";
import { isRepositoryName, type RepositoryName } from "./names.js";
import { pump } from "./pump.js";

const REF_PREFIX = "registry-upload:";
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface UploadLimits {
  /** Open sessions one client (user or address) may hold. */
  readonly perClient: number;
  readonly total: number;
  /** A session not written to for this long is discarded. */
  readonly idleMs: number;
}

export const DEFAULT_UPLOAD_LIMITS: UploadLimits = { perClient: 128, total: 4096, idleMs: 30 * 60 * 1000 };

interface Session {
  readonly id: string;
  readonly repo: RepositoryName;
  readonly ref: string;
  readonly client: string;
  readonly startedAt: Date;
  writer: Writer | undefined;
  /** Whether the session is an ingest in the store (it has had a chunk, or a previous run left it). */
  stored: boolean;
  offset: number;
  lastActive: number;
  /** Requests on this session, in order. */
  tail: Promise<unknown>;
  done: boolean;
}

export interface UploadStatus {
  readonly id: string;
  readonly repo: RepositoryName;
  readonly offset: number;
}

function refOf(id: string, repo: RepositoryName): string {
  return `${REF_PREFIX}${id}:${repo}`;
}

function parseRef(ref: string): { id: string; repo: RepositoryName } | undefined {
  if (!ref.startsWith(REF_PREFIX)) return undefined;
  const rest = ref.slice(REF_PREFIX.length);
  const i = rest.indexOf(":");
  const id = rest.slice(0, i);
  const repo = rest.slice(i + 1);
  return i > 0 && UUID_RE.test(id) && isRepositoryName(repo) ? { id, repo } : undefined;
}

function unknownUpload(id: string): Error {
  return registryError("BLOB_UPLOAD_UNKNOWN", `blob upload ${JSON.stringify(id.slice(0, 80))} is unknown or expired`);
}

export class UploadSessions {
  readonly #blobs: Store;
  readonly #limits: UploadLimits;
  readonly #logger: Logger;
  readonly #sessions = new Map<string, Session>();
  readonly #timer: NodeJS.Timeout;

  private constructor(blobs: Store, limits: UploadLimits, logger: Logger) {
    this.#blobs = blobs;
    this.#limits = limits;
    this.#logger = logger;
    this.#timer = setInterval(() => void this.expire().catch((e: unknown) => this.#logger.warn("expire upload sessions", { error: e })), Math.max(1000, Math.min(60_000, limits.idleMs / 4)));
    this.#timer.unref();
  }

  /** Opens the sessions, taking back those a previous run left in the store. */
  static async open(blobs: Store, limits: UploadLimits, logger: Logger): Promise<UploadSessions> {
    const sessions = new UploadSessions(blobs, limits, logger);
    for (const ingest of await blobs.ingests()) {
      const parsed = parseRef(ingest.ref);
      if (!parsed) continue;
      sessions.#sessions.set(parsed.id, {
        id: parsed.id,
        repo: parsed.repo,
        ref: ingest.ref,
        client: "",
        startedAt: ingest.startedAt,
        writer: undefined,
        stored: true,
        offset: ingest.offset,
        lastActive: ingest.updatedAt.getTime(),
        tail: Promise.resolve(),
        done: false,
      });
    }
    await sessions.expire();
    return sessions;
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Starts a session for `repo` on behalf of `client`; TOOMANYREQUESTS past the limits. */
  async start(repo: RepositoryName, client: string): Promise<UploadStatus> {
    if (this.#sessions.size >= this.#limits.total) throw registryError("TOOMANYREQUESTS", `start blob upload: the registry holds ${this.#sessions.size} upload sessions, its limit`);
    let mine = 0;
    for (const s of this.#sessions.values()) if (s.client === client) mine++;
    if (mine >= this.#limits.perClient) throw registryError("TOOMANYREQUESTS", `start blob upload: ${mine} upload sessions are open for this client, the limit is ${this.#limits.perClient}`);
    const id = randomUUID();
    const ref = refOf(id, repo);
    this.#sessions.set(id, { id, repo, ref, client, startedAt: new Date(), writer: undefined, stored: false, offset: 0, lastActive: Date.now(), tail: Promise.resolve(), done: false });
    return { id, repo, offset: 0 };
  }

  #get(repo: RepositoryName, id: string): Session {
    const s = this.#sessions.get(id);
    if (!s || s.repo !== repo || s.done) throw unknownUpload(id);
    return s;
  }

  /** Runs `fn` on the session after the requests before it, keeping it alive. */
  async #run<T>(repo: RepositoryName, id: string, fn: (s: Session) => Promise<T>): Promise<T> {
    const s = this.#get(repo, id);
    const run = s.tail.then(async () => {
      if (s.done) throw unknownUpload(id);
      s.lastActive = Date.now();
      try {
        return await fn(s);
      } finally {
        s.lastActive = Date.now();
      }
    });
    s.tail = run.catch(() => {});
    return run;
  }

  async status(repo: RepositoryName, id: string): Promise<UploadStatus> {
    const s = this.#get(repo, id);
    await s.tail;
    return { id, repo, offset: this.#get(repo, id).offset };
  }

  /**
   * Appends a chunk. With `range` (Content-Range) it must start where the
   * upload stands, else 416 and nothing is written. A chunk whose bytes do not
   * add up to its Content-Range or Content-Length cannot be taken back out of
   * the running hash, so it ends the session (SIZE_INVALID).
   */
  async append(repo: RepositoryName, id: string, body: Readable, options: { range?: { start: number; end: number }; length?: number } = {}): Promise<UploadStatus> {
    return this.#run(repo, id, async (s) => {
      const { range, length } = options;
      // A stored session's writer tells where it stands; one still empty stands at 0.
      if (s.stored) await this.#writer(s);
      if (range) {
        if (range.start !== s.offset) throw registryError("RANGE_INVALID", `upload chunk: it starts at ${range.start}, the upload stands at ${s.offset}`, { detail: { offset: s.offset } });
        if (length !== undefined && range.end - range.start + 1 !== length) throw registryError("SIZE_INVALID", `upload chunk: Content-Range ${range.start}-${range.end} is ${range.end - range.start + 1} bytes, Content-Length is ${length}`);
      }
      const expected = range ? range.end - range.start + 1 : length;
      // The session becomes an ingest in the store at its first chunk.
      const writer = await this.#writer(s);
      let n: number;
      try {
        n = await pump(writer, body as AsyncIterable<Uint8Array>);
      } catch (e) {
        await this.#drop(s);
        throw e;
      }
      s.offset = writer.offset;
      if (expected !== undefined && n !== expected) {
        await this.#drop(s);
        throw registryError("SIZE_INVALID", `upload chunk: received ${n} bytes, expected ${expected}; the upload is cancelled`);
      }
      return { id, repo, offset: s.offset };
    });
  }

  /**
   * Appends the final chunk (if any) and commits the blob against `digest`.
   * A digest mismatch (DIGEST_INVALID) discards the upload: nothing is stored.
   */
  async finish(
    repo: RepositoryName,
    id: string,
    digest: Digest,
    body: Readable | undefined,
    options: { range?: { start: number; end: number }; length?: number } = {},
    /** Wraps the commit (the registry holds the digest's liveness lock around it). */
    around: (commit: () => Promise<BlobInfo>) => Promise<BlobInfo> = (commit) => commit(),
  ): Promise<BlobInfo> {
    return this.#run(repo, id, async (s) => {
      if (s.stored) await this.#writer(s);
      if (options.range && options.range.start !== s.offset) throw registryError("RANGE_INVALID", `finish upload: the chunk starts at ${options.range.start}, the upload stands at ${s.offset}`);
      // A session with no bytes yet ends in this request: its blob needs no resumable ingest.
      const writer = await this.#writer(s, s.stored ? undefined : digest);
      if (body) {
        const expected = options.range ? options.range.end - options.range.start + 1 : options.length;
        let n: number;
        try {
          n = await pump(writer, body as AsyncIterable<Uint8Array>);
        } catch (e) {
          await this.#drop(s);
          throw e;
        }
        if (expected !== undefined && n !== expected) {
          await this.#drop(s);
          throw registryError("SIZE_INVALID", `finish upload: received ${n} bytes, expected ${expected}; the upload is cancelled`);
        }
      }
      s.done = true;
      this.#sessions.delete(s.id);
      try {
        return await around(() => writer.commit({ digest }));
      } catch (e) {
        await writer.abort().catch(() => {});
        if (isKind(e, "data-corrupt")) throw registryError("DIGEST_INVALID", `finish upload: ${e.message}`, { cause: e });
        if (isKind(e, "invalid-argument")) throw registryError("DIGEST_INVALID", `finish upload: ${e.message}`, { cause: e });
        throw e;
      }
    });
  }

  async cancel(repo: RepositoryName, id: string): Promise<void> {
    await this.#run(repo, id, async (s) => this.#drop(s));
  }

  /**
   * The session's open writer, opened when it has none: the ingest in the
   * store, or (`oneShot`: the digest of a session with no bytes that ends
   * now) a transient write that is never resumed.
   */
  async #writer(s: Session, oneShot?: Digest): Promise<Writer> {
    if (!s.writer) {
      s.writer = oneShot ? await this.#blobs.writer(s.ref, { digest: oneShot }, ONE_GO) : await this.#blobs.writer(s.ref);
      s.stored ||= !oneShot;
      s.offset = s.writer.offset;
    }
    return s.writer;
  }

  async #drop(s: Session): Promise<void> {
    s.done = true;
    this.#sessions.delete(s.id);
    const writer = s.writer;
    s.writer = undefined;
    if (writer) await writer.abort().catch(() => {});
    else if (s.stored) await this.#blobs.abortIngest(s.ref).catch(() => {});
  }

  /** Discards sessions idle longer than the limit, and stray upload ingests as old. */
  async expire(now = Date.now()): Promise<number> {
    let n = 0;
    for (const s of [...this.#sessions.values()]) {
      if (now - s.lastActive < this.#limits.idleMs) continue;
      // Not while a request works on it.
      const idle = await Promise.race([s.tail.then(() => true), new Promise<boolean>((r) => setImmediate(() => r(false)))]);
      if (!idle || now - s.lastActive < this.#limits.idleMs) continue;
      this.#logger.info("expire idle upload", { upload: s.id, repository: s.repo });
      await this.#drop(s);
      n++;
    }
    for (const ingest of await this.#blobs.ingests()) {
      const parsed = parseRef(ingest.ref);
      if (!parsed || this.#sessions.has(parsed.id) || now - ingest.updatedAt.getTime() < this.#limits.idleMs) continue;
      await this.#blobs.abortIngest(ingest.ref).catch(() => {});
    }
    return n;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    for (const s of this.#sessions.values()) {
      const w = s.writer;
      s.writer = undefined;
      // Kept for a resume after restart.
      if (w) await w.close().catch(() => {});
    }
  }
}

/** Blobs written whole in one request: never resumed, so nothing of them is kept by name before the commit. */
export const ONE_GO: WriterOptions = { resumable: false };

/** A one-shot ingest ref for a monolithic upload (POST with digest). */
export function oneShotRef(repo: RepositoryName): string {
  return refOf(randomUUID(), repo);
}
