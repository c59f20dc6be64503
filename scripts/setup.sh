#!/usr/bin/env bash
# Installs what wharf needs and is missing: Debian packages, then npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

# command → Debian package
declare -A NEED=(
  [busybox]=busybox-static
  [runc]=runc
  [conmon]=conmon
  [tini-static]=tini
  [ps]=procps
  [skopeo]=skopeo
  [dockerd]=docker.io
  [debootstrap]=debootstrap
  [mkfs.ext4]=e2fsprogs
  [ip]=iproute2
  [make]=make
  [g++]=g++
  [cc]=gcc
  [python3]=python3
  [zstd]=zstd
  [nft]=nftables
  [docker-compose]=docker-compose
  [podman]=podman
  [docker-registry]=docker-registry
  [openssl]=openssl
  [buildah]=buildah
)
missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}")
done
# busybox must be the static one: it is copied into images.
if command -v busybox >/dev/null 2>&1 && ! file -L "$(command -v busybox)" 2>/dev/null | grep -q static; then
  [ -x /bin/busybox ] && ldd /bin/busybox >/dev/null 2>&1 && missing+=(busybox-static)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
