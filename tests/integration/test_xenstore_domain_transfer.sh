#!/bin/bash
# One domain's xenstore state moved between two tern-xenstored daemons with
# `tern xenstore export` / `tern xenstore import --domid`: its nodes (read
# back with Xen's xenstore-ls), its connection with a watch, an open
# transaction, and the replies and watch event the source had not sent yet.
# The imported connection waits parked, survives a live update of the
# destination, and is then taken over by a client (CONTROL tern-as-domain)
# that receives what it was owed, in order, and commits the transaction.
. "$(dirname "$0")/xenstored_lib.sh"
[ -n "${TERN:-}" ] && [ -x "$TERN" ] || { echo "SKIP: tern binary not built"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 is missing"; exit 77; }
[ -x "$XEN_BIN/xenstore-control" ] || { echo "SKIP: Xen's xenstore-control is not unpacked"; exit 77; }

# Source daemon: the default one of xenstored_lib.sh.
xs_start
SRC="$XENSTORED_PATH"
# Destination daemon in its own run directory.
DST_DIR="$XS_DIR/dst"; mkdir -p "$DST_DIR"
XENSTORED_RUNDIR="$DST_DIR" XENSTORED_PATH="$DST_DIR/socket" "$TERN_XENSTORED" -N 2>"$DST_DIR/daemon.log" &
DST_PID=$!
trap 'kill $DST_PID 2>/dev/null; wait $DST_PID 2>/dev/null; xs_stop; rm -rf "$XS_DIR"' EXIT
for _ in $(seq 100); do [ -S "$DST_DIR/socket" ] && break; sleep 0.05; done
DST="$DST_DIR/socket"
on() { local sock="$1"; shift; XENSTORED_PATH="$sock" xs "$@"; }

on "$SRC" xenstore-write /local/domain/5/name guest5 /local/domain/5/device/vif/0/state 4 \
  /local/domain/5/big-node "$(head -c 3000 /dev/zero | tr '\0' b)"
on "$SRC" xenstore-chmod -r /local/domain/5 n5 r0
on "$DST" xenstore-write /local/domain/0/name Domain-0

# The guest: watches its device subtree, opens a transaction, writes in it,
# and sends 300 requests whose (3000-byte) replies it does not read.
cat >"$XS_DIR/guest.py" <<'EOF'
import sys, json
sys.path.insert(0, sys.argv[1])
from xs_wire_client import Client
c = Client(sys.argv[2])
assert c.call("CONTROL", "tern-as-domain", "5")[0] == "OK"
assert c.call("WATCH", "device", "dev")[0] == "OK"
c.wait_events(1)
tx = int(c.call("TRANSACTION_START", "")[1].rstrip(b"\0"))
assert c.call("WRITE", raw=b"data/from-txn\0committed later", tx=tx)[0] == "OK"
# Requests whose replies it does not read: most stay queued in the daemon
# and travel with the connection.
import struct, time
c.s.sendall(b"".join(struct.pack("<IIII", 2, 1000 + i, 0, 9) + b"big-node\0" for i in range(300)))
time.sleep(0.5)
print(json.dumps({"tx": tx}), flush=True)
sys.stdin.readline()  # hold the connection until the export is done
EOF
coproc GUEST { python3 "$XS_DIR/guest.py" "$TERN_SOURCE_DIR/tests/integration" "$SRC"; }
read -r -t 20 line <&"${GUEST[0]}"
tx="$(sed -n 's/.*"tx": \([0-9]*\).*/\1/p' <<<"$line")"
expect "guest opened a transaction" "yes" "$([ -n "$tx" ] && echo yes)"
on "$SRC" xenstore-write /local/domain/5/device/vif/0/mac 00:16:3e:00:00:01  # event queued behind the replies

"$TERN" xenstore export 5 "$XS_DIR/dom5.img" --socket "$SRC" >"$XS_DIR/export.out" 2>&1
expect "export succeeds" "0" "$?"
cat "$XS_DIR/export.out"
expect "export reports the connection" "yes" "$(grep -q '1 connections, 1 watches, 1 transactions' "$XS_DIR/export.out" && echo yes)"
"$TERN" verify --format xenstore "$XS_DIR/dom5.img" >/dev/null
expect "the export is a valid xenstore image" "0" "$?"
echo done >&"${GUEST[1]}"

"$TERN" xenstore import "$XS_DIR/dom5.img" --domid 7 --socket "$DST" >"$XS_DIR/import.out" 2>&1
expect "import under domid 7 succeeds" "0" "$?"
expect "nodes moved to /local/domain/7" "guest5" "$(on "$DST" xenstore-read /local/domain/7/name)"
expect "values kept" "00:16:3e:00:00:01" "$(on "$DST" xenstore-read /local/domain/7/device/vif/0/mac)"
expect "owner renumbered" "yes" "$(on "$DST" xenstore-ls -p /local/domain | grep -q '^7 .*(n7,r0)' && echo yes)"
expect "the source is unchanged" "guest5" "$(on "$SRC" xenstore-read /local/domain/5/name)"
"$TERN" xenstore import "$XS_DIR/dom5.img" --domid 7 --socket "$DST" >"$XS_DIR/again.out" 2>&1
expect "a second import is refused" "1" "$?"
expect "and says why" "yes" "$(grep -q 'already exists' "$XS_DIR/again.out" && echo yes)"

# The parked connection survives a live update of the destination.
XENSTORED_PATH="$DST" XENSTORED_RUNDIR="$DST_DIR" xs xenstore-control live-update "$TERN_XENSTORED" >/dev/null 2>&1
expect "destination live update succeeds" "0" "$?"

cat >"$XS_DIR/takeover.py" <<'EOF'
import socket, struct, sys
sys.path.insert(0, sys.argv[1])
from xs_wire_client import Client
c = Client(sys.argv[2])
tx = int(sys.argv[3])
payload = b"tern-as-domain\0" + b"7\0"
c.send_raw(struct.pack("<IIII", 0, 1, 0, len(payload)) + payload)
t, r, _, p = c.recv_msg()
print("takeover", r, p)
# Then the replies it was owed: the READs the source had not sent yet, in order.
reqs, sizes, events = [], set(), []
c.s.settimeout(2)
try:
    while not reqs or reqs[-1] != 1299:
        t, r, _, p = c.recv_msg()
        if t == 15:
            events.append(p)
            continue
        reqs.append(r)
        sizes.add(len(p))
except socket.timeout:
    pass
contiguous = bool(reqs) and reqs == list(range(reqs[0], 1300))
print("owed", "in order" if contiguous else reqs[:5], "sizes", sorted(sizes), "some" if len(reqs) > 50 else len(reqs))
print("events", events)
c.req = 1
print("commit", c.call("TRANSACTION_END", "T", tx=tx))
print("relative read", c.call("READ", "data/from-txn"))
print("foreign write", c.call("WRITE", "/local/domain/0/name", "x"))
EOF
out="$(python3 "$XS_DIR/takeover.py" "$TERN_SOURCE_DIR/tests/integration" "$DST" "$tx" 2>&1)"
echo "$out"
expect "a client takes the connection over" "takeover 1 b'OK\\x00'" "$(grep '^takeover' <<<"$out")"
expect "replies the source had queued arrive, in order" "owed in order sizes [3000] some" "$(grep '^owed' <<<"$out")"
expect "the watch event queued behind them arrives, and nothing else" \
  "events [b'device/vif/0/mac\\x00dev\\x00']" "$(grep '^events' <<<"$out")"
expect "the transaction commits" "commit ('OK', b'OK\\x00')" "$(grep '^commit' <<<"$out")"
expect "its write is there, under the new domid" "committed later" "$(on "$DST" xenstore-read /local/domain/7/data/from-txn)"
expect "it is an unprivileged guest now" "foreign write ('ERR', 'EACCES')" "$(grep '^foreign' <<<"$out")"
expect "destination still alive" "yes" "$(kill -0 "$DST_PID" 2>/dev/null && echo yes)"
xs_finish
