#!/bin/bash
# Start a single-node Kubernetes cluster (etcd, private containerd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubelet) with all state under $RUN.
# Needs: build.sh and images.sh done; Debian containerd, runc, containernetworking-plugins.
# Prints nothing but errors and a final line; KUBECONFIG is $RUN/pki/admin.kubeconfig
# (also linked as $RUN/kubeconfig). ~10-12 s. Tear down with down.sh.
# Env: K8S_E2E_BIN, RUN (/tmp/k8s-e2e), REG (127.0.0.1:5055), APIPORT (16443),
#      ETCDPORT (2479, +1 for peers), KUBELETPORT (10250; healthz = port-2),
#      KUBELET_CRASH_BACKOFF_MAX (2s: restart back-off cap, for fast tests).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
KV=v1.34.4
B=${K8S_E2E_BIN:-/var/cache/openkci-k8s/$KV}
RUN=${RUN:-/tmp/k8s-e2e}
REG=${REG:-127.0.0.1:5055}
APIPORT=${APIPORT:-16443}
ETCDPORT=${ETCDPORT:-2479}
KUBELETPORT=${KUBELETPORT:-10250}
[ "$(id -u)" = 0 ] || { echo "up.sh must run as root" >&2; exit 1; }
for b in kube-apiserver kube-controller-manager kube-scheduler kubelet etcd; do
  [ -x "$B/$b" ] || { echo "missing $B/$b: run hack/k8s-e2e/build.sh first" >&2; exit 1; }
