#!/bin/bash
# tern-xenstored vs Xen's C xenstored (run without a hypervisor by
# /work/shared/peers/xenstored/start-reference.sh), measured the same way:
# ops/s with 1, 8, 32 clients (each WRITE + READ of its own key, one request
# in flight per client) and the daemon's VmRSS after 100k nodes of 32-byte
# values.
#   bench/xenstored_bench.sh [BUILD_DIR]
# Both daemons run side by side and the rounds alternate between them
# (XS_BENCH_ROUNDS, default 3, of XS_BENCH_SECONDS each), so load from other
# processes on the machine hits both alike; the table shows the median round.
# "cpu us/op" is the daemon's own CPU time (user + system, from
# /proc/PID/schedstat) per request: it depends much less on what else runs
# than ops/s does.
#
# Two load generators (bench/xs_load.cpp), the same for both daemons:
# - "event" (the primary figure): one thread drives all clients' connections,
#   as redis-benchmark and memtier do. The generator then costs at most one
#   core, and the figure is the daemon's. XS_BENCH_EVENT_GEN picks how:
#   "epoll" (default: edge-triggered epoll_wait + send() + recv()) or "uring"
#   (io_uring, one io_uring_enter per batch of sends and completions, no
#   SQPOLL; it sends requests in bursts, which costs Xen's C xenstored more
#   CPU per request, so it flatters tern's ratio). On a 2-core machine the
#   generator's own CPU per request (~2.1 us, about tern's) caps what a fast
#   daemon can show; the footer names the generator used.
# - "threads" (XS_BENCH_THREADS=0 leaves it out): one thread per client,
#   blocking send() + recv(). On a 2-core machine its 8 or 32 threads'
#   wake-ups and context switches take the core the daemon needs, and every
#   blocked recv() is also woken spuriously when the daemon takes the request
#   off the socket (the socket's write-space wake-up), so it measures the
#   generator and the scheduler as much as the daemon.
#
# A third daemon runs in the same rounds: xs_floor (bench/xs_floor.cpp), an
# echo server that does only the socket work every daemon must (epoll, one
# recv and one send per request). Its columns are the machine's ceiling: no
# xenstored can use less CPU per request, so the best ratio to C that this
# machine can show is C's cpu us/op over the floor's.
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
load="$build/bin/xs_load"
floor="$build/bin/xs_floor"
xsd="$build/bin/tern-xenstored"
ref="${XS_REFERENCE:-/work/shared/peers/xenstored/start-reference.sh}"
secs="${XS_BENCH_SECONDS:-3}"
rounds="${XS_BENCH_ROUNDS:-3}"
event_gen="${XS_BENCH_EVENT_GEN:-epoll}"
modes="event"
[ "${XS_BENCH_THREADS:-1}" = 1 ] && modes="event threads"
[ -x "$load" ] && [ -x "$xsd" ] || { echo "build first: $load, $xsd"; exit 1; }
tmp="$(mktemp -d /tmp/tern-xs-bench.XXXXXX)"
tpid=""
fpid=""
cleanup() {
  [ -n "$tpid" ] && kill "$tpid" 2>/dev/null && wait "$tpid" 2>/dev/null
  [ -n "$fpid" ] && kill "$fpid" 2>/dev/null && wait "$fpid" 2>/dev/null
  [ -f "$tmp/ref/xenstored.pid" ] && "$ref" --stop "$tmp/ref" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT

. "$root/bench/xenstored_common.bash"
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ns() { cut -d' ' -f1 "/proc/$1/schedstat"; }
# figure NAME MODE ops|cpu CLIENTS: the median of that daemon's rounds.
figure() { eval echo "\$${1}_${2}_${3}_$4" | median; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {print (NR ? v[int((NR + 1) / 2)] : "error")}'; }

# one_round NAME SOCKET PID CLIENTS MODE: appends ops/s and cpu us/op to NAME's lists.
one_round() {
  local name="$1" sock="$2" pid="$3" c="$4" mode="$5" t0 t1 r flag=""
  [ "$mode" = threads ] && flag="--threads"
  [ "$mode" = event ] && flag="--$event_gen"
  t0="$(cpu_ns "$pid")"
  r="$("$load" "$sock" ops "$c" "$secs" $flag)" || r="error"
  t1="$(cpu_ns "$pid")"
  eval "${name}_${mode}_ops_$c=\"\${${name}_${mode}_ops_$c:-} $r\""
  local us
  us="$(awk -v t=$((t1 - t0)) -v r="$r" -v s="$secs" \
    'BEGIN { if (r + 0 > 0) printf "%.2f", t / 1e3 / (r * s); else print "error" }')"
  eval "${name}_${mode}_cpu_$c=\"\${${name}_${mode}_cpu_$c:-} $us\""
}

mkdir -p "$tmp/tern"
# XS_BENCH_TERN_ARGS: extra options for tern-xenstored (e.g. --busy-poll-us 0).
# shellcheck disable=SC2086
XENSTORED_PATH="$tmp/tern/socket" "$xsd" -N ${XS_BENCH_TERN_ARGS:-} &
tpid=$!
wait_for_socket "$tmp/tern/socket"

have_floor=0
if [ -x "$floor" ]; then
  mkdir -p "$tmp/floor"
  "$floor" "$tmp/floor/socket" &
  fpid=$!
  wait_for_socket "$tmp/floor/socket" && have_floor=1
fi

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
have_ref=0
if [ -x "$ref" ] && "$ref" "$tmp/ref" >/dev/null 2>&1; then
  # The launcher's pid file names a wrapper; the daemon is its xenstored child.
  rpid="$(cat "$tmp/ref/xenstored.pid")"
  dpid="$(pgrep -P "$rpid" xenstored || echo "$rpid")"
  have_ref=1
fi

for mode in $modes; do
  for c in 1 8 32; do
    for _ in $(seq "$rounds"); do
      one_round tern "$tmp/tern/socket" "$tpid" "$c" "$mode"
      [ $have_ref = 1 ] && one_round c "$tmp/ref/socket" "$dpid" "$c" "$mode"
      [ $have_floor = 1 ] && one_round floor "$tmp/floor/socket" "$fpid" "$c" "$mode"
    done
  done
done
"$load" "$tmp/tern/socket" fill 100000 && tern_rss="$(rss_kb "$tpid")" || tern_rss=error
c_rss="n/a"
if [ $have_ref = 1 ]; then
  "$load" "$tmp/ref/socket" fill 100000 && c_rss="$(rss_kb "$dpid")" || c_rss=error
fi

printf '%-30s %12s %12s %8s   %14s %14s   %12s %15s\n' "xenstored benchmark" "tern" \
  "C xenstored" "ratio" "tern cpu us/op" "C cpu us/op" "floor ops/s" "floor cpu us/op"
for mode in $modes; do
  for c in 1 8 32; do
    t="$(figure tern "$mode" ops "$c")"
    tc="$(figure tern "$mode" cpu "$c")"
    x="n/a" xc="n/a"
    if [ $have_ref = 1 ]; then
      x="$(figure c "$mode" ops "$c")"
      xc="$(figure c "$mode" cpu "$c")"
    fi
    f="n/a" fc="n/a"
    if [ $have_floor = 1 ]; then
      f="$(figure floor "$mode" ops "$c")"
      fc="$(figure floor "$mode" cpu "$c")"
    fi
    ratio="$(awk -v a="$t" -v b="$x" 'BEGIN { if (b+0 > 0) printf "%.2fx", a/b; else print "-" }')"
    printf '%-30s %12s %12s %8s   %14s %14s   %12s %15s\n' "ops/s, $c client(s), $mode" "$t" \
      "$x" "$ratio" "$tc" "$xc" "$f" "$fc"
  done
done
printf '%-30s %12s %12s\n' "VmRSS kB, 100k nodes" "$tern_rss" "$c_rss"
echo "(median of $rounds alternating rounds of ${secs}s; load average before $load_before," \
  "after $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs; event generator: xs_load --$event_gen)"
