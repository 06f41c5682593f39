# Shared by the tern-xenstored integration tests: start the daemon in a
# temporary run directory, stop it by PID on exit, run Xen's clients.
# shellcheck shell=bash
set -u
: "${TERN_SOURCE_DIR:?}"
. "$TERN_SOURCE_DIR/scripts/xen-env.sh"
if [ -z "${TERN_XENSTORED:-}" ] || [ ! -x "$TERN_XENSTORED" ]; then
  echo "SKIP: tern-xenstored was not built"; exit 77
fi
if [ ! -x "$XENSTORE_CLIENTS/xenstore-read" ]; then
  echo "SKIP: Xen's xenstore clients are not unpacked (scripts/install-deps)"; exit 77
fi
XS_DIR="$(mktemp -d /tmp/tern-xs-test.XXXXXX)"
export XENSTORED_RUNDIR="$XS_DIR" XENSTORED_PATH="$XS_DIR/socket"
XS_PID=""
xs_stop() {
  if [ -n "$XS_PID" ]; then
    kill "$XS_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$XS_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$XS_PID" 2>/dev/null
    wait "$XS_PID" 2>/dev/null
    XS_PID=""
  fi
}
trap 'xs_stop; rm -rf "$XS_DIR"' EXIT
xs_start() {
  "$TERN_XENSTORED" -N -F "$XS_DIR/pid" "$@" 2>"$XS_DIR/daemon.log" &
  XS_PID=$!
  for _ in $(seq 100); do
    [ -S "$XENSTORED_PATH" ] && return 0
    kill -0 "$XS_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "FAIL: tern-xenstored did not create $XENSTORED_PATH"; cat "$XS_DIR/daemon.log"; exit 1
}
# xs CLIENT ARGS...: one of Xen's xenstore-* clients (or xenstore-control / test-xenstore).
xs() {
  local tool="$1"; shift
  local bin="$XENSTORE_CLIENTS/$tool"
  [ -x "$bin" ] || bin="$XEN_BIN/$tool"
  xen_run timeout 30 "$bin" "$@"
}
FAILS=0
# expect "WHAT" EXPECTED ACTUAL
expect() {
  if [ "$2" == "$3" ]; then echo "ok   $1"; else
    echo "FAIL $1"; echo "  expected: $(printf '%q' "$2")"; echo "  actual:   $(printf '%q' "$3")"; FAILS=$((FAILS + 1)); fi
}
xs_finish() {
  kill -0 "$XS_PID" 2>/dev/null || { echo "FAIL: daemon died"; cat "$XS_DIR/daemon.log"; FAILS=$((FAILS + 1)); }
  if [ "$FAILS" -ne 0 ]; then echo "$FAILS check(s) failed"; exit 1; fi
  echo "all checks passed"; exit 0
}
