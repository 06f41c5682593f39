#!/bin/bash
# tern-xenstored vs Xen's C xenstored (run without a hypervisor by
# /work/shared/peers/xenstored/start-reference.sh), measured the same way:
# ops/s with 1, 8, 32 clients (each WRITE + READ of its own key) and the
# daemon's VmRSS after 100k nodes of 32-byte values.
#   bench/xenstored_bench.sh [BUILD_DIR]
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
load="$build/bin/xs_load"
xsd="$build/bin/tern-xenstored"
ref="${XS_REFERENCE:-/work/shared/peers/xenstored/start-reference.sh}"
secs="${XS_BENCH_SECONDS:-3}"
[ -x "$load" ] && [ -x "$xsd" ] || { echo "build first: $load, $xsd"; exit 1; }
tmp="$(mktemp -d /tmp/tern-xs-bench.XXXXXX)"
tpid=""
cleanup() {
  [ -n "$tpid" ] && kill "$tpid" 2>/dev/null && wait "$tpid" 2>/dev/null
  [ -f "$tmp/ref/xenstored.pid" ] && "$ref" --stop "$tmp/ref" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

measure() {  # NAME SOCKET PID
  local name="$1" sock="$2" pid="$3" r
  for c in 1 8 32; do
    r="$("$load" "$sock" ops "$c" "$secs")" || r="error"
    eval "${name}_ops_$c=$r"
  done
  "$load" "$sock" fill 100000 || { eval "${name}_rss=error"; return; }
  eval "${name}_rss=$(rss_kb "$pid")"
}

mkdir -p "$tmp/tern"
XENSTORED_PATH="$tmp/tern/socket" "$xsd" -N &
tpid=$!
for _ in $(seq 100); do [ -S "$tmp/tern/socket" ] && break; sleep 0.05; done
measure tern "$tmp/tern/socket" "$tpid"
kill "$tpid"; wait "$tpid" 2>/dev/null; tpid=""

have_ref=0
if [ -x "$ref" ] && "$ref" "$tmp/ref" >/dev/null 2>&1; then
  # The launcher's pid file names a wrapper; the daemon is its xenstored child.
  rpid="$(cat "$tmp/ref/xenstored.pid")"
  dpid="$(pgrep -P "$rpid" xenstored || echo "$rpid")"
  measure c "$tmp/ref/socket" "$dpid"
  have_ref=1
fi

printf '%-22s %14s %14s %8s\n' "xenstored benchmark" "tern" "C xenstored" "ratio"
for c in 1 8 32; do
  t="$(eval echo \$tern_ops_$c)"
  if [ $have_ref = 1 ]; then x="$(eval echo \$c_ops_$c)"; else x="n/a"; fi
  ratio="$(awk -v a="$t" -v b="$x" 'BEGIN { if (b+0 > 0) printf "%.2fx", a/b; else print "-" }')"
  printf '%-22s %14s %14s %8s\n' "ops/s, $c client(s)" "$t" "$x" "$ratio"
done
x="n/a"; [ $have_ref = 1 ] && x="$c_rss"
printf '%-22s %14s %14s\n' "VmRSS kB, 100k nodes" "$tern_rss" "$x"