done
T0=$(date +%s%N)
NODE=localhost   # node name
# The node's InternalIP, which the apiserver dials for logs, exec and
# nodes/proxy: the host's source address towards the outside, because the
# apiserver's node proxy refuses loopback addresses ("address not allowed",
# so the kubelet's stats summary could not be read). The kubelet listens
# there only, with client certificates required (anonymous off, webhook
# authorization). No such address: loopback, and nodes/proxy is refused.
NODEIP=${NODEIP:-$(ip -4 -o route get 192.0.2.255 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')}
NODEIP=${NODEIP:-127.0.0.1}
P=$RUN/pki
mkdir -p "$RUN"/{logs,pids,containerd,cni/net.d,kubelet,etcd-data}
cd "$RUN"
start() { # start <name> <cmd...>
  local n=$1; shift
  nohup "$@" > "$RUN/logs/$n.log" 2>&1 &
  echo $! > "$RUN/pids/$n.pid"
}
waitfor() { # waitfor <desc> <timeout-s> <cmd...>
  local d=$1 t=$2; shift 2
  for i in $(seq 1 $((t*10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timeout waiting for $d; see $RUN/logs" >&2; tail -n 20 "$RUN"/logs/*.log >&2 || true; return 1
}
api() { curl -sf -A k8s-e2e-up --cacert $P/ca.crt --cert $P/admin.crt --key $P/admin.key "https://127.0.0.1:$APIPORT$1"; }
[ -f "$P/ca.crt" ] || "$HERE/pki.sh" "$P" "$APIPORT" "$NODE"

# --- etcd (Debian etcd-server 3.4 binary) ---
start etcd "$B/etcd" --name e2e --data-dir "$RUN/etcd-data" \
  --listen-client-urls http://127.0.0.1:$ETCDPORT --advertise-client-urls http://127.0.0.1:$ETCDPORT \
  --listen-peer-urls http://127.0.0.1:$((ETCDPORT+1)) --initial-advertise-peer-urls http://127.0.0.1:$((ETCDPORT+1)) \
  --initial-cluster e2e=http://127.0.0.1:$((ETCDPORT+1)) --unsafe-no-fsync
waitfor etcd 30 curl -sf http://127.0.0.1:$ETCDPORT/health

# --- containerd: a private instance, never the system one ---
cat > containerd/config.toml <<EOT
version = 2
root = "$RUN/containerd/root"
state = "$RUN/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$RUN/containerd/containerd.sock"
[ttrpc]
  address = "$RUN/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$RUN/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$REG/pause:3.10"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # The sandbox has no CAP_SYS_RESOURCE: a negative oom_score_adj (-998 for the pause
  # container) is EPERM and runc dies with "can't get final child's PID from pipe". Clamp it.
  restrict_oom_score_adj = true
  # keep netns pins under our state dir instead of /var/run/netns
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$RUN/containerd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$RUN/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$REG"]
    endpoint = ["http://$REG"]
EOT
# The pods' range must overlap no route of this host: the kubelet's HTTP
# and TCP probes reach pods over it, and kcid's default networks (a
# containerd kcid, the README quick start) take /20s from 10.88.0.0 up.
POD_CIDR=${POD_CIDR:-10.244.0.0/16}
if ip -4 route show | grep -v " dev k8se2e0 " | awk '{print $1}' | grep -q "^${POD_CIDR%%.0.0/16}\."; then
  echo "up.sh: a route of this host overlaps the pod range $POD_CIDR (ip route); set POD_CIDR to a free /16" >&2
  exit 1
fi
cat > cni/net.d/10-e2e.conflist <<EOT
{
  "cniVersion": "0.4.0",
  "name": "k8s-e2e",
  "plugins": [
    {"type": "bridge", "bridge": "k8se2e0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}],
              "dataDir": "$RUN/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "bandwidth", "capabilities": {"bandwidth": true}},
    {"type": "loopback"}
  ]
}
EOT
start containerd containerd --config "$RUN/containerd/config.toml"
waitfor containerd 30 ctr -a "$RUN/containerd/containerd.sock" version

# --- kube-apiserver ---
start kube-apiserver "$B/kube-apiserver" \
  --etcd-servers=http://127.0.0.1:$ETCDPORT \
  --bind-address=127.0.0.1 --secure-port=$APIPORT --advertise-address=127.0.0.1 \
  --endpoint-reconciler-type=none \
  --service-cluster-ip-range=10.96.0.0/16 \
  --client-ca-file=$P/ca.crt \
  --tls-cert-file=$P/apiserver.crt --tls-private-key-file=$P/apiserver.key \
  --kubelet-client-certificate=$P/apiserver-kubelet-client.crt --kubelet-client-key=$P/apiserver-kubelet-client.key \
  --kubelet-preferred-address-types=InternalIP,Hostname \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file=$P/sa.pub --service-account-signing-key-file=$P/sa.key \
  --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
  --allow-privileged=true --profiling=false
waitfor kube-apiserver 120 api /readyz

# --- kube-controller-manager / kube-scheduler ---
start kube-controller-manager "$B/kube-controller-manager" \
  --kubeconfig=$P/controller-manager.kubeconfig \
  --authentication-kubeconfig=$P/controller-manager.kubeconfig --authorization-kubeconfig=$P/controller-manager.kubeconfig \
  --bind-address=127.0.0.1 --secure-port=0 --leader-elect=false \
  --service-account-private-key-file=$P/sa.key --root-ca-file=$P/ca.crt \
  --use-service-account-credentials=true \
  --cluster-signing-cert-file=$P/ca.crt --cluster-signing-key-file=$P/ca.key
start kube-scheduler "$B/kube-scheduler" \
  --kubeconfig=$P/scheduler.kubeconfig \
  --authentication-kubeconfig=$P/scheduler.kubeconfig --authorization-kubeconfig=$P/scheduler.kubeconfig \
  --bind-address=127.0.0.1 --secure-port=0 --leader-elect=false

# --- kubelet ---
# kubelet (protectKernelDefaults=false) rewrites these global sysctls at start; down.sh restores them
[ -f sysctl-orig.txt ] || for k in kernel.panic kernel.panic_on_oops vm.overcommit_memory vm.panic_on_oom kernel.keys.root_maxkeys kernel.keys.root_maxbytes; do echo "$k=$(sysctl -n $k)"; done > sysctl-orig.txt
cat > kubelet/config.yaml <<EOT
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODEIP
port: $KUBELETPORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $((KUBELETPORT-2))
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $P/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
oomScoreAdj: 0
containerRuntimeEndpoint: unix://$RUN/containerd/containerd.sock
imageServiceEndpoint: unix://$RUN/containerd/containerd.sock
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
podLogsDir: $RUN/pod-logs   # default /var/log/pods; /var/log/containers (symlinks) stays hardcoded
rotateCertificates: false
serializeImagePulls: false
evictionHard: {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# Tests of restart back-off should not wait kubelet's 10 s, 20 s, 40 s ... 5 min:
# cap the crash back-off (alpha gate in v1.34; KUBELET_CRASH_BACKOFF_MAX, default
# 2s). The pod worker still retries a backed-off pod only every ~8-10 s.
# KubeletEnsureSecretPulledImages (alpha in v1.33/v1.34): an IfNotPresent image
# that kubelet pulled with credentials starts only for a pod with the same
# credentials (else kubelet pulls again, and the registry decides); images
# loaded before kubelet (images.sh) and anonymous pulls stay usable by all.
# The node-level defence for image caches of other accounts (docs/kubernetes.md).
featureGates: {KubeletCrashLoopBackOffMax: true, KubeletEnsureSecretPulledImages: true}
imagePullCredentialsVerificationPolicy: NeverVerifyPreloadedImages
crashLoopBackOff: {maxContainerRestartPeriod: ${KUBELET_CRASH_BACKOFF_MAX:-2s}}
EOT
start kubelet "$B/kubelet" --config=$RUN/kubelet/config.yaml --kubeconfig=$P/kubelet.kubeconfig \
  --hostname-override=$NODE --node-ip=$NODEIP --root-dir=$RUN/kubelet/root --cert-dir=$RUN/kubelet/pki --v=2
waitfor node-ready 120 sh -c "curl -sf -A k8s-e2e-up --cacert $P/ca.crt --cert $P/admin.crt --key $P/admin.key https://127.0.0.1:$APIPORT/api/v1/nodes/$NODE | grep -q '\"type\":\"Ready\",\"status\":\"True\"'"
# The node's pod range, as clusters that allocate node ranges show it: kcid
# keeps the pod ranges out of security groups' ipBlocks, so that pods are
# matched by VPC (docs/networking.md). Set once: the field cannot change.
api /api/v1/nodes/$NODE | grep -q '"podCIDRs"' || \
  curl -sf -A k8s-e2e-up --cacert $P/ca.crt --cert $P/admin.crt --key $P/admin.key -X PATCH \
    -H 'Content-Type: application/strategic-merge-patch+json' \
    --data "{\"spec\":{\"podCIDR\":\"$POD_CIDR\",\"podCIDRs\":[\"$POD_CIDR\"]}}" \
    "https://127.0.0.1:$APIPORT/api/v1/nodes/$NODE" > /dev/null
# the node lifecycle controller removes the node.kubernetes.io/not-ready taint shortly after Ready
waitfor node-untainted 60 sh -c "curl -sf -A k8s-e2e-up --cacert $P/ca.crt --cert $P/admin.crt --key $P/admin.key https://127.0.0.1:$APIPORT/api/v1/nodes/$NODE | grep -vq '\"taints\"'"
waitfor default-serviceaccount 60 api /api/v1/namespaces/default/serviceaccounts/default
ln -sf "$P/admin.kubeconfig" "$RUN/kubeconfig"
echo "k8s-e2e cluster up in $(( ($(date +%s%N) - T0) / 1000000 )) ms: KUBECONFIG=$P/admin.kubeconfig"
