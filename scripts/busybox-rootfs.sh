#!/usr/bin/env bash
# Writes a busybox root filesystem tar to stdout, made from Debian's
# busybox-static: /bin/busybox plus a hard link per applet, a minimal /etc.
# Usage: scripts/busybox-rootfs.sh > rootfs.tar
set -euo pipefail
bb=$(command -v busybox || true)
if [ -z "$bb" ] || ! "$bb" --list >/dev/null 2>&1; then
  echo "busybox-rootfs: busybox is not installed (apt-get install busybox-static)" >&2
  exit 1
fi
if ldd "$bb" >/dev/null 2>&1; then
  echo "busybox-rootfs: $bb is dynamically linked; the image needs busybox-static" >&2
  exit 1
fi
dir=$(mktemp -d)
chmod 755 "$dir"
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"/{bin,dev,etc,home,proc,root,sys,tmp,usr/bin,usr/sbin,sbin,var/spool/mail,var/www}
chmod 1777 "$dir/tmp"
chmod 700 "$dir/root"
install -m 0755 "$bb" "$dir/bin/busybox"
for applet in $("$bb" --list); do
  [ "$applet" = busybox ] && continue
  ln "$dir/bin/busybox" "$dir/bin/$applet"
done
cat > "$dir/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
P
cat > "$dir/etc/group" <<'G'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:root
mail:x:12:
www-data:x:33:
operator:x:37:
users:x:100:
nogroup:x:65534:
G
echo 'root:*:19000:0:99999:7:::' > "$dir/etc/shadow"
chmod 640 "$dir/etc/shadow"
# Fixed times and owners: the same busybox gives the same layer digest.
find "$dir" -exec touch -h -d @0 {} +
tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$dir" -cf - .
