#!/bin/bash
# Runs the Kubernetes runtime's real-cluster tests, start to finish:
# build (cached), registry + images, cluster up, go test, cluster down.
# What .ci/run calls. Extra arguments go to `go test` (e.g. -run Scenarios).
#   cold: ~12 min (build ~6-12 min, test compile ~1.5 min); cached: ~1.5 min.
# Env: RUN, K8S_E2E_BIN, REG, APIPORT, ... (see up.sh); KCI_K8S_BENCH=N also
# runs the create→Running benchmark with N rounds.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
KV=v1.34.4
export RUN=${RUN:-/tmp/k8s-e2e}
export K8S_E2E_BIN=${K8S_E2E_BIN:-/var/cache/openkci-k8s/$KV}
REG=${REG:-127.0.0.1:5055}
"$HERE/build.sh"
trap 'rc=$?; if [ $rc != 0 ] && [ -d "$RUN/logs" ]; then for f in "$RUN"/logs/*.log; do echo "== $f"; tail -n 30 "$f"; done; fi; "$HERE/down.sh"' EXIT
"$HERE/images.sh"
"$HERE/up.sh"
cd "$ROOT"
KCI_K8S_E2E=1 KCI_K8S_KUBECONFIG=$RUN/pki/admin.kubeconfig KCI_K8S_KUBECTL=$K8S_E2E_BIN/kubectl \
  go test -count=1 -race -timeout 15m "$@" ./internal/runtime/kube/
