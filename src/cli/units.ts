// Docker's human output: sizes and durations as go-units prints them, ids
// shortened as docker shows them, and tables aligned as Go's text/tabwriter
// aligns them — so that wharf's columns line up byte for byte with docker's.

const DECIMAL_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"] as const;

/**
 * Go's `%.{precision}g`: `precision` significant digits, trailing zeros
 * removed, exponent form when the exponent is < -4 or >= precision.
 * Rounds half to even on the exact binary value, as Go's strconv does
 * (JavaScript's toPrecision rounds exact ties up: 1.125 → "1.13", Go "1.12").
 */
export function formatG(x: number, precision: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "+Inf" : "-Inf";
  if (x === 0) return "0";
  const p = Math.max(1, precision);
  const negative = x < 0;
  const { digits, exponent } = roundSignificant(Math.abs(x), p);
  let body: string;
  if (exponent < -4 || exponent >= p) {
    const mantissa = trimZeros(digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits);
    const expAbs = Math.abs(exponent);
    body = `${mantissa}e${exponent < 0 ? "-" : "+"}${expAbs < 10 ? "0" : ""}${expAbs}`;
  } else if (exponent < 0) {
    body = trimZeros(`0.${"0".repeat(-exponent - 1)}${digits}`);
  } else {
    const intPart = digits.slice(0, exponent + 1).padEnd(exponent + 1, "0");
    const frac = digits.slice(exponent + 1);
    body = frac ? trimZeros(`${intPart}.${frac}`) : intPart;
  }
  return negative ? `-${body}` : body;
}

function trimZeros(s: string): string {
  if (!s.includes(".")) return s;
  return s.replace(/0+$/, "").replace(/\.$/, "");
}

/** The first `n` significant decimal digits of `x` (> 0), rounded half to even, and the decimal exponent of the first. */
export function roundSignificant(x: number, n: number): { digits: string; exponent: number } {
  // toFixed gives the exact decimal expansion of the binary value for up to 100
  // fraction digits, which covers every value this module prints.
  const fixed = x >= 1e21 ? BigInt(Math.round(x)).toString() : x.toFixed(100);
  const [intPart = "", fracPart = ""] = fixed.split(".");
  const all = (intPart === "0" ? "" : intPart) + fracPart;
  const firstNonZero = all.search(/[1-9]/);
  if (firstNonZero === -1) return { digits: "0", exponent: 0 };
  const intLen = intPart === "0" ? 0 : intPart.length;
  let exponent = intLen - 1 - firstNonZero;
  const significant = all.slice(firstNonZero);
  let head = significant.slice(0, n).padEnd(n, "0");
  const rest = significant.slice(n);
  const first = rest.charCodeAt(0) - 48;
  let roundUp = false;
  if (rest.length > 0) {
    if (first > 5) roundUp = true;
    else if (first === 5) {
      const beyondHalf = /[1-9]/.test(rest.slice(1));
      const lastDigit = head.charCodeAt(head.length - 1) - 48;
      roundUp = beyondHalf || lastDigit % 2 === 1;
    }
  }
  if (roundUp) {
    const bumped = (BigInt(head) + 1n).toString();
    if (bumped.length > head.length) {
      exponent++;
      head = bumped.slice(0, n);
    } else head = bumped;
  }
  return { digits: head, exponent };
}

/** go-units `HumanSizeWithPrecision`: decimal units, `precision` significant digits (`5.6kB`, `1.24MB`). */
export function humanSizeWithPrecision(size: number, precision: number): string {
  let value = size;
  let i = 0;
  while (value >= 1000 && i < DECIMAL_UNITS.length - 1) {
    value /= 1000;
    i++;
  }
  return `${formatG(value, precision)}${DECIMAL_UNITS[i]}`;
}

/** go-units `HumanSize`: four significant digits. */
export function humanSize(size: number): string {
  return humanSizeWithPrecision(size, 4);
}

export { humanDuration } from "../api/wire.js";
import { humanDuration } from "../api/wire.js";

/** `3 weeks ago` for a time in seconds since the epoch, as docker's CREATED column. */
export function createdSince(unixSeconds: number, now: number = Date.now()): string {
  return `${humanDuration(now - unixSeconds * 1000)} ago`;
}

/** docker's short id: the algorithm prefix dropped, 12 hex digits. */
export function truncateId(id: string): string {
  const colon = id.indexOf(":");
  const hex = colon === -1 ? id : id.slice(colon + 1);
  return hex.length > 12 ? hex.slice(0, 12) : hex;
}

/** Display width of a character: East Asian wide and fullwidth take two cells. */
function charWidth(cp: number): number {
  const wide =
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0x303e) ||
    (cp >= 0x3041 && cp <= 0x33ff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0xa000 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd);
  return wide ? 2 : 1;
}

/** docker's `Ellipsis`: cut to `maxWidth` display cells, the last one an `…`. */
export function ellipsis(s: string, maxWidth: number): string {
  if (maxWidth <= 0) return "";
  const chars = Array.from(s);
  if (maxWidth === 1) return chars[0] ?? "";
  let width = 0;
  const ends: number[] = [];
  for (const ch of chars) {
    width += charWidth(ch.codePointAt(0)!);
    ends.push(width);
  }
  if (width <= maxWidth) return s;
  let keep = 0;
  while (keep < ends.length && ends[keep]! <= maxWidth - 1) keep++;
  return chars.slice(0, keep).join("") + "…";
}

