#!/usr/bin/env node
// The CLI's entry (bin/wharf starts it). `wharf registry …` runs the registry in this process (no daemon); every other command talks to wharfd.
const argv = process.argv.slice(2);
if (argv[0] === "registry") import("../dist/src/registry/main.js").then((m) => m.main(argv.slice(1)));
else import("../dist/src/cli/main.js").then((m) => m.main(argv));
