#!/usr/bin/env bash
# Live migration on the sim backend through the real processes: tern run +
# tern receive + tern migrate over unix: and tcp:// endpoints; a destination
# that refuses or drops the connection and a cancelled migration leave the
# source running; tern demo --json reports a clean guest.
source "$(dirname "$0")/lib.sh"
need_tern
d="$(tmpdir)"

json_get() { python3 -c 'import json,sys; d=json.loads(sys.stdin.readlines()[-1]); print(eval("d"+sys.argv[1]))' "$1"; }
ctl() {  # ctl SOCKET JSON: one request, prints the answer
  python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode() + b"\n")
print(s.makefile().readline().strip())
PY
}
guest="passes=150 mib=32 ws=8 pause=5000 balloon=512,8"

migrate_to() {  # migrate_to NAME ENDPOINT-FOR-RECEIVE ENDPOINT-FOR-MIGRATE
  local n="$1" listen="$2" to="$3"
  "$TERN" receive --listen "$listen" --console "$d/$n.dst" --json >"$d/$n.recv" & local rpid=$!
  "$TERN" run --backend sim --memory 64M --vcpus 2 --cmdline "$guest" --api "$d/$n.api" \
    --console "$d/$n.src" & local spid=$!
  wait_for 10 test -S "$d/$n.api" || fail "$n: no control socket"
  wait_for 10 grep -q "^pass 2:" "$d/$n.src" || fail "$n: the guest did not start"
  sleep 0.2
  "$TERN" migrate --api "$d/$n.api" --to "$to" --json >"$d/$n.mig" || fail "$n: tern migrate failed"
  local rc=0; wait "$spid" || rc=$?
  [ "$rc" -eq 0 ] || fail "$n: the source VMM exited $rc after migrating"
  rc=0; wait "$rpid" || rc=$?
  [ "$rc" -eq 0 ] || fail "$n: the destination exited $rc: $(tail -3 "$d/$n.dst")"
  grep -q "tern-guest: done, passes=150 errors=0" "$d/$n.dst" || fail "$n: destination console: $(tail -2 "$d/$n.dst")"
  grep -q "tern-guest: done" "$d/$n.src" && fail "$n: the guest finished on the source"
  [ "$(json_get '["event"]' <"$d/$n.mig")" = summary ] || fail "$n: no summary line"
  local rounds; rounds="$(json_get '["rounds"]' <"$d/$n.mig")"
  [ "$rounds" -ge 2 ] || fail "$n: $rounds rounds"
  grep -q '"event": *"progress"' "$d/$n.mig" || fail "$n: no progress events"
  echo "$n: $(json_get '["total_ms"]' <"$d/$n.mig") ms total, $(json_get '["downtime_ms"]' <"$d/$n.mig") ms downtime, $rounds rounds"
}

note "unix socket"
migrate_to unix "unix:$d/mig.sock" "unix:$d/mig.sock"
note "loopback TCP"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
migrate_to tcp "tcp://127.0.0.1:$port" "tcp://127.0.0.1:$port"

note "a destination that drops the connection, one that is slow (cancel), one that refuses"
"$TERN" run --backend sim --memory 64M --cmdline "passes=0 mib=32 ws=4" --api "$d/f.api" --console "$d/f.src" & spid=$!
wait_for 10 test -S "$d/f.api" || fail "no control socket"
python3 - "$d/drop.sock" <<'PY' & fpid=$!
import socket, sys
l = socket.socket(socket.AF_UNIX); l.bind(sys.argv[1]); l.listen(1)
c, _ = l.accept(); got = 0
while got < 300000:
    b = c.recv(65536)
    if not b: break
    got += len(b)
c.close()
PY
wait_for 10 test -S "$d/drop.sock" || fail "the fake destination did not start"
expect_rc 1 "$TERN" migrate --api "$d/f.api" --to "unix:$d/drop.sock"
grep -q "keeps running" <<<"$LAST_ERR" || fail "drop: $LAST_ERR"
wait "$fpid" || true
grep -q '"state":"running"' <<<"$(ctl "$d/f.api" '{"cmd":"status"}')" || fail "the source is not running after a dropped migration"

python3 - "$d/slow.sock" <<'PY' & fpid=$!
import socket, sys, time
l = socket.socket(socket.AF_UNIX); l.bind(sys.argv[1]); l.listen(1)
c, _ = l.accept(); c.settimeout(20)
try:
    while c.recv(16384): time.sleep(0.01)   # about 1.6 MB/s
except Exception: pass
PY
wait_for 10 test -S "$d/slow.sock" || fail "the slow destination did not start"
"$TERN" migrate --api "$d/f.api" --to "unix:$d/slow.sock" >/dev/null 2>"$d/cancel.err" & mpid=$!
sleep 0.5
"$TERN" migrate --cancel --api "$d/f.api" || fail "tern migrate --cancel failed"
rc=0; wait "$mpid" || rc=$?
[ "$rc" -eq 1 ] || fail "the cancelled migration exited $rc"
grep -q "cancelled" "$d/cancel.err" || fail "cancel: $(cat "$d/cancel.err")"
kill "$fpid" 2>/dev/null || true; wait "$fpid" 2>/dev/null || true
grep -q '"state":"running"' <<<"$(ctl "$d/f.api" '{"cmd":"status"}')" || fail "the source is not running after a cancel"
ctl "$d/f.api" '{"cmd":"quit"}' >/dev/null
rc=0; wait "$spid" || rc=$?
[ "$rc" -eq 0 ] || fail "source exit $rc"

"$TERN" receive --listen "unix:$d/refuse.sock" --console - & rpid=$!
wait_for 10 test -S "$d/refuse.sock" || fail "receive did not listen"
python3 - "$d/refuse.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"Xen saved domain, xl format\n \0 \r" + b"\xff" * 64)
s.shutdown(socket.SHUT_WR); print(s.makefile().readline().strip())
PY
rc=0; wait "$rpid" || rc=$?
[ "$rc" -eq 4 ] || fail "tern receive exited $rc on garbage (expected 4)"

note "tern demo --json"
"$TERN" demo --backend sim --memory 128M --json >"$d/demo.json" 2>"$d/demo.err" || fail "tern demo failed: $(cat "$d/demo.err")"
python3 - "$d/demo.json" <<'PY' || fail "demo summary: $(cat "$d/demo.json")"
import json, sys
j = json.load(open(sys.argv[1]))
for k in ("backend", "total_ms", "downtime_ms", "rounds", "bytes", "guest_errors"):
    assert k in j, k
assert j["backend"] == "sim" and j["guest_errors"] == 0 and j["rounds"] >= 2 and j["bytes"] > 0, j
PY
echo ok
