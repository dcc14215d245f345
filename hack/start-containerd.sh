#!/usr/bin/env bash
# Starts the system containerd in the background when no daemon answers on
# its socket. There is no systemd on the CI machines: containerd is run
# directly, detached, with its log in $CONTAINERD_LOG.
#
# Also makes the CNI plugins reachable at /opt/cni/bin: Debian's
# containernetworking-plugins installs them in /usr/lib/cni; when
# /opt/cni/bin does not exist it is made a symlink to /usr/lib/cni.
#
# Environment:
#   CONTAINERD_ADDRESS  socket to check/serve (default /run/containerd/containerd.sock)
#   CONTAINERD_CONFIG   config file (default /etc/containerd/config.toml when present)
#   CONTAINERD_LOG      log file (default /var/log/containerd-ci.log)
#   CONTAINERD_WAIT     seconds to wait for it to answer (default 30)
set -euo pipefail

ADDR="${CONTAINERD_ADDRESS:-/run/containerd/containerd.sock}"
LOG="${CONTAINERD_LOG:-/var/log/containerd-ci.log}"
WAIT="${CONTAINERD_WAIT:-30}"
CONFIG="${CONTAINERD_CONFIG:-}"
if [ -z "$CONFIG" ] && [ -f /etc/containerd/config.toml ]; then
  CONFIG=/etc/containerd/config.toml
fi

log() { echo "start-containerd: $*"; }

# CNI plugins.
if [ -x /opt/cni/bin/bridge ]; then
  log "CNI plugins at /opt/cni/bin"
elif [ -x /usr/lib/cni/bridge ]; then
  if [ ! -e /opt/cni/bin ]; then
    mkdir -p /opt/cni
    ln -s /usr/lib/cni /opt/cni/bin
    log "CNI plugins in /usr/lib/cni (Debian); linked /opt/cni/bin -> /usr/lib/cni"
  else
    log "CNI plugins in /usr/lib/cni (Debian); /opt/cni/bin exists without bridge, left alone"
  fi
else
  log "WARNING: no CNI plugins in /opt/cni/bin nor /usr/lib/cni (install containernetworking-plugins)"
fi

for bin in containerd ctr runc; do
  if ! command -v "$bin" >/dev/null 2>&1; then
    echo "start-containerd: $bin not found; run .ci/install-deps.sh" >&2
    exit 1
  fi
done

# ctr retries for a while on a missing socket: look for the socket first.
answers() { [ -S "$ADDR" ] && timeout 5 ctr --address "$ADDR" version >/dev/null 2>&1; }

if answers; then
  log "containerd already answers on $ADDR"
  ctr --address "$ADDR" version | sed 's/^/  /'
  exit 0
fi

# A stale socket from a dead daemon would make containerd fail to listen.
if [ -S "$ADDR" ]; then
  log "removing stale socket $ADDR"
  rm -f "$ADDR"
fi
mkdir -p "$(dirname "$ADDR")" "$(dirname "$LOG")"

args=(--address "$ADDR")
if [ -n "$CONFIG" ]; then
  args+=(--config "$CONFIG")
fi
log "starting: containerd ${args[*]} (log $LOG)"
echo "=== $(date -u +%FT%TZ) start-containerd.sh: containerd ${args[*]}" >>"$LOG"
# setsid + nohup: detached from this shell's session so that it outlives it.
setsid nohup containerd "${args[@]}" >>"$LOG" 2>&1 </dev/null &
pid=$!
log "containerd pid $pid"

deadline=$((SECONDS + WAIT))
until answers; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "start-containerd: containerd (pid $pid) exited; last lines of $LOG:" >&2
    tail -n 40 "$LOG" >&2
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "start-containerd: containerd did not answer on $ADDR within ${WAIT}s; last lines of $LOG:" >&2
    tail -n 40 "$LOG" >&2
    exit 1
  fi
  sleep 0.2
done
log "containerd answers on $ADDR"
ctr --address "$ADDR" version | sed 's/^/  /'
