#!/usr/bin/env bash
# Makes the benchmark's Debian root filesystem tar (~175 MB, bookworm minbase)
# with debootstrap from the Debian mirror, once; later runs reuse it.
# Prints the tar's path.
set -euo pipefail
cache=${WHARF_BENCH_CACHE:-/var/cache/wharf-bench}
tarball="$cache/debian.tar"
if [ ! -s "$tarball" ]; then
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
  mkdir -p "$cache"
  rm -rf "$cache/rootfs"
  debootstrap --variant=minbase bookworm "$cache/rootfs" http://deb.debian.org/debian >"$cache/debootstrap.log" 2>&1
  # Downloaded packages and apt caches are not part of an installed system; without them the tree is the usual size of a Debian base.
  rm -f "$cache"/rootfs/var/cache/apt/*.bin "$cache"/rootfs/var/cache/apt/archives/*.deb
  tar --numeric-owner -C "$cache/rootfs" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
fi
echo "$tarball"
