#!/usr/bin/env bash
# Writes the root filesystem of wharf's registry image to stdout: this host's
# node with the libraries it links, and wharf's built code, so that
#   scripts/registry-image.sh | wharf import -c 'CMD [...]' - wharf/registry
# makes an image that runs `wharf registry serve` in a container.
# Usage: scripts/registry-image.sh > rootfs.tar   (after `npm run build`)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/src/registry/main.js ] || { echo "registry-image: build first (npm run build)" >&2; exit 1; }
node_bin=$(readlink -f "$(command -v node)")
dir=$(mktemp -d)
chmod 755 "$dir"
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"/{etc,tmp,app,usr/local/bin,var/lib/registry}
chmod 1777 "$dir/tmp"
install -m 0755 "$node_bin" "$dir/usr/local/bin/node"
# The shared libraries node needs, at the paths the loader looks for them.
for lib in $(ldd "$node_bin" | awk '/=> \//{print $3} /^[[:space:]]*\/lib/{print $1}'); do
  mkdir -p "$dir$(dirname "$lib")"
  cp -L "$lib" "$dir$lib"
done
cp package.json "$dir/app/"
mkdir -p "$dir/app/bin" "$dir/app/build/Release" "$dir/app/node_modules"
cp bin/wharf.cjs "$dir/app/bin/"
cp -r dist "$dir/app/dist"
rm -rf "$dir/app/dist/test" "$dir/app/dist/bench"
cp build/Release/wharf_sys.node "$dir/app/build/Release/"
cp -r node_modules/bcryptjs "$dir/app/node_modules/"
printf 'root:x:0:0:root:/root:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$dir/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$dir/etc/group"
find "$dir" -exec touch -h -d @0 {} +
tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$dir" -cf - .
