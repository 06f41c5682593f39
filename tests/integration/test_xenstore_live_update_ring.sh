#!/bin/bash
# A guest domain on a shared ring (`tern xenstore ring-client`, driven as a
# coprocess one command at a time) survives two live updates of
# tern-xenstored started by Xen 4.17's own xenstore-control. Across each
# update the guest holds a watch with an event still unread and an open
# transaction with a write in it, more events queued than the ring holds (so
# some wait in the daemon's output), and the ring-client's dom0 socket holds a
# watch on @releaseDomain. After each update: same daemon process, now run
# with -U; the guest reads its nodes back, gets every pending event (once, in
# order) and events for new writes, commits its transaction, and the ring is
# sane.
# An update whose new process gives up hands everything back, ring included.
# Finally releasing the domain fires @releaseDomain and the store checks OK.
. "$(dirname "$0")/xenstored_lib.sh"
[ -n "${TERN:-}" ] && [ -x "$TERN" ] || { echo "SKIP: tern was not built"; exit 77; }
[ -x "$XEN_BIN/xenstore-control" ] || { echo "SKIP: Xen's xenstore-control is not unpacked"; exit 77; }

xs_start -S 4096
pid="$XS_PID"
xs xenstore-write /local/domain/5/name guest5
xs xenstore-chmod -r /local/domain/5 n5

# The guest (and its toolstack on the socket): one command a line on its
# stdin, one line of output per command. Its own waits are bounded by
# --timeout-ms; ours by read -t.
coproc RC {
  exec "$TERN" xenstore ring-client --domid 5 --timeout-ms 3000 \
    --start-offset 4294966296 2>"$XS_DIR/ring-client.log"
}
RCPID=$RC_PID
# A write to a ring-client that has gone must fail, not kill this script.
trap '' PIPE

rc_stop() {  # close the ring-client's stdin, then stop it by PID if it lingers
  [ -n "${RCPID:-}" ] || return 0
  [ -n "${RC[1]:-}" ] && eval "exec ${RC[1]}>&-"
  for _ in $(seq 20); do kill -0 "$RCPID" 2>/dev/null || break; sleep 0.1; done
  kill "$RCPID" 2>/dev/null
  for _ in $(seq 10); do kill -0 "$RCPID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$RCPID" 2>/dev/null
  wait "$RCPID" 2>/dev/null
  local st=$?
  RCPID=""
  return "$st"
}
trap 'rc_stop; xs_stop; rm -rf "$XS_DIR"' EXIT

die() {  # stop the test here: what went wrong, and the logs
  echo "FAIL $*"
  FAILS=$((FAILS + 1))
  echo "--- ring-client stderr:"; cat "$XS_DIR/ring-client.log" 2>/dev/null
  echo "--- tern-xenstored log (last 30 lines):"; tail -n 30 "$XS_DIR/daemon.log" 2>/dev/null
  echo "$FAILS check(s) failed"
  exit 1
}

# ask COMMAND: sends one ring-client command; sets REPLY_LINE to its answer.
# A ring-client that is gone or does not answer in 30 s ends the test.
ask() {
  REPLY_LINE=""
  if [ -z "${RC[1]:-}" ] || ! printf '%s\n' "$1" 2>/dev/null 1>&"${RC[1]}"; then
    die "ring-client is gone (could not send: $1)"
  fi
  [ -n "${RC[0]:-}" ] || die "ring-client is gone (before answering: $1)"
  IFS= read -r -t 30 REPLY_LINE <&"${RC[0]}"
  local st=$?
  [ "$st" -gt 128 ] && die "no reply from ring-client within 30 s to: $1"
  [ "$st" -ne 0 ] && die "ring-client ended its output without answering: $1"
  return 0
}

