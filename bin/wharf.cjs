#!/usr/bin/env node
// The CLI's entry (bin/wharf starts it). `wharf registry …` runs the registry in this process (no daemon); every other command talks to wharfd.
// The CLI runs from one bundled file (dist/cli.cjs, made by the build) with V8's compiled code kept beside it
// (dist/cli.cjs.cache, written on first use and whenever V8 refuses it): no module resolution, no file per module,
// little compiling at start. Without the bundle, the compiled modules run as they are.
// CommonJS, not an ES module: Node's ES module loader costs ~9 ms more to start.
"use strict";
const { readFileSync, renameSync, writeFileSync } = require("node:fs");
const Module = require("node:module");
const { dirname, join } = require("node:path");
const { Script } = require("node:vm");

const argv = process.argv.slice(2);
const root = join(__dirname, "..");

function bundled() {
  const file = join(root, "dist", "cli.cjs");
  let source;
  try {
    source = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  const cacheFile = `${file}.cache`;
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new Script(Module.wrap(source), { filename: file, cachedData });
  if (cachedData === undefined || script.cachedDataRejected) {
    process.once("exit", () => {
      try {
        const tmp = `${cacheFile}.${process.pid}.tmp`;
        writeFileSync(tmp, script.createCachedData());
        renameSync(tmp, cacheFile);
      } catch {
        // A read-only install runs without the cache.
      }
    });
  }
  const module = { exports: {} };
  script.runInThisContext()(module.exports, Module.createRequire(file), module, file, dirname(file));
  return module.exports;
}

if (argv[0] === "registry") import("../dist/src/registry/main.js").then((m) => m.main(argv.slice(1)));
else {
  const cli = bundled();
  if (cli) cli.main(argv);
  else import("../dist/src/cli/main.js").then((m) => m.main(argv));
}
