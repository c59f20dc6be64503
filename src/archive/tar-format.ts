// tar-format: the bytes of a tar header — ustar blocks, PAX extended records,
// GNU long names — decoded into a TarHeader and encoded from one. Pure
// functions over buffers; the streaming reader and writer live in tar.ts.
import { wharfError } from "../internal/index.js";

export const BLOCK = 512;

export type EntryType = "file" | "directory" | "symlink" | "hardlink" | "char-device" | "block-device" | "fifo";

/** One tar entry's metadata, after PAX and GNU extensions were applied. */
export interface TarHeader {
  /** As written in the archive (directories usually end in "/"); not normalised. */
  readonly name: string;
  readonly type: EntryType;
  /** Permission bits including setuid, setgid and sticky (0o7777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly uname: string;
  readonly gname: string;
  /** Bytes of the body; 0 for everything but files. */
  readonly size: number;
  /** Seconds since the epoch; PAX may give a fraction. */
  readonly mtime: number;
  /** Target of a symlink or hardlink; "" otherwise. */
  readonly linkname: string;
  readonly devmajor: number;
  readonly devminor: number;
  /** Extended attributes (PAX `SCHILY.xattr.*`). */
  readonly xattrs: ReadonlyMap<string, Buffer>;
}

/** What a writer needs: a name and a type; everything else has a default. */
export type TarHeaderInit = Pick<TarHeader, "name" | "type"> & Partial<Omit<TarHeader, "name" | "type">>;

export function completeHeader(init: TarHeaderInit): TarHeader {
  return {
    name: init.name,
    type: init.type,
    mode: init.mode ?? (init.type === "directory" ? 0o755 : 0o644),
    uid: init.uid ?? 0,
    gid: init.gid ?? 0,
    uname: init.uname ?? "",
    gname: init.gname ?? "",
    size: init.type === "file" ? (init.size ?? 0) : 0,
    mtime: init.mtime ?? 0,
    linkname: init.linkname ?? "",
    devmajor: init.devmajor ?? 0,
    devminor: init.devminor ?? 0,
    xattrs: init.xattrs ?? new Map(),
  };
}

// ustar field offsets and lengths.
const F = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const satisfies Record<string, readonly [number, number]>;

type Field = keyof typeof F;

function field(block: Uint8Array, f: Field): Uint8Array {
  const [off, len] = F[f];
  return block.subarray(off, off + len);
}

/** A NUL-terminated string field. */
function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(bytes.buffer, bytes.byteOffset, end === -1 ? bytes.length : end).toString("utf8");
}

/**
 * A numeric field: octal text (space/NUL padded), or GNU base-256 when the
 * high bit of the first byte is set (two's complement, so 0xff… is negative).
 */
export function parseNumeric(bytes: Uint8Array, what: string): number {
  const first = bytes[0] ?? 0;
  if (first & 0x80) {
    const negative = (first & 0x40) !== 0;
    let n = 0n;
    for (let i = 0; i < bytes.length; i++) {
      let b = bytes[i]!;
      if (i === 0) b &= 0x7f;
      if (negative) b ^= i === 0 ? 0x7f : 0xff;
      n = (n << 8n) | BigInt(b);
    }
    if (negative) n = -(n + 1n);
    if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw wharfError("data-corrupt", `read tar header: ${what} ${n} is too large`);
    }
    return Number(n);
  }
  let n = 0;
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0)) i++; // leading padding
  let digits = 0;
  for (; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x20 || b === 0) break;
    if (b < 0x30 || b > 0x37) throw wharfError("data-corrupt", `read tar header: ${what} field ${JSON.stringify(Buffer.from(bytes).toString("latin1"))} is not octal`);
    n = n * 8 + (b - 0x30);
    digits++;
  }
  for (; i < bytes.length; i++) {
    if (bytes[i] !== 0x20 && bytes[i] !== 0) throw wharfError("data-corrupt", `read tar header: ${what} field ${JSON.stringify(Buffer.from(bytes).toString("latin1"))} is not octal`);
  }
  return digits === 0 ? 0 : n;
}

export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

function checksumOf(block: Uint8Array): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return { unsigned, signed };
}