# steps LABEL TABLE: each line of TABLE is a ring-client command, '=>', and the
# expected output (a pattern if it holds a '*'). A reply starting with "FAIL"
# (timed out, connection lost) where something else was expected ends the
# test: the rest could only time out too.
steps() {
  local label="$1" line cmd want
  while IFS= read -r line; do
    [[ "$line" == *'=>'* ]] || continue
    cmd="${line%%=>*}" want="${line#*=> }"
    cmd="${cmd%"${cmd##*[! ]}"}"  # trailing blanks
    ask "$cmd"
    if [[ "$want" == *'*'* ]]; then
      # shellcheck disable=SC2053  # glob match on purpose
      [[ "$REPLY_LINE" == $want ]] && want="$REPLY_LINE"
    fi
    expect "$label: $cmd" "$want" "$REPLY_LINE"
    if [ "$want" != "$REPLY_LINE" ] && [[ "$REPLY_LINE" == FAIL* ]]; then
      die "$label: ring-client failed on '$cmd'; stopping"
    fi
  done <<<"$2"
}

steps "connect" '
dom0 watch @releaseDomain rel     => OK
dom0 event 2000                   => EVENT @releaseDomain rel
introduce                         => OK
dom0 introduced 5                 => T
ring-state                        => features 3 connection 0 error 0
read name                         => guest5
write data/x hello                => OK
read data/x                       => hello
writen data/big 3000              => OK
write txn/v before                => OK
watch data w                      => OK
event 2000                        => EVENT data w
'

committed=before
for k in 1 2; do
  # Before the update: a fresh event read, then an open transaction with a
  # write in it (to txn/v, which nothing else touches: it must commit), then
  # an event left unread (dom0 writes under the watched path).
  steps "round $k, before the update" "
write data/round r$k              => OK
event 2000                        => EVENT data/round w
start                             => [1-9]*
write txn/v inside$k              => OK
read txn/v                        => inside$k
dom0 read /local/domain/5/txn/v   => $committed
"
  expect "round $k: dom0 writes under the watched path" "" \
    "$(xs xenstore-write /local/domain/5/data/pending$k p$k 2>&1)"
  # Then more events than the ring's 1024-octet response half holds (16 of
  # ~110 octets): the rest waits in the daemon's output for the guest, and
  # goes into the image as the connection's pending output.
  long="$(printf 'L%.0s' $(seq 80))"
  pairs=()
  for i in $(seq -w 1 16); do pairs+=("/local/domain/5/data/q$k-$long-$i" "v$i"); done
  expect "round $k: dom0 writes 16 more under the watched path" "" \
    "$(xs xenstore-write "${pairs[@]}" 2>&1)"
  queued=""
  for i in $(seq -w 1 16); do
    queued+="event 2000 => EVENT data/q$k-$long-$i w"$'\n'
  done

  OUT="$(xs xenstore-control live-update "$TERN_XENSTORED" 2>&1)"; st=$?
  expect "update $k: xenstore-control live-update exit status" 0 "$st"
  if [ "$st" != 0 ]; then
    echo "  xenstore-control said: $OUT"
    die "live update $k was not done; stopping"
  fi
  expect "update $k: daemon process unchanged" "yes" "$(kill -0 "$pid" 2>/dev/null && echo yes)"
  expect "update $k: running the new binary with -U" "yes" \
    "$({ tr '\0' ' ' </proc/"$pid"/cmdline; } 2>/dev/null | grep -q -- ' -U' && echo yes)"
  expect "update $k: no image left behind" "none" \
    "$(compgen -G "$XS_DIR/state_dump*" || echo none)"

  steps "round $k, after the update" "
event 2000                        => EVENT data/pending$k w
$queued
event 300                         => NO EVENT
read txn/v                        => inside$k
commit                            => OK
read txn/v                        => inside$k
dom0 read /local/domain/5/txn/v   => inside$k
read data/x                       => hello
readlen data/big                  => 3000 bytes (pattern intact)
read data/pending$k               => p$k
read name                         => guest5
dom0 write /local/domain/5/data/after$k a$k => OK
event 2000                        => EVENT data/after$k w
write data/new$k n                => OK
event 2000                        => EVENT data/new$k w
introduced 5                      => T
dom0 introduced 5                 => T
ring-state                        => features 3 connection 0 error 0
"
  expect "round $k: dom0's own tools see the committed write" "inside$k" \
    "$(xs xenstore-read /local/domain/5/txn/v 2>&1)"
  committed="inside$k"
done

# An update whose new process refuses its command line: it hands the image
# back to the binary that wrote it (a second exec), and the ring, with an
# event still unread and a transaction open, must survive that too.
wrapper="$XS_DIR/badopts"
printf '#!/bin/bash\nREAL=%q\n%s\n' "$TERN_XENSTORED" \
  'case " $* " in *" -U "*) exec "$REAL" "$@" --no-such-option ;; esac
exec "$REAL" "$@"' >"$wrapper"
chmod +x "$wrapper"
steps "hand-back, before" "
start                             => [1-9]*
write txn/v handback              => OK
"
expect "hand-back: dom0 writes under the watched path" "" \
  "$(xs xenstore-write /local/domain/5/data/handback h 2>&1)"
OUT="$(xs xenstore-control live-update "$wrapper" 2>&1)"; st=$?
expect "hand-back: xenstore-control reports the failure" "yes" "$([ "$st" != 0 ] && echo yes)"
expect "hand-back: the reason is given" "yes" \
  "$(grep -q 'refused its command line' <<<"$OUT" && echo yes)"
grep -q 'refused its command line' <<<"$OUT" || echo "  xenstore-control said: $OUT"
expect "hand-back: daemon process unchanged" "yes" "$(kill -0 "$pid" 2>/dev/null && echo yes)"
expect "hand-back: the original binary runs again" "yes" \
  "$({ tr '\0' ' ' </proc/"$pid"/cmdline; } 2>/dev/null | grep -q -- "$TERN_XENSTORED" && echo yes)"
xs xenstore-control live-update -a >/dev/null 2>&1  # as after a client gave up
steps "hand-back, after" "
event 2000                        => EVENT data/handback w
event 300                         => NO EVENT
commit                            => OK
read txn/v                        => handback
read data/x                       => hello
dom0 write /local/domain/5/data/back b => OK
event 2000                        => EVENT data/back w
ring-state                        => features 3 connection 0 error 0
"

steps "release" '
dom0 release 5                    => OK
dom0 event 2000                   => EVENT @releaseDomain rel
dom0 introduced 5                 => F
'
expect "store consistent afterwards" OK "$(xs xenstore-control check 2>&1)"
rc_stop; st=$?
expect "ring-client exit status" 0 "$st"
xs_finish