export interface TabwriterOptions {
  minWidth: number;
  padding: number;
  padChar?: string;
}

/** docker's tables: `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`. */
export const TABLE_LAYOUT: TabwriterOptions = { minWidth: 10, padding: 3 };

/**
 * Go's text/tabwriter over a whole text: tab-terminated cells form columns,
 * the text after a line's last tab is not aligned, a column's width holds
 * within a block of consecutive lines that have that column, and a line
 * without tabs ends every block (Go flushes there).
 */
export function tabwrite(text: string, options: TabwriterOptions): string {
  const lines = text.split("\n");
  const trailingNewline = lines.length > 1 && lines[lines.length - 1] === "";
  if (trailingNewline) lines.pop();
  const out: string[] = [];
  let segment: string[][] = [];
  for (const line of lines) {
    const cells = line.split("\t");
    segment.push(cells);
    if (cells.length === 1) {
      out.push(...formatBlock(segment, options));
      segment = [];
    }
  }
  out.push(...formatBlock(segment, options));
  return out.join("\n") + (trailingNewline ? "\n" : "");
}

function textWidth(s: string): number {
  // tabwriter counts runes, not display cells.
  return Array.from(s).length;
}

function formatBlock(lines: string[][], options: TabwriterOptions): string[] {
  const widths: number[] = [];
  const rendered: string[] = new Array<string>(lines.length);
  const pad = options.padChar ?? " ";
  const write = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const cells = lines[i]!;
      let s = "";
      cells.forEach((cell, j) => {
        if (j < widths.length && j < cells.length - 1) s += cell + pad.repeat(Math.max(0, widths[j]! - textWidth(cell)));
        else s += cell;
      });
      rendered[i] = s;
    }
  };
  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    let start = line0;
    for (let cur = line0; cur < line1; cur++) {
      if (column >= lines[cur]!.length - 1) continue;
      write(start, cur);
      start = cur;
      let width = options.minWidth;
      for (; cur < line1; cur++) {
        const cells = lines[cur]!;
        if (column >= cells.length - 1) break;
        width = Math.max(width, textWidth(cells[column]!) + options.padding);
      }
      widths.push(width);
      format(start, cur);
      widths.pop();
      start = cur;
    }
    write(start, line1);
  };
  format(0, lines.length);
  return rendered;
}

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

function offsetOf(d: Date): { sign: string; hh: string; mm: string; minutes: number } {
  const minutes = -d.getTimezoneOffset();
  const abs = Math.abs(minutes);
  return { sign: minutes < 0 ? "-" : "+", hh: pad2(Math.trunc(abs / 60)), mm: pad2(abs % 60), minutes };
}

let zoneFormat: Intl.DateTimeFormat | undefined;

function zoneName(d: Date): string {
  // Offset 0 reads as UTC (as GMT would): no need to load the zone data (~15 ms), the common case.
  if (d.getTimezoneOffset() === 0) return "UTC";
  zoneFormat ??= new Intl.DateTimeFormat("en-US", { timeZoneName: "short" });
  const part = zoneFormat.formatToParts(d).find((p) => p.type === "timeZoneName");
  const name = part?.value ?? "UTC";
  return name === "GMT" ? "UTC" : name;
}

function localDate(d: Date): string {
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
}

function localClock(d: Date): string {
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/** Go's `time.Unix(s, 0).String()` in local time: `2024-05-01 10:20:30 +0000 UTC`. */
export function goTimeString(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const o = offsetOf(d);
  return `${localDate(d)} ${localClock(d)} ${o.sign}${o.hh}${o.mm} ${zoneName(d)}`;
}

/** Go's RFC 3339 in local time: `2024-05-01T10:20:30Z`, or with `+02:00`. */
export function rfc3339(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const o = offsetOf(d);
  return `${localDate(d)}T${localClock(d)}${o.minutes === 0 ? "Z" : `${o.sign}${o.hh}:${o.mm}`}`;
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Go's time.ANSIC (`Wed May  1 10:20:30 2024`) of an RFC 3339 time, or the text unchanged if it is not one. */
export function ansic(text: string): string {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/.test(text)) return text;
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (!m) return text;
  // The clock as written, in the zone it was written in, as Go keeps it.
  const [, y, mo, d, h, mi, s] = m;
  const date = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  return `${DAYS[date.getUTCDay()]} ${MONTHS[Number(mo) - 1]} ${String(Number(d)).padStart(2, " ")} ${h}:${mi}:${s} ${y}`;
}

const BINARY_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"] as const;

/** go-units `BytesSize`: binary units, four significant digits (`7.451GiB`). */
export function bytesSize(size: number): string {
  let value = size;
  let i = 0;
  while (value >= 1024 && i < BINARY_UNITS.length - 1) {
    value /= 1024;
    i++;
  }
  return `${formatG(value, 4)}${BINARY_UNITS[i]}`;
}
