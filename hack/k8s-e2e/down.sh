#!/bin/bash
# Tears down what images.sh/up.sh started: only the processes whose PIDs they
# recorded. Pods are deleted through the apiserver first so that the kubelet
# runs CNI DEL for each (the bandwidth plugin's ifb devices live in the host
# namespace); then every container left is killed, daemons are stopped,
# mounts, the bridge, cgroups and sysctls restored, and $RUN removed (set
# K8S_E2E_KEEP=1 to keep it, e.g. for its logs/). Safe to run twice.
RUN=${RUN:-/tmp/k8s-e2e}
APIPORT=${APIPORT:-16443}
[ -d "$RUN" ] || { echo "k8s-e2e: nothing to tear down in $RUN"; exit 0; }
P=$RUN/pki
api() { curl -sf -m 5 -A k8s-e2e-down --cacert $P/ca.crt --cert $P/admin.crt --key $P/admin.key "$@"; }
if [ -f "$RUN/pids/kubelet.pid" ] && kill -0 "$(cat "$RUN/pids/kubelet.pid")" 2>/dev/null && api "https://127.0.0.1:$APIPORT/readyz" >/dev/null 2>&1; then
  for ns in $(api "https://127.0.0.1:$APIPORT/api/v1/pods" | grep -o '"namespace":"[^"]*"' | sort -u | cut -d'"' -f4); do
    api -X DELETE "https://127.0.0.1:$APIPORT/api/v1/namespaces/$ns/pods?gracePeriodSeconds=0" >/dev/null 2>&1 || true
  done
  A=$RUN/containerd/containerd.sock
  for i in $(seq 1 60); do   # up to 15 s for the kubelet to stop the sandboxes
    ctr -a "$A" -n k8s.io tasks ls 2>/dev/null | grep -q RUNNING || break; sleep 0.25
  done
fi
stop() { # stop <name>: SIGTERM, wait up to 15 s, then SIGKILL
  local f=$RUN/pids/$1.pid; [ -f "$f" ] || return 0
  local pid; pid=$(cat "$f")
  if kill "$pid" 2>/dev/null; then
    for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null
  fi
  rm -f "$f"
}
stop kubelet; stop kube-scheduler; stop kube-controller-manager
# kill every pod container/sandbox still in our containerd (their shims outlive containerd otherwise)
A=$RUN/containerd/containerd.sock
if [ -S "$A" ] && ctr -a "$A" version >/dev/null 2>&1; then
  for c in $(ctr -a "$A" -n k8s.io tasks ls -q 2>/dev/null); do ctr -a "$A" -n k8s.io tasks kill -s SIGKILL "$c" >/dev/null 2>&1; done
  for c in $(ctr -a "$A" -n k8s.io containers ls -q 2>/dev/null); do
    for i in 1 2 3 4 5 6 7 8; do ctr -a "$A" -n k8s.io tasks delete -f "$c" >/dev/null 2>&1 && break; ctr -a "$A" -n k8s.io tasks ls -q 2>/dev/null | grep -q "^$c$" || break; sleep 0.25; done
    ctr -a "$A" -n k8s.io containers delete "$c" >/dev/null 2>&1
  done
fi
stop containerd; stop kube-apiserver; stop etcd; stop registry
# leftover mounts under $RUN, deepest first (kubelet volumes, overlay rootfs, shm, netns pins)
findmnt -rn -o TARGET | grep "^$RUN/" | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
ip link delete k8se2e0 2>/dev/null
# kubelet's hardcoded /var/log/containers symlinks into our pod-logs dir
find /var/log/containers -maxdepth 1 -lname "$RUN/*" -delete 2>/dev/null
rmdir /var/log/containers 2>/dev/null   # only when empty (kubelet creates it)
rmdir /sys/fs/cgroup/*/k8s.io 2>/dev/null   # only succeeds when empty
# kubelet rewrote these global sysctls; put back what up.sh saved
if [ -f "$RUN/sysctl-orig.txt" ]; then
  while IFS== read -r k v; do sysctl -qw "$k=$v" 2>/dev/null; done < "$RUN/sysctl-orig.txt"
fi
if [ "${K8S_E2E_KEEP:-}" != 1 ]; then
  findmnt -rn -o TARGET | grep -q "^$RUN/" || rm -rf "$RUN"
fi
echo "k8s-e2e cluster down"
