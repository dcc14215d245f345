#!/bin/bash
# Starts a plain-HTTP registry (crane) on $REG and pushes the sandbox image
# $REG/pause:3.10 and a busybox image $REG/busybox:1.35 (Debian's static
# busybox as a rootfs) to it. Under a second once build.sh ran.
# Env: K8S_E2E_BIN, RUN (/tmp/k8s-e2e), REG (127.0.0.1:5055)
set -euo pipefail
KV=v1.34.4
B=${K8S_E2E_BIN:-/var/cache/openkci-k8s/$KV}
RUN=${RUN:-/tmp/k8s-e2e}
REG=${REG:-127.0.0.1:5055}
mkdir -p "$RUN"/{logs,pids,registry,images}
if ! [ -f "$RUN/pids/registry.pid" ] || ! kill -0 "$(cat "$RUN/pids/registry.pid")" 2>/dev/null; then
  nohup "$B/crane" registry serve --address "$REG" --disk "$RUN/registry" > "$RUN/logs/registry.log" 2>&1 &
  echo $! > "$RUN/pids/registry.pid"
  for i in $(seq 1 40); do curl -sf "http://$REG/v2/" >/dev/null && break; sleep 0.25; done
  curl -sf "http://$REG/v2/" >/dev/null || { echo "registry on $REG did not start; see $RUN/logs/registry.log" >&2; exit 1; }
fi
T=$RUN/images; rm -rf "$T/pause" "$T/bb"; mkdir -p "$T/pause" "$T/bb/bin" "$T/bb/etc" "$T/bb/tmp"
cp "$B/pause" "$T/pause/pause"
tar -C "$T/pause" -cf "$T/pause.tar" .
cp /bin/busybox "$T/bb/bin/busybox"   # Debian busybox-static
for a in sh echo sleep cat ls date env hostname wget nc true false ps ip id printf test stat grep head tail seq kill; do ln -sf busybox "$T/bb/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$T/bb/etc/passwd"; echo 'root:x:0:' > "$T/bb/etc/group"; chmod 1777 "$T/bb/tmp"
tar -C "$T/bb" -cf "$T/busybox.tar" .
C="$B/crane"
$C append --oci-empty-base --platform linux/amd64 -f "$T/pause.tar" -t "$REG/pause:3.10" >/dev/null 2>&1
$C mutate "$REG/pause:3.10" --entrypoint /pause --set-platform linux/amd64 -t "$REG/pause:3.10" >/dev/null 2>&1
$C append --oci-empty-base --platform linux/amd64 -f "$T/busybox.tar" -t "$REG/busybox:1.35" >/dev/null 2>&1
$C mutate "$REG/busybox:1.35" --cmd /bin/sh --env PATH=/bin --set-platform linux/amd64 -t "$REG/busybox:1.35" >/dev/null 2>&1
echo "images: $REG/pause:3.10 $REG/busybox:1.35"
