#!/bin/bash
# Generates a throwaway PKI and kubeconfigs for the single-node test cluster.
# Usage: pki.sh <dir> <apiserver-port> <node-name>   (~5 s, openssl only)
set -euo pipefail
D=$1; PORT=$2; NODE=$3
mkdir -p "$D"; cd "$D"
q() { openssl "$@" 2>/dev/null; }
q req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=openkci-k8s-e2e-ca"
# cert <name> <subject> [extfile]
cert() {
  local n=$1 subj=$2 ext=${3:-}
  q req -newkey rsa:2048 -nodes -keyout "$n.key" -out "$n.csr" -subj "$subj"
  if [ -z "$ext" ]; then
    printf 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n' > client.ext
    ext=client.ext
  fi
  q x509 -req -in "$n.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$n.crt" -days 3650 -extfile "$ext"
  rm -f "$n.csr"
}
cat > apiserver.ext <<EOT
subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.96.0.1
extendedKeyUsage=serverAuth
keyUsage=digitalSignature,keyEncipherment
EOT
cert apiserver "/CN=kube-apiserver" apiserver.ext
cert admin "/O=system:masters/CN=kubernetes-admin"
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
cert controller-manager "/CN=system:kube-controller-manager"
cert scheduler "/CN=system:kube-scheduler"
cert kubelet "/O=system:nodes/CN=system:node:$NODE"
q genrsa -out sa.key 2048
q rsa -in sa.key -pubout -out sa.pub
kc() { # kc <file> <certname>
  cat > "$1" <<EOT
apiVersion: v1
kind: Config
clusters:
- name: k8s-e2e
  cluster:
    server: https://127.0.0.1:$PORT
    certificate-authority: $D/ca.crt
users:
- name: u
  user:
    client-certificate: $D/$2.crt
    client-key: $D/$2.key
contexts:
- name: k8s-e2e
  context: {cluster: k8s-e2e, user: u}
current-context: k8s-e2e
EOT
}
kc admin.kubeconfig admin
kc controller-manager.kubeconfig controller-manager
kc scheduler.kubeconfig scheduler
kc kubelet.kubeconfig kubelet
