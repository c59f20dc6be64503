// Helpers for end-to-end suites that drive wharfd with the real docker CLI:
// run a command and collect its output and code, call the API directly,
// import the busybox base image, and kill what the runtime still runs under
// a test's root (containers are not children of wharfd, by design).
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { request } from "node:http";
import { join } from "node:path";
import { hasCommand, killContainers, projectRoot, type Daemon } from "./daemons.js";

export { killContainers };

export const haveTools = hasCommand("docker") && hasCommand("runc") && hasCommand("conmon") && process.getuid?.() === 0;

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function docker(d: Daemon, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile("docker", args, { env: d.env, maxBuffer: 1 << 24, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

export async function ok(d: Daemon, args: string[], input?: string): Promise<string> {
  const r = await docker(d, args, input);
  assert.equal(r.code, 0, `docker ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}


export function api(d: Daemon, method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ socketPath: d.socket, method, path, headers: data ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data) } : {} }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
    req.end(data);
  });
}

/** Imports the busybox base image (from the host's busybox-static) into the daemon as busybox:latest. */
export function importBusybox(d: Daemon): void {
  const tar = execFileSync("bash", [join(projectRoot, "scripts", "busybox-rootfs.sh")], { maxBuffer: 1 << 26 });
  const imported = execFileSync("docker", ["import", "-c", 'CMD ["sh"]', "-", "busybox:latest"], { input: tar, env: d.env, encoding: "utf8" });
  assert.match(imported, /^sha256:/);
}
