#!/usr/bin/env bash
# tern run (sim backend) with a control socket, tern save through it, Xen's
# verify-stream-v2 -f xl on the saved image, tern restore of it: the
# restored guest finishes its passes with zero errors (exit 0). Also: save
# that resumes the source, guest-reported errors (exit 1), and refused
# images (exit 4, message naming the offset).
source "$(dirname "$0")/lib.sh"
need_tern
need_xen_verify
d="$(tmpdir)"

json_get() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval("d"+sys.argv[1]))' "$1"; }

# 2 vCPUs, ~600 passes with a 1 ms pause between them: a few seconds of work.
guest="passes=600 mib=16 ws=8 pause=1000"

note "run, save --stop, verify with Xen, restore"
"$TERN" run --backend sim --memory 64M --vcpus 2 --cmdline "$guest" \
  --api "$d/api" --console "$d/src.console" & run_pid=$!
wait_for 10 test -S "$d/api" || fail "the control socket never appeared"
wait_for 10 grep -q "^pass 3:" "$d/src.console" || fail "the guest did not start: $(cat "$d/src.console")"
"$TERN" save --api "$d/api" --stop --json "$d/vm.img" >"$d/save.json" || fail "tern save failed"
rc=0; wait "$run_pid" || rc=$?
[ "$rc" -eq 0 ] || fail "tern run exited $rc after save --stop (expected 0)"
bytes="$(json_get '["bytes"]' <"$d/save.json")"
[ "$bytes" -eq "$(stat -c %s "$d/vm.img")" ] || fail "save --json bytes $bytes != file size"
data="$(json_get '["pages"]["data"]' <"$d/save.json")"
[ "$data" -gt 4096 ] || fail "only $data pages with data saved"
grep -q "tern-guest: done" "$d/src.console" && fail "the source finished before it was saved"

xen_verify_stream -f xl -i "$d/vm.img" >"$d/xen.log" 2>&1 || fail "Xen's verify-stream-v2 rejected the image: $(tail -3 "$d/xen.log")"
"$TERN" verify "$d/vm.img" >/dev/null || fail "tern verify rejected the image"

"$TERN" restore "$d/vm.img" --console "$d/dst.console" --api "$d/api2" --json >"$d/restore.json" \
  || fail "tern restore exited $? : $(tail -3 "$d/dst.console")"
grep -q "tern-guest: done, passes=600 errors=0" "$d/dst.console" \
  || fail "the restored guest did not finish clean: $(tail -3 "$d/dst.console")"
grep -q " [1-9][0-9]* errors" "$d/dst.console" && fail "the restored guest reported errors"
[ "$(json_get '["pages"]["data"]' <"$d/restore.json")" -eq "$data" ] || fail "restore read a different page count"
[ ! -e "$d/api2" ] || fail "the restored VMM left its socket behind"

note "save that resumes: source and restored copy both finish clean"
"$TERN" run --backend sim --memory 64M --cmdline "passes=300 mib=8 ws=4 pause=1000" \
  --api "$d/api3" --console "$d/src2.console" & run_pid=$!
wait_for 10 test -S "$d/api3" || fail "the control socket never appeared"
"$TERN" save --api "$d/api3" "$d/vm2.img" >"$d/save2.txt" || fail "tern save (resume) failed"
grep -q "then resumed" "$d/save2.txt" || fail "save summary: $(cat "$d/save2.txt")"
python3 - "$d/api3" <<'PY' || fail "status over the control socket"
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b'{"cmd":"status"}\n'); st = json.loads(s.makefile().readline())
assert st["ok"] and st["state"] == "running" and st["backend"] == "sim", st
PY
rc=0; wait "$run_pid" || rc=$?
[ "$rc" -eq 0 ] || fail "the source exited $rc after a resuming save"
expect_rc 0 "$TERN" restore "$d/vm2.img" --console "$d/dst2.console"
grep -q "errors=0" "$d/dst2.console" || fail "second restore: $(tail -2 "$d/dst2.console")"

note "quit over the socket stops the VM (exit 0)"
"$TERN" run --backend sim --memory 32M --cmdline "passes=0 mib=4" --api "$d/api4" --console - & run_pid=$!
wait_for 10 test -S "$d/api4" || fail "the control socket never appeared"
python3 - "$d/api4" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
for cmd in (b"pause", b"resume", b"quit"):
    s.sendall(b'{"cmd":"%s"}\n' % cmd); assert '"ok":true' in s.makefile().readline()
PY
rc=0; wait "$run_pid" || rc=$?
[ "$rc" -eq 0 ] || fail "quit: exit $rc"

note "guest errors and refused images"
expect_rc 0 "$TERN" run --backend sim --memory 32M --cmdline "passes=3 mib=2" --console -
expect_rc 1 "$TERN" run --backend sim --memory 32M --cmdline "passes=3 mib=2 inject=2" --console -
expect_rc 1 "$TERN" run --backend sim --memory 32M --cmdline "mib=0" --console -
head -c 100000 "$d/vm.img" >"$d/short.img"
expect_rc 4 "$TERN" restore "$d/short.img" --console -
grep -q "offset" <<<"$LAST_ERR" || fail "truncation refusal names no offset: $LAST_ERR"
expect_rc 2 "$TERN" restore "$d/missing.img" --console -
echo "ok"
