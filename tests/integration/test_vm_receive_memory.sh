#!/usr/bin/env bash
# tern receive --memory SIZE [--prefault]: the destination makes (and faults
# in) the guest's RAM before it listens, announces it on its "listening"
# line, and the incoming VM lands in that memory (memory_made_ahead) — or,
# when the size is not the guest's or the backend cannot take it, in memory
# of its own with a warning. Either way the guest ends clean on the
# destination. KVM when /dev/kvm is usable, else the sim backend (which
# never takes RAM made ahead).
source "$(dirname "$0")/lib.sh"
need_tern
d="$(tmpdir)"
if python3 -c 'import os; os.close(os.open("/dev/kvm", os.O_RDWR))' 2>/dev/null; then
  backend=kvm
else
  backend=sim
  note "no usable /dev/kvm: sim backend only (RAM made ahead is never taken there)"
fi
guest="passes=40 mib=16 ws=8 pause=2000 io=gp"

# migrate_with NAME RECEIVE-ARGS...: one migration; prints the destination's summary line
migrate_with() {
  local n="$1"; shift
  "$TERN" receive --listen "unix:$d/$n.mig" --json --console "$d/$n.dst" "$@" >"$d/$n.recv" 2>"$d/$n.err" &
  local rpid=$!
  wait_for 60 grep -q '"listening"' "$d/$n.recv" || fail "$n: no listening line: $(cat "$d/$n.err")"
  "$TERN" run --backend "$backend" --memory 64M --cmdline "$guest" --api "$d/$n.api" --console "$d/$n.src" &
  local spid=$!
  wait_for 60 grep -q "^pass 2:" "$d/$n.src" || fail "$n: the guest did not start"
  "$TERN" migrate --api "$d/$n.api" --to "unix:$d/$n.mig" --json >"$d/$n.out" || fail "$n: tern migrate failed"
  local rc=0; wait "$spid" || rc=$?
  [ "$rc" -eq 0 ] || fail "$n: source exited $rc"
  rc=0; wait "$rpid" || rc=$?
  [ "$rc" -eq 0 ] || fail "$n: destination exited $rc: $(cat "$d/$n.err")"
  grep -q "tern-guest: done, passes=40 errors=0" "$d/$n.dst" || fail "$n: destination console: $(tail -2 "$d/$n.dst")"
}
field() {  # field FILE LINE-SELECTOR KEY: a key of the first/last JSON line of FILE
  python3 - "$@" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print(json.dumps((lines[0] if sys.argv[2] == "first" else lines[-1]).get(sys.argv[3])))
PY
}

note "--memory 64M --prefault ($backend)"
migrate_with exact --memory 64M --prefault
[ "$(field "$d/exact.recv" first listening)" = "\"unix:$d/exact.mig\"" ] || fail "listening line: $(head -1 "$d/exact.recv")"
[ "$(field "$d/exact.recv" first memory_bytes)" = $((64 << 20)) ] || fail "memory_bytes: $(head -1 "$d/exact.recv")"
[ "$(field "$d/exact.recv" first prefaulted_bytes)" = $((64 << 20)) ] || fail "prefaulted: $(head -1 "$d/exact.recv")"
if [ "$backend" = kvm ]; then
  [ "$(field "$d/exact.recv" last memory_made_ahead)" = true ] || fail "KVM did not take the RAM: $(tail -1 "$d/exact.recv")"
  [ ! -s "$d/exact.err" ] || fail "unexpected warning: $(cat "$d/exact.err")"
else
  grep -q "was not used" "$d/exact.err" || fail "sim: no warning: $(cat "$d/exact.err")"
fi

note "--memory of another size: a warning, the VM still arrives whole (read with --busy-poll-us)"
migrate_with other --memory 32M --busy-poll-us 500
[ "$(field "$d/other.recv" first prefaulted_bytes)" = 0 ] || fail "prefaulted without --prefault"
[ "$(field "$d/other.recv" last memory_made_ahead)" = false ] || fail "took RAM of the wrong size"
grep -q "was not used: the incoming guest has $((64 << 20)) bytes" "$d/other.err" || fail "warning: $(cat "$d/other.err")"

note "a bad --memory is a usage error before listening"
expect_rc 2 "$TERN" receive --listen "unix:$d/bad.mig" --memory 12345
grep -q "multiple of 4 KiB" <<<"$LAST_ERR" || fail "bad size: $LAST_ERR"
[ ! -e "$d/bad.mig" ] || fail "listened with a bad --memory"
echo ok