/** The header block's fields, before extensions; typeflag is the raw character. */
export interface RawHeader {
  readonly typeflag: string;
  readonly name: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly mtime: number;
  readonly linkname: string;
  readonly uname: string;
  readonly gname: string;
  readonly devmajor: number;
  readonly devminor: number;
}

/** Decodes one non-zero header block, verifying its checksum. */
export function decodeBlock(block: Uint8Array): RawHeader {
  const stored = parseNumeric(field(block, "chksum"), "checksum");
  const { unsigned, signed } = checksumOf(block);
  if (stored !== unsigned && stored !== signed) {
    throw wharfError("data-corrupt", `read tar header: checksum mismatch (stored ${stored}, computed ${unsigned}): the archive is corrupt or not a tar`);
  }
  const magic = Buffer.from(field(block, "magic")).toString("latin1");
  const flag = block[156]!;
  // POSIX ustar ("ustar\0") splits long names into prefix + name; GNU's
  // "ustar " magic uses that area for other fields.
  const prefix = magic === "ustar\0" ? cString(field(block, "prefix")) : "";
  const name = cString(field(block, "name"));
  const dev = magic.startsWith("ustar");
  return {
    typeflag: flag === 0 ? "0" : String.fromCharCode(flag),
    name: prefix === "" ? name : `${prefix}/${name}`,
    mode: parseNumeric(field(block, "mode"), "mode"),
    uid: parseNumeric(field(block, "uid"), "uid"),
    gid: parseNumeric(field(block, "gid"), "gid"),
    size: parseNumeric(field(block, "size"), "size"),
    mtime: parseNumeric(field(block, "mtime"), "mtime"),
    linkname: cString(field(block, "linkname")),
    uname: cString(field(block, "uname")),
    gname: cString(field(block, "gname")),
    devmajor: dev ? parseNumeric(field(block, "devmajor"), "devmajor") : 0,
    devminor: dev ? parseNumeric(field(block, "devminor"), "devminor") : 0,
  };
}

/** PAX records of one extended header: text values, and xattrs as raw bytes. */
export interface PaxRecords {
  readonly values: Map<string, string>;
  readonly xattrs: Map<string, Buffer>;
}

const XATTR_PREFIX = "SCHILY.xattr.";

/** Parses `<len> <key>=<value>\n` records; xattr values stay bytes. */
export function parsePax(data: Buffer): PaxRecords {
  const values = new Map<string, string>();
  const xattrs = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // NUL padding after the last record
    const space = data.indexOf(0x20, pos);
    if (space === -1) throw wharfError("data-corrupt", "read tar PAX header: record without a length");
    const lenText = data.toString("latin1", pos, space);
    const len = /^[0-9]+$/.test(lenText) ? Number(lenText) : NaN;
    if (!Number.isSafeInteger(len) || len <= space - pos + 1 || pos + len > data.length || data[pos + len - 1] !== 0x0a) {
      throw wharfError("data-corrupt", `read tar PAX header: bad record length ${JSON.stringify(lenText)}`);
    }
    const eq = data.indexOf(0x3d, space + 1);
    if (eq === -1 || eq >= pos + len - 1) throw wharfError("data-corrupt", "read tar PAX header: record without '='");
    const key = data.toString("utf8", space + 1, eq);
    const value = data.subarray(eq + 1, pos + len - 1);
    if (key.startsWith(XATTR_PREFIX)) xattrs.set(key.slice(XATTR_PREFIX.length), Buffer.from(value));
    else values.set(key, value.toString("utf8"));
    pos += len;
  }
  return { values, xattrs };
}

function paxNumber(values: Map<string, string>, key: string, fallback: number, fraction = false): number {
  const text = values.get(key);
  if (text === undefined) return fallback;
  const re = fraction ? /^-?[0-9]+(\.[0-9]+)?$/ : /^[0-9]+$/;
  const n = Number(text);
  if (!re.test(text) || !Number.isFinite(n) || (!fraction && !Number.isSafeInteger(n))) {
    throw wharfError("data-corrupt", `read tar PAX header: ${key} ${JSON.stringify(text)} is not a number`);
  }
  return n;
}

