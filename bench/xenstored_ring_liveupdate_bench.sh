#!/bin/bash
# tern-xenstored's live-update downtime with and without a guest on a shared
# ring (`tern xenstore ring-client`): the time from "stopped serving" in the
# old process to "serving" in the new one (the daemon's -V log, monotonic
# clock), for XS_RING_LU_UPDATES updates by Xen's xenstore-control in a row.
# The ring's page and eventfds go across the exec as descriptors, so it
# should cost nothing measurable; the guest then reads its node back.
#   bench/xenstored_ring_liveupdate_bench.sh [BUILD_DIR]
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
xsd="$build/bin/tern-xenstored"
tern="$build/bin/tern"
updates="${XS_RING_LU_UPDATES:-10}"
. "$root/scripts/xen-env.sh"
. "$root/bench/xenstored_common.bash"
[ -x "$xsd" ] && [ -x "$tern" ] || { echo "build first: $xsd, $tern"; exit 1; }
[ -x "$XEN_BIN/xenstore-control" ] || {
  echo "xenstored_ring_liveupdate: Xen's xenstore-control is not unpacked; skipped"
  exit 0
}
tmp="$(mktemp -d /tmp/tern-xs-ring-lu.XXXXXX)"
dpid=""
rpid=""
cleanup() {
  [ -n "$rpid" ] && kill "$rpid" 2>/dev/null && wait "$rpid" 2>/dev/null
  [ -n "$dpid" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# downtimes LOG: "min median max" in microseconds of the updates in LOG.
downtimes() {
  paste <(sed -n 's/.*stopped serving at monotonic \([0-9]*\) us.*/\1/p' "$1") \
    <(sed -n 's/.*live update: serving at monotonic \([0-9]*\) us.*/\1/p' "$1") |
    awk 'NF == 2 {print $2 - $1}' | sort -n |
    awk '{v[NR] = $1} END {if (NR) print v[1], v[int((NR + 1) / 2)], v[NR], NR; else print "error"}'
}

# one_run WITH_RING(0|1): writes "min median max count guest-check" to
# $tmp/result (run in this shell, so the EXIT trap knows its processes).
one_run() {
  local dir="$tmp/run$1" guest="-"
  mkdir -p "$dir"
  export XENSTORED_RUNDIR="$dir" XENSTORED_PATH="$dir/socket"
  "$xsd" -N -V 2>"$dir/log" &
  dpid=$!
  wait_for_socket "$dir/socket"
  if [ "$1" = 1 ]; then
    xen_run "$XENSTORE_CLIENTS/xenstore-write" /local/domain/5/name guest5
    xen_run "$XENSTORE_CLIENTS/xenstore-chmod" -r /local/domain/5 n5
    coproc RC { exec "$tern" xenstore ring-client --domid 5 --timeout-ms 3000 2>/dev/null; }
    rpid=$RC_PID
    local line=""
    echo introduce >&"${RC[1]}"
    read -r -t 10 line <&"${RC[0]}"
    [ "$line" = OK ] || echo "ring-client: introduce: ${line:-no answer}" >&2
  fi
  for _ in $(seq "$updates"); do
    xen_run timeout 60 "$XEN_BIN/xenstore-control" live-update "$xsd" >/dev/null 2>&1 ||
      echo "live update failed" >&2
  done
  if [ -n "$rpid" ]; then
    echo "read name" >&"${RC[1]}"
    read -r -t 10 guest <&"${RC[0]}" || guest="no answer"
    eval "exec ${RC[1]}>&-"
    wait "$rpid" 2>/dev/null
    rpid=""
  fi
  kill "$dpid"
  wait "$dpid" 2>/dev/null
  dpid=""
  echo "$(downtimes "$dir/log") $guest" >"$tmp/result"
}

printf '%-34s %10s %10s %10s %8s   %s\n' "tern-xenstored live update" "min us" "median us" \
  "max us" "updates" "guest reads after"
for with_ring in 0 1; do
  label="no ring guest"
  [ "$with_ring" = 1 ] && label="one guest on a shared ring"
  one_run "$with_ring"
  read -r lo med hi n guest <"$tmp/result"
  printf '%-34s %10s %10s %10s %8s   %s\n' "$label" "$lo" "$med" "$hi" "${n:-0}" "${guest:--}"
done
echo "(stopped serving -> serving, from the daemon's -V log; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg))"
