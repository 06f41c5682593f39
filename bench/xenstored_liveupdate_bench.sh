#!/bin/bash
# Client-visible downtime of a xenstored live update: the longest time during
# which no client got any reply, while CONNS clients (bench/xs_lu_load, each
# with a watch and two requests in flight, replies sequence-checked) send
# requests continuously and Xen's xenstore-control live-updates the daemon,
# for NODES nodes in the store. Same state and load for tern-xenstored and
# for Xen's C xenstored 4.17 (run without a hypervisor by
# /work/shared/peers/xenstored/start-reference.sh; it needs -F because its
# own transactions would make it wait).
#   bench/xenstored_liveupdate_bench.sh [BUILD_DIR]
# env: XS_LU_NODES ("1000 10000 100000"), XS_LU_CONNS ("10 100 1000"),
#      XS_LU_REPEAT (3 updates per cell; best, median and worst are shown),
#      XS_LU_DAEMONS ("tern tern-pipe c": tern with --live-update-transfer file / pipe, and C)
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
load="$build/bin/xs_lu_load"
fill="$build/bin/xs_load"
xsd="$build/bin/tern-xenstored"
ref="${XS_REFERENCE:-/work/shared/peers/xenstored/start-reference.sh}"
nodes_list="${XS_LU_NODES:-1000 10000 100000}"
conns_list="${XS_LU_CONNS:-10 100 1000}"
repeat="${XS_LU_REPEAT:-3}"
daemons="${XS_LU_DAEMONS:-tern tern-pipe c}"
. "$root/scripts/xen-env.sh"
. "$root/bench/xenstored_common.bash"
control="$XEN_BIN/xenstore-control"
[ -x "$load" ] && [ -x "$fill" ] && [ -x "$xsd" ] || { echo "build first: $load, $fill, $xsd"; exit 1; }
[ -x "$control" ] || { echo "xenstore_liveupdate: Xen's xenstore-control is not unpacked; skipped"; exit 0; }
tmp="$(mktemp -d /tmp/tern-xs-lu-bench.XXXXXX)"
tpid=""
cleanup() {
  [ -n "$tpid" ] && kill "$tpid" 2>/dev/null && wait "$tpid" 2>/dev/null
  [ -f "$tmp/ref/xenstored.pid" ] && "$ref" --stop "$tmp/ref" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
# More descriptors than the 1000 clients need, on both sides.
ulimit -n 4096 2>/dev/null

field() { sed -n "s/.*\"$1\": \([^,}]*\).*/\1/p" "$2"; }
median() { sort -n | awk '{a[NR] = $1} END {if (NR) print a[int((NR + 1) / 2)]; else print "-"}'; }
maximum() { sort -n | tail -1; }

# run_cell NAME SOCKET RUNDIR CONNS: REPEAT updates under load; appends the
# longest gap that overlapped each update (ms) to $tmp/NAME.NODES.CONNS.
run_cell() {
  local name="$1" sock="$2" dir="$3" conns="$4" r binary opts cmd
  if [ "$name" = c ]; then binary="$XSH_XENSTORED"; opts="-F"; else binary="$xsd"; opts=""; fi
  cmd="XENSTORED_PATH='$sock' XENSTORED_RUNDIR='$dir' LD_LIBRARY_PATH='$XEN_LIBDIR' timeout 120 '$control' live-update $opts '$binary' >>'$tmp/control.log' 2>&1"
  for r in $(seq "$repeat"); do
    "$load" "$sock" "$conns" 300 --run "$cmd" --run-after 1 >"$tmp/load.json" 2>&1
    if [ "$(field run_exit "$tmp/load.json")" != 0 ]; then
      echo "  $name $nodes/$conns: live update failed: $(tail -2 "$tmp/control.log")" >&2
      echo "fail" >>"$tmp/$name.$nodes.$conns"
      continue
    fi
    field update_gap_ms "$tmp/load.json" >>"$tmp/$name.$nodes.$conns"
    local errs; errs="$(field errors "$tmp/load.json")"
    if [ "${errs:-0}" != 0 ]; then
      echo "$errs" >>"$tmp/$name.$nodes.$conns.errors"
      echo "  $name $nodes/$conns: $(field first_error "$tmp/load.json")" >&2
    fi
  done
}

for name in $daemons; do
  for nodes in $nodes_list; do
    if [ "$name" != c ]; then
      mode=file; [ "$name" = tern-pipe ] && mode=pipe
      mkdir -p "$tmp/tern"
      XENSTORED_RUNDIR="$tmp/tern" XENSTORED_PATH="$tmp/tern/socket" "$xsd" -N -V --live-update-transfer "$mode" \
        2>"$tmp/tern/log" &
      tpid=$!
      wait_for_socket "$tmp/tern/socket"
      sock="$tmp/tern/socket"; dir="$tmp/tern"
    else
      [ -x "$ref" ] || { echo "  C xenstored: $ref not found; skipped" >&2; continue 2; }
      . "$(dirname "$ref")/env.sh" >/dev/null 2>&1 || { echo "  C xenstored: reference environment unavailable" >&2; continue 2; }
      "$ref" "$tmp/ref" >/dev/null 2>&1 || { echo "  C xenstored did not start; skipped" >&2; continue 2; }
      sock="$tmp/ref/socket"; dir="$tmp/ref"
    fi
    "$fill" "$sock" fill "$nodes" || echo "  $name: fill $nodes failed" >&2
    for conns in $conns_list; do run_cell "$name" "$sock" "$dir" "$conns"; done
    if [ "$name" != c ]; then
      grep -o 'written in [0-9]* us' "$tmp/tern/log" | awk '{print $3 / 1000}' >"$tmp/$name.$nodes.dump"
      # The daemon's own view: from "stopped serving" to "serving" again.
      awk '/stopped serving at monotonic/ {s = $(NF-1)} /serving at monotonic/ && !/stopped/ && s {print ($(NF-1) - s) / 1000; s = 0}' \
        "$tmp/tern/log" >"$tmp/$name.$nodes.stopped"
      grep -o 'transactions in [0-9]* us' "$tmp/tern/log" | awk '{print $3 / 1000}' >"$tmp/$name.$nodes.restore"
      kill "$tpid"; wait "$tpid" 2>/dev/null; tpid=""; rm -rf "$tmp/tern"
    else
      "$ref" --stop "$tmp/ref" >/dev/null 2>&1; rm -rf "$tmp/ref"
    fi
  done
done

minimum() { sort -n | head -1; }
cell() {  # NAME NODES CONNS -> "best / median / worst" or n/a
  local f="$tmp/$1.$2.$3"
  [ -s "$f" ] || { echo "n/a"; return; }
  if grep -q fail "$f"; then echo "failed"; return; fi
  local e=""; [ -s "$f.errors" ] && e=" ERR"
  printf '%.1f / %.1f / %.1f%s' "$(minimum <"$f")" "$(median <"$f")" "$(maximum <"$f")" "$e"
}
echo "xenstored live update: longest time without any reply while xenstore-control ran, ms,"
echo "best / median / worst of $repeat updates (load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cpus;"
echo "other processes stretch the figures: the best is the closest to the update's own cost)"
printf '%-8s %-6s' nodes conns
for name in $daemons; do
  case $name in tern) h="tern (file)" ;; tern-pipe) h="tern (pipe)" ;; c) h="C xenstored 4.17" ;; esac
  printf ' %22s' "$h"
done
echo
for nodes in $nodes_list; do
  for conns in $conns_list; do
    printf '%-8s %-6s' "$nodes" "$conns"
    for name in $daemons; do printf ' %22s' "$(cell "$name" "$nodes" "$conns")"; done
    echo
  done
done
for name in tern tern-pipe; do
  for nodes in $nodes_list; do
    [ -s "$tmp/$name.$nodes.dump" ] || continue
    echo "$name at $nodes nodes (daemon's log, medians over all updates): not serving for $(median <"$tmp/$name.$nodes.stopped") ms (best $(minimum <"$tmp/$name.$nodes.stopped")), image written in $(median <"$tmp/$name.$nodes.dump") ms, restored in $(median <"$tmp/$name.$nodes.restore") ms"
  done
done
