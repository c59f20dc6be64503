#!/usr/bin/env bash
# Benchmarks wharf against docker on this machine, side by side in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
tarball=$(bash bench/make-debian.sh)
# `bench/run.sh build [--runs N] [--files N]`: the builder benchmark (bench/build.ts).
if [ "${1:-}" = "build" ]; then shift; exec node dist/bench/build.js --rootfs "$tarball" "$@"; fi
exec node dist/bench/images.js --rootfs "$tarball" "$@"
