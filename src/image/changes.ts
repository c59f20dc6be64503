// `--change` instructions (`import -c`, later `commit -c`): the Dockerfile
// instructions that only touch the image config, applied to a copy of it.
import type { ContainerConfig, HealthConfig } from "../oci/index.js";
import { wharfError } from "../internal/index.js";

const ALLOWED = new Set(["CMD", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "ONBUILD", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"]);

function fail(change: string, detail: string): never {
  throw wharfError("invalid-argument", `invalid change ${JSON.stringify(change)}: ${detail}`);
}

/** Splits `k=v "k 2"="v 2"` into words, honouring quotes and backslashes as Dockerfile ENV does. */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let cur = "";
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === "\\" && i + 1 < text.length) {
      cur += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unmatched ${quote} quote`);
  if (inWord) words.push(cur);
  return words;
}

/** JSON form (`["a","b"]`) or shell form wrapped in `/bin/sh -c`. */
function commandForm(rest: string, change: string): string[] {
  const trimmed = rest.trim();
  if (trimmed.startsWith("[")) {
    try {
      const v: unknown = JSON.parse(trimmed);
      if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
    } catch {
      // not JSON: docker then takes it as shell form
    }
  }
  if (trimmed === "") fail(change, "needs a command");
  return ["/bin/sh", "-c", trimmed];
}

function keyValues(rest: string, change: string, instruction: string): [string, string][] {
  let words: string[];
  try {
    words = splitWords(rest);
  } catch (e) {
    fail(change, (e as Error).message);
  }
  if (words.length === 0) fail(change, `${instruction} needs at least one argument`);
  // Legacy `ENV key value with spaces` form.
  if (instruction === "ENV" && !words[0]!.includes("=")) {
    const m = /^\s*(\S+)\s+([\s\S]*)$/.exec(rest);
    if (!m) fail(change, "ENV needs a value");
    return [[m[1]!, m[2]!.trim()]];
  }
  return words.map((w) => {
    const eq = w.indexOf("=");
    if (eq <= 0) fail(change, `${instruction} ${JSON.stringify(w)} must be key=value`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

const NANOS: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

function parseDuration(text: string, change: string): number {
  let total = 0;
  let rest = text;
  if (rest === "0") return 0;
  while (rest) {
    const m = /^(\d+(?:\.\d+)?)(ns|us|\u00b5s|ms|s|m|h)/.exec(rest);
    if (!m) fail(change, `invalid duration ${JSON.stringify(text)}`);
    total += Number(m[1]) * NANOS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return Math.round(total);
}

function healthcheck(rest: string, change: string): HealthConfig {
  let text = rest.trim();
  if (/^none$/i.test(text)) return { Test: ["NONE"] };
  const hc: HealthConfig = {};
  for (;;) {
    const m = /^--(interval|timeout|start-period|start-interval|retries)=(\S+)\s*/.exec(text);
    if (!m) break;
    text = text.slice(m[0].length);
    const [, flag, value] = m;
    if (flag === "retries") {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) fail(change, `invalid retries ${JSON.stringify(value)}`);
      hc.Retries = n;
    } else {
      const d = parseDuration(value!, change);
      if (flag === "interval") hc.Interval = d;
      else if (flag === "timeout") hc.Timeout = d;
      else if (flag === "start-period") hc.StartPeriod = d;
      else hc.StartInterval = d;
    }
  }
  const cmd = /^cmd\s+([\s\S]+)$/i.exec(text);
  if (!cmd) fail(change, "HEALTHCHECK needs NONE or CMD");
  const form = commandForm(cmd[1]!, change);
  hc.Test = form[0] === "/bin/sh" && form[1] === "-c" && form.length === 3 ? ["CMD-SHELL", form[2]!] : ["CMD", ...form];
  return hc;
}

function posixJoin(base: string, path: string): string {
  const parts = (path.startsWith("/") ? path : `${base}/${path}`).split("/");
  const out: string[] = [];
  for (const p of parts) {
    if (p === "" || p === ".") continue;
    if (p === "..") out.pop();
    else out.push(p);
  }
  return "/" + out.join("/");
}

/** Applies each change in order to a copy of `config`; refuses instructions docker refuses. */
export function applyChanges(config: ContainerConfig, changes: readonly string[]): ContainerConfig {
  const c: ContainerConfig = structuredClone(config);
  for (const change of changes) {
    const m = /^\s*(\S+)\s*([\s\S]*)$/.exec(change);
    if (!m) fail(change, "empty");
    const instruction = m[1]!.toUpperCase();
    const rest = m[2]!;
    if (!ALLOWED.has(instruction)) fail(change, `${instruction} is not a valid change command`);
    switch (instruction) {
      case "CMD":
        c.Cmd = commandForm(rest, change);
        break;
      case "ENTRYPOINT":
        c.Entrypoint = commandForm(rest, change);
        break;
      case "ENV": {
        const env = [...(c.Env ?? [])];
        for (const [k, v] of keyValues(rest, change, instruction)) {
          const i = env.findIndex((e) => e.slice(0, e.indexOf("=") === -1 ? e.length : e.indexOf("=")) === k);
          if (i === -1) env.push(`${k}=${v}`);
          else env[i] = `${k}=${v}`;
        }
        c.Env = env;
        break;
      }
      case "LABEL":
        c.Labels = { ...(c.Labels ?? {}), ...Object.fromEntries(keyValues(rest, change, instruction)) };
        break;
      case "EXPOSE": {
        const ports = { ...(c.ExposedPorts ?? {}) };
        for (const p of rest.trim().split(/\s+/).filter(Boolean)) {
          const pm = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(p);
          if (!pm) fail(change, `invalid port ${JSON.stringify(p)}`);
          const from = Number(pm[1]);
          const to = pm[2] ? Number(pm[2]) : from;
          if (from < 1 || to > 65535 || to < from) fail(change, `invalid port ${JSON.stringify(p)}`);
          for (let port = from; port <= to; port++) ports[`${port}/${(pm[3] ?? "tcp").toLowerCase()}`] = {};
        }
        c.ExposedPorts = ports;
        break;
      }
      case "USER":
        if (!rest.trim()) fail(change, "USER needs a user");
        c.User = rest.trim();
        break;
      case "WORKDIR":
        if (!rest.trim()) fail(change, "WORKDIR needs a path");
        c.WorkingDir = posixJoin(c.WorkingDir || "/", rest.trim());
        break;
      case "VOLUME": {
        const vols = { ...(c.Volumes ?? {}) };
        const t = rest.trim();
        let list: string[];
        try {
          list = t.startsWith("[") ? (JSON.parse(t) as string[]) : t.split(/\s+/).filter(Boolean);
        } catch {
          list = t.split(/\s+/).filter(Boolean);
        }
        if (list.length === 0) fail(change, "VOLUME needs a path");
        for (const v of list) vols[v] = {};
        c.Volumes = vols;
        break;
      }
      case "STOPSIGNAL":
        if (!rest.trim()) fail(change, "STOPSIGNAL needs a signal");
        c.StopSignal = rest.trim();
        break;
      case "ONBUILD":
        if (!rest.trim()) fail(change, "ONBUILD needs an instruction");
        c.OnBuild = [...(c.OnBuild ?? []), rest.trim()];
        break;
      case "HEALTHCHECK":
        c.Healthcheck = healthcheck(rest, change);
        break;
    }
  }
  return c;
}
