#!/usr/bin/env bash
# Runs the quick start of README.md exactly as written, so that it cannot
# rot: the shell code blocks that follow the marker line
#
#   <!-- quickstart-test -->
#
# up to the line <!-- /quickstart-test --> are joined and run in one bash
# (as root, from the repository's root, with `set -euxo pipefail`), and
# the output must contain the line the quick start's group logs
# ("hello from kcictl"). Whatever the quick start left running in the
# background (kcid) is stopped at the end.
#
# Usage: hack/quickstart-test.sh [FILE]   (default README.md)
# Environment:
#   QUICKSTART_PRINT=1   print the extracted script and exit
#   QUICKSTART_TIMEOUT   seconds for the whole run (default 900)
#   QUICKSTART_EXPECT    the line to find in the output (default "hello from kcictl")
#
# It needs a machine where the quick start may run: root, and no other
# kcid using containerd's "openkci" namespace at the same time (run it
# after the test suite, not beside it).
set -euo pipefail
cd "$(dirname "$0")/.."
file="${1:-README.md}"
expect="${QUICKSTART_EXPECT:-hello from kcictl}"

script="$(awk '
  /<!-- quickstart-test -->/ { on = 1; next }
  /<!-- \/quickstart-test -->/ { on = 0 }
  on && /^```(sh|bash|shell)[[:space:]]*$/ { inblock = 1; next }
  inblock && /^```[[:space:]]*$/ { inblock = 0; next }
  inblock { print }
' "$file")"
if [ -z "$script" ]; then
  echo "quickstart-test: no shell block between <!-- quickstart-test --> and <!-- /quickstart-test --> in $file" >&2
  exit 2
fi
if [ "${QUICKSTART_PRINT:-}" = 1 ]; then
  printf '%s\n' "$script"
  exit 0
fi

out="$(mktemp /tmp/quickstart-out.XXXXXX)"
runner="$(mktemp /tmp/quickstart-run.XXXXXX)"
trap 'rm -f "$out" "$runner"' EXIT
# The quick start runs in a shell of its own; at its end every job it left
# in the background (kcid) is stopped and waited for, by process ID.
{
  echo 'set -euxo pipefail'
  echo 'stop_background() { local pids; pids="$(jobs -p)"; [ -z "$pids" ] || { kill $pids 2>/dev/null || true; wait $pids 2>/dev/null || true; }; }'
  echo 'trap stop_background EXIT'
  printf '%s\n' "$script"
} > "$runner"

echo "quickstart-test: running the quick start of $file"
rc=0
timeout --kill-after=30 "${QUICKSTART_TIMEOUT:-900}" bash "$runner" 2>&1 | tee "$out" || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "quickstart-test: FAILED: the quick start exited $rc" >&2
  [ -f /var/log/kcid.log ] && { echo "--- last lines of /var/log/kcid.log" >&2; tail -n 40 /var/log/kcid.log >&2; }
  exit 1
fi
if ! grep -qxF "$expect" "$out"; then
  echo "quickstart-test: FAILED: no line \"$expect\" in the output" >&2
  exit 1
fi
echo "quickstart-test: ok"
