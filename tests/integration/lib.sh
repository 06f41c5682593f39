# Helpers for tests/integration/test_*.sh (source this file).
#   skip "why"         prints SKIP and exits 77 (ctest reports the test skipped)
#   fail "why"         prints FAIL and exits 1
#   tmpdir             a fresh directory, removed when the test exits
#   need_tern          skips unless $TERN is executable
#   need_xen_verify    skips unless Xen's verify-stream-v2 can run
#   expect_rc N cmd... runs cmd, fails unless it exits with N; its stderr is in $LAST_ERR
#   wait_for SECONDS cmd... retries cmd every 50 ms until it succeeds (1 if it never does)
set -euo pipefail

TERN_SOURCE_DIR="${TERN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
# shellcheck source=../../scripts/xen-env.sh
source "$TERN_SOURCE_DIR/scripts/xen-env.sh"

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "--- $*"; }

_TERN_TMPDIRS=()
_tern_cleanup() { local d; for d in "${_TERN_TMPDIRS[@]}"; do rm -rf "$d"; done; }
trap _tern_cleanup EXIT
tmpdir() { local d; d="$(mktemp -d "${TMPDIR:-/tmp}/tern-test.XXXXXX")"; _TERN_TMPDIRS+=("$d"); echo "$d"; }

need_tern() { [ -n "${TERN:-}" ] && [ -x "$TERN" ] || skip "tern binary not built (\$TERN unset)"; }
need_xen_verify() {
  [ -f "$XEN_BIN/verify-stream-v2" ] || skip "Xen's verify-stream-v2 is not unpacked at $XEN_BIN (run scripts/fetch-xen-tools)"
  command -v python3 >/dev/null || skip "python3 is missing"
}

LAST_ERR=""
expect_rc() {
  local want="$1"; shift
  local errf rc=0
  errf="$(mktemp)"
  "$@" >/dev/null 2>"$errf" || rc=$?
  LAST_ERR="$(cat "$errf")"; rm -f "$errf"
  [ "$rc" -eq "$want" ] || fail "expected exit $want, got $rc from: $* ${LAST_ERR:+(stderr: $LAST_ERR)}"
}

wait_for() {
  local t=$(( $1 * 20 )); shift
  until "$@" 2>/dev/null; do
    t=$((t-1)); [ "$t" -gt 0 ] || return 1; sleep 0.05
  done
}
