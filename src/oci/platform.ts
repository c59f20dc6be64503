// Platforms ({os, architecture, variant}) and how an index entry is chosen for one.
import { arch as nodeArch } from "node:process";

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  "os.version"?: string;
  "os.features"?: string[];
}

export class PlatformError extends Error {
  override name = "PlatformError";
}

export function parsePlatform(v: unknown): Platform {
  if (typeof v !== "object" || v === null) throw new PlatformError("invalid platform: not an object");
  const o = v as Record<string, unknown>;
  if (typeof o.os !== "string" || typeof o.architecture !== "string") throw new PlatformError("invalid platform: os and architecture are required");
  const p: Platform = { os: o.os, architecture: o.architecture };
  if (typeof o.variant === "string" && o.variant) p.variant = o.variant;
  if (typeof o["os.version"] === "string") p["os.version"] = o["os.version"];
  if (Array.isArray(o["os.features"])) p["os.features"] = o["os.features"].filter((f): f is string => typeof f === "string");
  return p;
}

const ARCH_ALIASES: Record<string, string> = { x86_64: "amd64", x86: "386", i386: "386", aarch64: "arm64", armhf: "arm", armel: "arm", ia32: "386", x64: "amd64" };

function normalizeArch(arch: string, variant: string | undefined): { architecture: string; variant?: string } {
  const a = ARCH_ALIASES[arch.toLowerCase()] ?? arch.toLowerCase();
  if (a === "arm64") return variant && variant !== "v8" ? { architecture: a, variant } : { architecture: a };
  if (a === "arm") return { architecture: a, variant: variant ?? "v7" };
  if (a === "amd64") return variant && variant !== "v1" ? { architecture: a, variant } : { architecture: a };
  return variant ? { architecture: a, variant } : { architecture: a };
}

/** Parses `os[/arch[/variant]]` as `--platform` takes it. */
export function parsePlatformSpec(spec: string): Platform {
  const parts = spec.trim().toLowerCase().split("/");
  if (parts.length < 1 || parts.length > 3 || parts.some((p) => p === "")) throw new PlatformError(`invalid platform ${JSON.stringify(spec)}: expected os[/arch[/variant]]`);
  const os = parts[0]!;
  const host = hostPlatform();
  const arch = parts[1] ?? host.architecture;
  return { os, ...normalizeArch(arch, parts[2] ?? (parts[1] ? undefined : host.variant)) };
}

export function hostPlatform(): Platform {
  return { os: "linux", ...normalizeArch(nodeArch, undefined) };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}

/** Whether an image for `candidate` runs on `want` (variants compatible downwards for arm). */
export function platformMatches(want: Platform, candidate: Platform): boolean {
  const w = { os: want.os, ...normalizeArch(want.architecture, want.variant) };
  const c = { os: candidate.os, ...normalizeArch(candidate.architecture, candidate.variant) };
  if (w.os !== c.os || w.architecture !== c.architecture) return false;
  if (w.variant === c.variant) return true;
  if (w.architecture === "arm" && w.variant && c.variant) return Number(c.variant.slice(1)) <= Number(w.variant.slice(1));
  return c.variant === undefined;
}

/** Orders candidates best first: exact variant before compatible ones. Returns the best match or undefined. */
export function selectPlatform<T extends { platform?: Platform }>(want: Platform, candidates: readonly T[]): T | undefined {
  const matching = candidates.filter((c) => c.platform !== undefined && platformMatches(want, c.platform));
  const exact = matching.find((c) => (c.platform!.variant ?? "") === (normalizeArch(want.architecture, want.variant).variant ?? ""));
  return exact ?? matching[0];
}
