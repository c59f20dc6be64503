#!/usr/bin/env bash
# Benchmarks wharf against docker on this machine, side by side in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
# `bench/run.sh registry [--runs N]`: the registry against CNCF Distribution (bench/registry.ts).
if [ "${1:-}" = "registry" ]; then shift; exec node dist/bench/registry.js "$@"; fi
tarball=$(bash bench/make-debian.sh)
# `bench/run.sh distribution [--runs N]`: the pull/push benchmark (bench/distribution.ts).
if [ "${1:-}" = distribution ]; then shift; exec node dist/bench/distribution.js --rootfs "$tarball" "$@"; fi
# `bench/run.sh build [--runs N] [--files N]`: the builder benchmark (bench/build.ts).
if [ "${1:-}" = "build" ]; then shift; exec node dist/bench/build.js --rootfs "$tarball" "$@"; fi
exec node dist/bench/images.js --rootfs "$tarball" "$@"
