#!/bin/bash
# tern-xenstored live update driven by Xen 4.17's own xenstore-control, with
# clients holding a watch, open transactions, a half-sent request and
# hundreds of unread replies across each update (xs_lu_session.py):
#   - updates succeed in the same process; everything survives; the image is removed;
#   - -c CMDLINE gives the new process its options; both ways of handing the
#     state over (state_dump file, and pipe while the new binary starts) work;
#   - a missing binary, a binary that fails or does not confirm the image, a
#     corrupt image, an image version the binary does not read, an exec that
#     fails, and a new process that refuses its command line all leave the
#     running daemon serving with nothing lost, and xenstore-control says why.
. "$(dirname "$0")/xenstored_lib.sh"
[ -x "$XEN_BIN/xenstore-control" ] || { echo "SKIP: Xen's xenstore-control is not unpacked"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 is missing"; exit 77; }

xs_start
pid="$XS_PID"
coproc PY { python3 "$TERN_SOURCE_DIR/tests/integration/xs_lu_session.py" "$XENSTORED_PATH" 2>&1; }
ask() {
  echo "$*" >&"${PY[1]}"
  local line
  read -r -t 60 line <&"${PY[0]}" || line="FAIL no answer to: $*"
  echo "$line"
}
xs xenstore-write /lu/keep yes

k=0
# update [xenstore-control options...]: one round with a prepared session;
# sets OUT/RC to xenstore-control's output and exit status.
update() {
  k=$((k + 1))
  expect "round $k: clients prepared" "ok prepared" "$(ask prepare $k)"
  expect "round $k: transaction disturbed" "ok disturbed" "$(ask disturb $k)"
  OUT="$(xs xenstore-control live-update "$@" 2>&1)"; RC=$?
}
after() {  # WHAT: checks that hold after any update, successful or not
  expect "$1: daemon process unchanged" "yes" "$(kill -0 "$pid" 2>/dev/null && echo yes)"
  expect "$1: clients see nothing lost" "ok verified" "$(ask verify $k)"
  expect "$1: store intact" "yes" "$(xs xenstore-read /lu/keep)"
  expect "$1: no image left behind" "none" "$(ls "$XS_DIR" | grep -q '^state_dump' && ls "$XS_DIR" || echo none)"
}

# --- successful updates ---------------------------------------------------
for _ in 1 2 3; do
  update "$TERN_XENSTORED"
  expect "update $k succeeds" "0" "$RC"
  [ "$RC" = 0 ] || echo "  $OUT"
  expect "update $k: running the new binary with -U" "yes" \
    "$(tr '\0' ' ' </proc/"$pid"/cmdline | grep -q -- ' -U' && echo yes)"
  after "update $k"
done
# The daemon started by this update hands its state over through a pipe while
# the new binary starts (--live-update-transfer pipe): the next update and
# the failures below are tested that way.
update -c "-N -F $XS_DIR/pid -E 4321 --live-update-transfer pipe" "$TERN_XENSTORED"
expect "update with -c succeeds" "0" "$RC"
expect "-c options reach the new process" "yes" "$(tr '\0' ' ' </proc/"$pid"/cmdline | grep -q -- '-E 4321' && echo yes)"
expect "-c quota option wins over the image" "4321" "$(xs xenstore-control quota | awk '$1 == "nodes" {print $3}')"
after "update with -c"
update "$TERN_XENSTORED"
expect "update through a pipe succeeds" "0" "$RC"
expect "the state came through a pipe" "yes" "$(tr '\0' ' ' </proc/"$pid"/cmdline | grep -q -- '--live-update-pipe' && echo yes)"
after "update through a pipe"

# --- failures: the running daemon carries on ---------------------------------
wrap() {  # NAME BODY: a script standing in for the new binary
  printf '#!/bin/bash\nREAL=%q\n%s\n' "$TERN_XENSTORED" "$2" >"$XS_DIR/$1"
  chmod +x "$XS_DIR/$1"
  echo "$XS_DIR/$1"
}
fails() {  # WHAT EXPECTED-TEXT BINARY [options]
  local what="$1" text="$2"; shift 2
  update "$@"
  expect "$what: xenstore-control fails" "yes" "$([ "$RC" != 0 ] && echo yes)"
  expect "$what: the reason is reported" "yes" "$(grep -q -- "$text" <<<"$OUT" && echo yes)"
  grep -q -- "$text" <<<"$OUT" || echo "  output: $OUT"
  after "$what"
  xs xenstore-control live-update -a >/dev/null 2>&1  # as after a client gave up
}

fails "missing binary" "No such file" "$XS_DIR/no-such-binary"
fails "binary that fails to start" "failed (exit 3)" "$(wrap exit3 'echo "cannot start" >&2; exit 3')"
fails "binary that does not confirm the image" "did not confirm" "$(wrap true 'exit 0')"
fails "corrupt image" "unknown record type" "$(wrap corrupt '
for f; do :; done  # with --check-image, the image is the last argument
case " $* " in *" --check-image "*) printf "\x09" | dd of="$f" bs=1 seek=16 conv=notrunc status=none ;; esac
exec "$REAL" "$@"')"
fails "image version the binary does not read" "version 3 is not supported" "$(wrap version '
for f; do :; done
case " $* " in *" --check-image "*) printf "\x03" | dd of="$f" bs=1 seek=11 conv=notrunc status=none ;; esac
exec "$REAL" "$@"')"
fails "exec fails" "Permission denied" "$(wrap noexec '
chmod -x "$0"  # passes the check, then cannot be executed
exec "$REAL" "$@"')"
fails "new process refuses its command line" "refused its command line" "$(wrap badopts '
case " $* " in *" -U "*) exec "$REAL" "$@" --no-such-option ;; esac
exec "$REAL" "$@"')"
expect "after the hand-back the original binary runs again" "yes" \
  "$(tr '\0' ' ' </proc/"$pid"/cmdline | grep -q -- "$TERN_XENSTORED" && echo yes)"

# One more successful update after all the failures.
update "$TERN_XENSTORED"
expect "update after failures succeeds" "0" "$RC"
after "final update"
echo quit >&"${PY[1]}"
xs_finish
