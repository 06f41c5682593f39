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
#      XS_LU_REPEAT (3 updates per cell; the median and the worst are shown),
#      XS_LU_DAEMONS ("tern c")
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
daemons="${XS_LU_DAEMONS:-tern c}"
. "$root/scripts/xen-env.sh"
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

# run_cell NAME SOCKET RUNDIR CONNS: REPEAT updates under load; appends gaps
# (ms) to $tmp/NAME.NODES.CONNS and notes errors.
run_cell() {
  local name="$1" sock="$2" dir="$3" conns="$4" r out lpid rc binary opts
  for r in $(seq "$repeat"); do
    rm -f "$tmp/stop"
    "$load" "$sock" "$conns" 600 --stop-file "$tmp/stop" >"$tmp/load.json" 2>&1 &
    lpid=$!
    sleep 1
    if [ "$name" = tern ]; then binary="$xsd"; opts=(); else binary="$XSH_XENSTORED"; opts=(-F); fi
    out="$(XENSTORED_PATH="$sock" XENSTORED_RUNDIR="$dir" xen_run timeout 120 "$control" live-update "${opts[@]}" "$binary" 2>&1)"
    rc=$?
    sleep 0.5
    touch "$tmp/stop"
    wait "$lpid"
    if [ $rc != 0 ]; then
      echo "  $name: live update failed: $out" >&2
      echo "fail" >>"$tmp/$name.$nodes.$conns"
      continue
    fi
    field max_gap_ms "$tmp/load.json" >>"$tmp/$name.$nodes.$conns"
    local errs; errs="$(field errors "$tmp/load.json")"
    [ "${errs:-0}" != 0 ] && echo "$errs" >>"$tmp/$name.$nodes.$conns.errors" \
      && echo "  $name $nodes/$conns: $(field first_error "$tmp/load.json")" >&2
  done
}

for name in $daemons; do
  for nodes in $nodes_list; do
    if [ "$name" = tern ]; then
      mkdir -p "$tmp/tern"
      XENSTORED_RUNDIR="$tmp/tern" XENSTORED_PATH="$tmp/tern/socket" "$xsd" -N -V 2>"$tmp/tern/log" &
      tpid=$!
      for _ in $(seq 100); do [ -S "$tmp/tern/socket" ] && break; sleep 0.05; done
      sock="$tmp/tern/socket"; dir="$tmp/tern"
    else
      [ -x "$ref" ] || { echo "  C xenstored: $ref not found; skipped" >&2; continue 2; }
      . "$(dirname "$ref")/env.sh" >/dev/null 2>&1 || { echo "  C xenstored: reference environment unavailable" >&2; continue 2; }
      "$ref" "$tmp/ref" >/dev/null 2>&1 || { echo "  C xenstored did not start; skipped" >&2; continue 2; }
      sock="$tmp/ref/socket"; dir="$tmp/ref"
    fi
    "$fill" "$sock" fill "$nodes" || echo "  $name: fill $nodes failed" >&2
    for conns in $conns_list; do run_cell "$name" "$sock" "$dir" "$conns"; done
    if [ "$name" = tern ]; then
      grep -o 'written in [0-9]* us' "$tmp/tern/log" | awk '{print $3 / 1000}' >"$tmp/tern.$nodes.dump"
      grep -o 'transactions in [0-9]* us' "$tmp/tern/log" | awk '{print $3 / 1000}' >"$tmp/tern.$nodes.restore"
      kill "$tpid"; wait "$tpid" 2>/dev/null; tpid=""; rm -rf "$tmp/tern"
    else
      "$ref" --stop "$tmp/ref" >/dev/null 2>&1; rm -rf "$tmp/ref"
    fi
  done
done

cell() {  # NAME NODES CONNS -> "median [max]" or n/a
  local f="$tmp/$1.$2.$3"
  [ -s "$f" ] || { echo "n/a"; return; }
  if grep -q fail "$f"; then echo "failed"; return; fi
  local e=""; [ -s "$f.errors" ] && e=" ERR"
  printf '%.1f [%.1f]%s' "$(median <"$f")" "$(maximum <"$f")" "$e"
}
echo "xenstored live update: longest time without any reply, ms, median [worst] of $repeat updates"
printf '%-8s %-6s %18s %18s\n' nodes conns tern-xenstored "C xenstored 4.17"
for nodes in $nodes_list; do
  for conns in $conns_list; do
    printf '%-8s %-6s %18s %18s\n' "$nodes" "$conns" "$(cell tern "$nodes" "$conns")" "$(cell c "$nodes" "$conns")"
  done
done
for nodes in $nodes_list; do
  [ -s "$tmp/tern.$nodes.dump" ] || continue
  echo "tern-xenstored at $nodes nodes: dump $(median <"$tmp/tern.$nodes.dump") ms, restore $(median <"$tmp/tern.$nodes.restore") ms (medians, all connection counts)"
done
