#!/usr/bin/env bash
# npm start: install what is missing, build, start wharfd with its defaults
# (unless one is already serving), make the busybox base image, and run the
# main job: show what the engine holds and run a container.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh

sock=/run/wharf/wharf.sock
wharf() { ./bin/wharf -H "unix://$sock" "$@"; }

if ! wharf version >/dev/null 2>&1; then
  mkdir -p /var/log
  echo "start: starting wharfd (log: /var/log/wharfd.log)"
  nohup ./bin/wharfd >>/var/log/wharfd.log 2>&1 &
  for _ in $(seq 1 100); do
    wharf version >/dev/null 2>&1 && break
    sleep 0.1
  done
  wharf version >/dev/null || { echo "start: wharfd did not come up; see /var/log/wharfd.log" >&2; exit 1; }
fi

if ! wharf image inspect busybox:latest >/dev/null 2>&1; then
  echo "start: making the busybox base image from busybox-static"
  bash scripts/busybox-rootfs.sh | wharf import --change 'CMD ["sh"]' --message "busybox from the host's busybox-static" - busybox:latest
fi

echo
wharf version
echo
wharf images
echo
wharf history busybox
echo
wharf run --rm busybox sh -c 'echo "hello from container $(hostname): $(uname -sr), $(ls /bin | wc -l) busybox applets"'
echo
echo "wharfd is running (pid $(cat /run/wharf/wharfd.pid 2>/dev/null || echo '?')); talk to it with ./bin/wharf or DOCKER_HOST=unix://$sock docker"
