#!/bin/bash
# Builds the binaries of the single-node test cluster into $K8S_E2E_BIN
# (default /var/cache/openkci-k8s/v1.34.4):
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kubectl
#     from k8s.io/kubernetes in the separate tool module ./tools (never the
#     main module: it must not depend on k8s.io/kubernetes),
#   pause (tools/pause), crane (registry + image builder), and
#   etcd (Debian's etcd-server package, unpacked; no service is installed).
# Skips everything when the stamp (hash of the inputs) matches: cold ~6 min on
# 2 cores, a few seconds when cached. GOCACHE of a cold build is ~3 GB.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
KV=v1.34.4
CRANE=v0.22.1
OUT=${K8S_E2E_BIN:-/var/cache/openkci-k8s/$KV}
T=$HERE/tools
STAMP=$(cat "$T/go.mod" "$T/go.sum" "$HERE/build.sh" "$T/pause/main.go" | sha256sum | cut -c1-16)
if [ "$(cat "$OUT/.stamp" 2>/dev/null)" = "$STAMP" ]; then echo "k8s-e2e binaries up to date in $OUT"; exit 0; fi
mkdir -p "$OUT"
rm -f "$OUT/.stamp"
start=$(date +%s)
export GOWORK=off GOFLAGS=-mod=mod
LD="-s -w"
for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
  LD="$LD -X $p.gitVersion=$KV -X $p.gitMajor=1 -X $p.gitMinor=34 -X $p.gitTreeState=clean -X $p.buildDate=2026-01-01T00:00:00Z"
done
cd "$T"
CGO_ENABLED=0 go build -trimpath -tags selinux,notest -ldflags "$LD" -o "$OUT/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubelet \
  k8s.io/kubernetes/cmd/kubectl
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$OUT/pause" ./pause
# go install pkg@version ignores the current module; crane stays out of every go.mod.
(cd / && GOBIN="$OUT" CGO_ENABLED=0 go install "github.com/google/go-containerregistry/cmd/crane@$CRANE")
if [ ! -x "$OUT/etcd" ]; then
  D=$(mktemp -d)
  (cd "$D" && { apt-get download etcd-server >/dev/null 2>&1 || { apt-get update -qq && apt-get download etcd-server; }; })
  dpkg-deb -x "$D"/etcd-server_*.deb "$D/x" && cp "$D/x/usr/bin/etcd" "$OUT/etcd"
  rm -rf "$D"
fi
echo "$STAMP" > "$OUT/.stamp"
echo "built into $OUT in $(( $(date +%s) - start )) s"
