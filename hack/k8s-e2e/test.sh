#!/bin/bash
# Runs the real-cluster tests, start to finish: build (cached), registry +
# images, cluster up, go test, cluster down. Suites (K8S_E2E_SUITES; default
# "kube vk" without arguments, "kube" with them): kube = the Kubernetes
# runtime (./internal/runtime/kube), vk = kci-virtual-kubelet with kcid on
# containerd (TestVirtualKubelet in ./test/e2e).
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
export KCI_K8S_E2E=1 KCI_K8S_KUBECONFIG=$RUN/pki/admin.kubeconfig KCI_K8S_KUBECTL=$K8S_E2E_BIN/kubectl
# Arguments (a -run filter) are for one suite: with them the default is kube
# alone, as before the vk suite existed; without them (CI), both.
if [ $# -eq 0 ]; then default_suites="kube vk"; else default_suites=kube; fi
for suite in ${K8S_E2E_SUITES:-$default_suites}; do
  case $suite in
  kube) go test -count=1 -race -timeout 15m "$@" ./internal/runtime/kube/ ;;
  vk) # kci-virtual-kubelet on this cluster, with a kcid on the system containerd
      # behind it (test/e2e's harness: on a shared machine, hold the lock that
      # keeps other runs of test/e2e away before the cluster's).
      bash hack/start-containerd.sh
      CI=${CI:-true} go test -count=1 -race -timeout 10m -run '^TestVirtualKubelet$' "$@" ./test/e2e/ ;;
  *) echo "K8S_E2E_SUITES: unknown suite $suite (kube, vk)" >&2; exit 2 ;;
  esac
done
