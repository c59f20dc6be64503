#!/usr/bin/env bash
# Builds the native addon and the exec and start-gate helpers (when missing or changed), compiles TypeScript to dist/ and bundles the CLI and the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/Release/wharf_sys.node ] || [ native/wharf_sys.c -nt build/Release/wharf_sys.node ] ||
  [ ! -f build/Release/wharf-exec ] || [ native/wharf_exec.c -nt build/Release/wharf-exec ] ||
  [ ! -f build/Release/wharf-gate ] || [ native/wharf_gate.c -nt build/Release/wharf-gate ] || [ binding.gyp -nt build/Release/wharf_sys.node ] ||
  [ native/procstat.h -nt build/Release/wharf_sys.node ] || [ native/procstat.h -nt build/Release/wharf-exec ] ||
  [ native/netlink.c -nt build/Release/wharf_sys.node ] || [ native/netlink.h -nt build/Release/wharf_sys.node ]; then
  npm rebuild --loglevel=error >/dev/null
fi
rm -rf dist
npx --no-install tsc -p .
# The CLI as one file (bin/wharf.cjs runs it, with V8's code cache beside it).
npx --no-install esbuild dist/src/cli/main.js --bundle --platform=node --format=cjs --target=node20 --outfile=dist/cli.cjs \
  --define:import.meta.url=__wharf_bundle_url --banner:js='const __wharf_bundle_url = require("node:url").pathToFileURL(__filename).href;' --log-level=warning
# The CLI's bundle stays ASCII: one character beyond it (esbuild escapes those in strings, not in
# comments or regular expressions) makes V8 hold all 300 KB as a two-byte string, ~1 ms more at each start.
if LC_ALL=C grep -n -m 3 -P '[^\x00-\x7F]' dist/cli.cjs >&2; then
  echo "build: dist/cli.cjs holds non-ASCII characters (above); write them as escapes in src/" >&2
  exit 1
fi
# The daemon as one ES module (bin/wharfd runs it), and each of its worker scripts as one (dist/bundled/,
# found by internal/sys's workerScript before dist/src): a layer apply's worker starts ~10 ms sooner.
npx --no-install esbuild dist/src/daemon/main.js --bundle --platform=node --format=esm --target=node20 --outfile=dist/wharfd.mjs \
  --banner:js='import { createRequire as __wharf_require } from "node:module"; const require = __wharf_require(import.meta.url);' --log-level=warning
for worker in archive/apply-worker container/copy-worker; do
  npx --no-install esbuild "dist/src/$worker.js" --bundle --platform=node --format=esm --target=node20 --outfile="dist/bundled/$worker.js" \
    --banner:js='import { createRequire as __wharf_require } from "node:module"; const require = __wharf_require(import.meta.url);' --log-level=warning
done
chmod +x bin/wharf bin/wharf.cjs bin/wharfd
