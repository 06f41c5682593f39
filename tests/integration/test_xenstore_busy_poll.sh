#!/bin/bash
# --busy-poll-us: out-of-range or malformed values are refused; with busy
# polling at the default (off), at 50 us and at the largest budget the daemon answers
# Xen's clients (and, when built, the xs_load benchmark client), and once the
# clients are gone it blocks again: over 200 ms of idleness it uses (almost)
# no CPU, where a daemon that kept spinning would use all 200 ms.
. "$(dirname "$0")/xenstored_lib.sh"

for bad in -1 10001 abc; do
  out="$("$TERN_XENSTORED" -N --busy-poll-us "$bad" 2>&1)"
  rc=$?
  expect "--busy-poll-us $bad is refused" 1 "$([ $rc -ne 0 ] && [[ $out == *busy-poll-us* ]] && echo 1)"
done
expect "no socket left by a refused start" "" "$(ls "$XS_DIR")"

cpu_ns() { cut -d' ' -f1 "/proc/$1/schedstat"; }
load="${TERN_BUILD_DIR:-}/bin/xs_load"
for budget in default 50 10000; do
  if [ $budget = default ]; then xs_start; else xs_start --busy-poll-us $budget; fi
  xs xenstore-write /bp/$budget "v$budget"
  expect "busy-poll $budget: read back" "v$budget" "$(xs xenstore-read /bp/$budget)"
  if [ -x "$load" ]; then
    ops="$("$load" "$XENSTORED_PATH" ops 4 0.3)"
    expect "busy-poll $budget: xs_load answered" 1 "$([ "${ops:-0}" -gt 0 ] 2>/dev/null && echo 1)"
  fi
  sleep 0.3  # well past the largest budget (10 ms)
  t0="$(cpu_ns "$XS_PID")"
  sleep 0.2
  t1="$(cpu_ns "$XS_PID")"
  used_us=$(((t1 - t0) / 1000))
  echo "busy-poll $budget: ${used_us} us of CPU over 200 ms idle"
  # Generous: a few wake-ups of the 200 ms epoll timeout cost microseconds.
  expect "busy-poll $budget: idle daemon blocks (CPU < 5 ms of 200 ms)" 1 \
    "$([ $used_us -lt 5000 ] && echo 1)"
  xs_stop
done
XS_PID=""
if [ "$FAILS" -ne 0 ]; then echo "$FAILS check(s) failed"; exit 1; fi
echo "all checks passed"
