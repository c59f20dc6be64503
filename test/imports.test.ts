// The module layering of ARCHITECTURE.md, checked over the real import graph:
// lower modules never import higher ones.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const src = join(root, "src");

const BASE = ["oci", "internal"];
const STORAGE = [...BASE, "content", "archive", "snapshot"];
const ENGINE = [...STORAGE, "image", "runtime", "container", "volume", "network", "distribution", "build"];

/** Which modules each module may import (besides itself). */
const ALLOWED: Record<string, readonly string[]> = {
  oci: [],
  internal: ["oci"],
  content: BASE,
  archive: BASE,
  snapshot: ["internal"],
  image: STORAGE,
  runtime: [...STORAGE, "image"],
  container: [...STORAGE, "image", "runtime", "volume", "network"],
  volume: [...STORAGE, "image", "runtime"],
  network: [...STORAGE, "image", "runtime"],
  distribution: ["oci", "content", "internal"],
  registry: ["oci", "content", "internal"],
  build: [...STORAGE, "image", "runtime", "container", "volume", "network", "distribution"],
  api: [...ENGINE],
  daemon: [...ENGINE, "api", "registry"],
  cli: ["oci", "api"],
};

async function* tsFiles(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) yield* tsFiles(p);
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) yield p;
  }
}

const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

function moduleOf(file: string): string {
  return relative(src, file).split(sep)[0]!;
}

test("no module imports a module above it", async () => {
  const violations: string[] = [];
  let files = 0;
  for await (const file of tsFiles(src)) {
    files++;
    const from = moduleOf(file);
    const allowed = ALLOWED[from];
    assert.ok(allowed, `src/${from} is not in the layering table`);
    const text = await readFile(file, "utf8");
    for (const m of text.matchAll(IMPORT_RE)) {
      const spec = m[1] ?? m[2]!;
      if (!spec.startsWith(".")) continue;
      const target = resolve(dirname(file), spec);
      if (!target.startsWith(src + sep)) continue;
      const to = moduleOf(target);
      if (to === from) continue;
      // api/client.ts is the CLI's side of the API; the CLI importing it is the point.
      const isClientImport = from === "cli" && to === "api";
      if (!allowed.includes(to) && !isClientImport) violations.push(`${relative(root, file)} imports src/${to}`);
      if (from === "cli" && to === "api" && !/api\/(client|wire)\.js$/.test(spec)) violations.push(`${relative(root, file)} imports ${spec}: the CLI talks to the daemon only through api/client`);
    }
  }
  assert.ok(files > 10, "the source tree was found");
  assert.deepEqual(violations, []);
});