const TYPES: Record<string, EntryType> = {
  "0": "file",
  "7": "file", // contiguous file: a plain file everywhere that matters
  "1": "hardlink",
  "2": "symlink",
  "3": "char-device",
  "4": "block-device",
  "5": "directory",
  "6": "fifo",
};

/** Extensions gathered from the entries before a real one. */
export interface Pending {
  pax?: PaxRecords;
  longName?: string;
  longLink?: string;
}

/** Builds the entry's header from its block and the pending extensions. */
export function resolveHeader(raw: RawHeader, pending: Pending): TarHeader {
  const values = pending.pax?.values ?? new Map<string, string>();
  const name = values.get("path") ?? pending.longName ?? raw.name;
  let type = TYPES[raw.typeflag];
  if (type === undefined) {
    throw wharfError("invalid-argument", `read tar: entry ${JSON.stringify(name)}: unsupported entry type ${JSON.stringify(raw.typeflag)}`);
  }
  // Old (v7) tars mark directories only by the trailing slash.
  if (type === "file" && raw.typeflag !== "7" && name.endsWith("/")) type = "directory";
  if (name === "" || name.includes("\0")) throw wharfError("data-corrupt", `read tar: entry name ${JSON.stringify(name)} is empty or has a NUL byte`);
  const size = paxNumber(values, "size", raw.size);
  return {
    name,
    type,
    mode: raw.mode & 0o7777,
    uid: paxNumber(values, "uid", raw.uid),
    gid: paxNumber(values, "gid", raw.gid),
    uname: values.get("uname") ?? raw.uname,
    gname: values.get("gname") ?? raw.gname,
    size,
    mtime: paxNumber(values, "mtime", raw.mtime, true),
    linkname: values.get("linkpath") ?? pending.longLink ?? raw.linkname,
    devmajor: raw.devmajor,
    devminor: raw.devminor,
    xattrs: pending.pax?.xattrs ?? new Map(),
  };
}

/** The body size that follows a header block, for any typeflag (hardlinks and dirs carry none). */
export function bodySize(raw: RawHeader, pending: Pending): number {
  switch (raw.typeflag) {
    case "1":
    case "2":
    case "3":
    case "4":
    case "5":
    case "6":
      return 0;
    default:
      return paxNumber(pending.pax?.values ?? new Map(), "size", raw.size);
  }
}

export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

// ---- encoding ----

const TYPEFLAG: Record<EntryType, string> = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  "char-device": "3",
  "block-device": "4",
  directory: "5",
  fifo: "6",
};

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7e || s.charCodeAt(i) === 0) return false;
  return true;
}

function putString(block: Buffer, f: Field, value: string): void {
  const [off, len] = F[f];
  block.write(value, off, len, "latin1");
}

/** Writes an octal field if it fits; returns false otherwise. */
function putOctal(block: Buffer, f: Field, value: number): boolean {
  const [off, len] = F[f];
  const text = value.toString(8);
  if (!Number.isSafeInteger(value) || value < 0 || text.length > len - 1) return false;
  block.write(text.padStart(len - 1, "0"), off, len - 1, "latin1");
  block[off + len - 1] = 0;
  return true;
}

/** GNU base-256 for values (device numbers) that have no PAX key. */
function putBase256(block: Buffer, f: Field, value: number): void {
  const [off, len] = F[f];
  let n = BigInt(value);
  for (let i = len - 1; i >= 1; i--) {
    block[off + i] = Number(n & 0xffn);
    n >>= 8n;
  }
  block[off] = 0x80;
}

/** Splits a long ASCII name into ustar prefix (≤155) and name (≤100) at a slash. */
function splitUstarName(name: string): [prefix: string, name: string] | undefined {
  if (name.length <= 100) return ["", name];
  if (name.length > 256) return undefined;
  for (let i = name.length - 2; i > 0; i--) {
    if (name[i] !== "/") continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (prefix.length <= 155 && rest.length <= 100 && rest.length > 0) return [prefix, rest];
    if (prefix.length <= 155) break;
  }
  return undefined;
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = 1 + Buffer.byteLength(key) + 1 + value.length + 1; // " key=value\n"
  let len = body + String(body).length;
  if (String(len).length !== String(body).length) len = body + String(len).length;
  return Buffer.concat([Buffer.from(`${len} ${key}=`, "utf8"), value, Buffer.from("\n")]);
}

