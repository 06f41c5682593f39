#!/bin/bash
# tern-xenstored updated 10 times by Xen's xenstore-control while 8 clients
# (bench/xs_lu_load) send requests continuously with sequence-checked req_ids,
# hold watches on their subtrees and keep transactions open across updates:
# no reply may be lost, duplicated or reordered, every read must see the last
# write, every watch event must arrive exactly once, every transaction must
# commit. 5000 other nodes are part of the state being carried.
. "$(dirname "$0")/xenstored_lib.sh"
[ -x "$XEN_BIN/xenstore-control" ] || { echo "SKIP: Xen's xenstore-control is not unpacked"; exit 77; }
load="$TERN_BUILD_DIR/bin/xs_lu_load"
fill="$TERN_BUILD_DIR/bin/xs_load"
[ -x "$load" ] && [ -x "$fill" ] || { echo "SKIP: bench/xs_lu_load or xs_load not built"; exit 77; }

xs_start --live-update-transfer "${XS_LU_TRANSFER:-pipe}"  # the file way is the default; test the other here
pid="$XS_PID"
"$fill" "$XENSTORED_PATH" fill 5000 || { echo "FAIL: fill"; exit 1; }
"$load" "$XENSTORED_PATH" 8 60 --transactions --stop-file "$XS_DIR/stop" >"$XS_DIR/load.json" 2>&1 &
lpid=$!
updates=0
for i in $(seq 10); do
  sleep 1.5
  if out="$(xs xenstore-control live-update "$TERN_XENSTORED" 2>&1)"; then
    updates=$((updates + 1))
  else
    echo "update $i failed: $out"
  fi
done
sleep 1
touch "$XS_DIR/stop"
wait "$lpid"; lrc=$?
cat "$XS_DIR/load.json"
field() { sed -n "s/.*\"$1\": \([^,}]*\).*/\1/p" "$XS_DIR/load.json"; }
expect "10 live updates succeeded" "10" "$updates"
expect "same daemon process" "yes" "$(kill -0 "$pid" 2>/dev/null && echo yes)"
expect "load checks passed (exit status)" "0" "$lrc"
expect "no errors (lost, duplicated, reordered, stale reads)" "0" "$(field errors)"
expect "no request unanswered" "0" "$(field unanswered)"
expect "watch events exact on every connection" "0" "$(field connections_with_wrong_events)"
expect "transactions committed across updates" "yes" "$([ "$(field commits)" -ge 20 ] && echo yes)"
expect "clients were served throughout" "yes" "$([ "$(field replies)" -ge 10000 ] && echo yes)"
echo "longest time without any reply: $(field max_gap_ms) ms"
expect "state carried: 5000 filled nodes" "1000" "$(xs xenstore-list /bench/fill/d4 | wc -l)"
xs_finish
