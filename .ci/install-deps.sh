#!/usr/bin/env bash
# Installs the Debian packages that OpenKCI's real-parts tests need
# (containerd, runc, CNI plugins, a local registry, busybox for the test
# image, filesystem tools). Idempotent and non-interactive: packages that
# are already installed are detected with dpkg-query and apt is not run at all
# when nothing is missing.
set -euo pipefail

PKGS=(
  containerd
  runc
  containernetworking-plugins
  docker-registry
  busybox-static
  apache2-utils
  e2fsprogs
  xfsprogs
  iproute2
  iptables
  util-linux
  mount
  procps
  curl
  ca-certificates
  openssl
  chromium   # the web console's browser tests (test/console, headless)
)

missing=()
for p in "${PKGS[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    continue
  fi
  missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages already installed: ${PKGS[*]}"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages ${missing[*]} and not root; cannot install" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps: missing: ${missing[*]}"
echo "install-deps: apt-get update"
apt-get update -q
echo "install-deps: apt-get install -y --no-install-recommends ${missing[*]}"
# docker-registry's postinst wants to start a service; with no init system
# policy-rc.d keeps it from doing so (harmless when an init system exists).
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  created_policy=1
fi
rc=0
apt-get install -y -q --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  "${missing[@]}" || rc=$?
if [ "$created_policy" -eq 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
if [ "$rc" -ne 0 ]; then
  echo "install-deps: apt-get install failed (exit $rc)" >&2
  exit "$rc"
fi
echo "install-deps: done"