function mtimeText(seconds: number): string {
  if (Number.isInteger(seconds)) return String(seconds);
  // Nine digits at most, trailing zeros dropped, as GNU tar writes it.
  return seconds.toFixed(9).replace(/0+$/, "").replace(/\.$/, "");
}

function finishBlock(block: Buffer): Buffer {
  block.write("ustar\0", 257, 6, "latin1");
  block.write("00", 263, 2, "latin1");
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += block[i]!;
  block.write(sum.toString(8).padStart(6, "0"), 148, 6, "latin1");
  block[154] = 0;
  block[155] = 0x20;
  return block;
}

/**
 * The header blocks of one entry: a PAX extended header first when a value
 * does not fit ustar (long or non-ASCII names and links, large numbers,
 * fractional or negative mtimes, xattrs), then the ustar block.
 */
export function encodeHeader(h: TarHeader): Buffer {
  const block = Buffer.alloc(BLOCK);
  const pax: Buffer[] = [];
  const name = h.type === "directory" && !h.name.endsWith("/") ? `${h.name}/` : h.name;

  const split = isAscii(name) ? splitUstarName(name) : undefined;
  if (split) {
    putString(block, "prefix", split[0]);
    putString(block, "name", split[1]);
  } else {
    pax.push(paxRecord("path", Buffer.from(name, "utf8")));
    putString(block, "name", asciiFallback(name, 100));
  }
  if (isAscii(h.linkname) && h.linkname.length <= 100) putString(block, "linkname", h.linkname);
  else {
    pax.push(paxRecord("linkpath", Buffer.from(h.linkname, "utf8")));
    putString(block, "linkname", asciiFallback(h.linkname, 100));
  }
  putOctal(block, "mode", h.mode & 0o7777);
  for (const [f, key, value] of [["uid", "uid", h.uid], ["gid", "gid", h.gid], ["size", "size", h.size]] as const) {
    if (!putOctal(block, f, value)) {
      pax.push(paxRecord(key, Buffer.from(String(value))));
      putOctal(block, f, 0);
    }
  }
  if (!Number.isInteger(h.mtime) || !putOctal(block, "mtime", h.mtime)) {
    pax.push(paxRecord("mtime", Buffer.from(mtimeText(h.mtime))));
    putOctal(block, "mtime", Math.max(0, Math.min(Math.floor(h.mtime), 0o77777777777)));
  }
  for (const [f, key, value] of [["uname", "uname", h.uname], ["gname", "gname", h.gname]] as const) {
    if (isAscii(value) && value.length <= 32) putString(block, f, value);
    else pax.push(paxRecord(key, Buffer.from(value, "utf8")));
  }
  for (const [f, value] of [["devmajor", h.devmajor], ["devminor", h.devminor]] as const) {
    if (!putOctal(block, f, value)) putBase256(block, f, value);
  }
  block.write(TYPEFLAG[h.type], 156, 1, "latin1");
  for (const [key, value] of h.xattrs) pax.push(paxRecord(XATTR_PREFIX + key, value));
  finishBlock(block);
  if (pax.length === 0) return block;

  const records = Buffer.concat(pax);
  const ext = Buffer.alloc(BLOCK);
  putString(ext, "name", asciiFallback(`PaxHeaders.0/${baseName(name)}`, 100));
  putOctal(ext, "mode", 0o644);
  putOctal(ext, "uid", 0);
  putOctal(ext, "gid", 0);
  putOctal(ext, "size", records.length);
  putOctal(ext, "mtime", 0);
  putOctal(ext, "devmajor", 0);
  putOctal(ext, "devminor", 0);
  ext.write("x", 156, 1, "latin1");
  finishBlock(ext);
  return Buffer.concat([ext, records, Buffer.alloc(padding(records.length)), block]);
}

function baseName(name: string): string {
  const trimmed = name.endsWith("/") ? name.slice(0, -1) : name;
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

/** What old readers that ignore PAX see: ASCII, cut to the field. */
function asciiFallback(s: string, len: number): string {
  return s.replace(/[^\x20-\x7e]/g, "_").slice(0, len);
}

/** The end of an archive: two zero blocks. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);
