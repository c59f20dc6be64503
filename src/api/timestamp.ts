// Times in filters (`until=24h`, `until=2024-01-02T10:00:00Z`, `until=1700000000`)
// as docker reads them: a Go duration back from now, an RFC 3339 date (local
// time when it has no zone), or seconds since the epoch.
import { wharfError } from "../internal/index.js";

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, "μs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's `time.ParseDuration`, in milliseconds; undefined when `text` is not one. */
export function parseGoDuration(text: string): number | undefined {
  const m = /^([-+]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$/.exec(text);
  if (!m) return text === "0" ? 0 : undefined;
  let total = 0;
  for (const part of m[2]!.matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) total += Number(part[1]) * UNIT_MS[part[2]!]!;
  return m[1] === "-" ? -total : total;
}

/** A filter's time as milliseconds since the epoch. */
export function parseTimestamp(text: string, now = Date.now()): number {
  const duration = text === "0" ? undefined : parseGoDuration(text);
  if (duration !== undefined) return now - duration;
  if (text.includes("-")) {
    // A date without a time is local midnight in Go; JavaScript would read it as UTC.
    const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00` : text);
    if (Number.isNaN(t)) throw wharfError("invalid-argument", `failed to parse value as time or duration: ${JSON.stringify(text)}`);
    return t;
  }
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  throw wharfError("invalid-argument", `failed to parse value as time or duration: ${JSON.stringify(text)}`);
}
