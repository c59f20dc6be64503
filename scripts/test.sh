#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
# Tests that share the machine's kernel state (mounts, dockerd) run one file at a time.
# A file whose tests are done but left a handle open (a server a failed cleanup did not close) must not hold the run.
exec node --test --test-concurrency=1 --test-force-exit --test-reporter=spec dist/src dist/test "$@"
