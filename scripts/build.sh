#!/usr/bin/env bash
# Builds the native addon and the exec helper (when missing or changed) and compiles TypeScript to dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/Release/wharf_sys.node ] || [ native/wharf_sys.c -nt build/Release/wharf_sys.node ] ||
  [ ! -f build/Release/wharf-exec ] || [ native/wharf_exec.c -nt build/Release/wharf-exec ] || [ binding.gyp -nt build/Release/wharf_sys.node ]; then
  npm rebuild --loglevel=error >/dev/null
fi
rm -rf dist
npx --no-install tsc -p .
chmod +x bin/wharf bin/wharf.js bin/wharfd
