"""Clients that hold state across a tern-xenstored live update, driven by
commands on stdin (one per line), answering one line each on stdout:

  prepare K   open a watch, two transactions (one to be disturbed), a half-sent
              request, and a client with hundreds of unread replies queued
  disturb K   change the node the second transaction read (it must then fail)
  verify K    the half-sent request completes; every queued reply arrives once
              and in order; the watch fires; the first transaction commits and
              its write is visible, the second fails with EAGAIN
  quit

Answers: "ok ..." or "FAIL why". Used by test_xenstore_live_update.sh."""
import socket
import struct
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from xs_wire_client import TYPES, Client  # noqa: E402

FLOOD = 400          # requests sent without reading replies
BIG = "v" * 3000     # value each flood request reads back


def msg(typ, req, payload, tx=0):
    return struct.pack("<IIII", TYPES[typ], req, tx, len(payload)) + payload


def recvn(s, n):
    buf = b""
    while len(buf) < n:
        c = s.recv(n - len(buf))
        if not c:
            raise EOFError("connection closed")
        buf += c
    return buf


class Session:
    def __init__(self, path):
        self.path = path
        self.admin = Client(path)
        self.admin.call("WRITE", "/lu/big", BIG)
        self.admin.call("WRITE", "/lu/conflict", "0")
        # Parents exist up front: creating one later would (rightly) make the
        # transactions that add children to its parent conflict.
        for d in ("/lu/w", "/lu/txn", "/lu/never", "/lu/partial"):
            self.admin.call("MKDIR", d)

    def prepare(self, k):
        self.w = Client(self.path)
        ok, _ = self.w.call("WATCH", "/lu/w", f"tok{k}")
        if ok != "OK":
            return "FAIL watch"
        self.w.wait_events(1)  # the initial event
        self.t = Client(self.path)
        _, tx = self.t.call("TRANSACTION_START", "")
        self.tx = int(tx.rstrip(b"\0"))
        self.t.call("WRITE", f"/lu/txn/{k}", f"committed{k}", tx=self.tx)
        self.t.call("READ", "/lu/big", tx=self.tx)
        self.t2 = Client(self.path)
        _, tx2 = self.t2.call("TRANSACTION_START", "")
        self.tx2 = int(tx2.rstrip(b"\0"))
        self.t2.call("READ", "/lu/conflict", tx=self.tx2)
        self.t2.call("WRITE", f"/lu/never/{k}", "x", tx=self.tx2)
        # Half of a request: the rest is sent after the update.
        self.p = socket.socket(socket.AF_UNIX)
        self.p.settimeout(10)
        self.p.connect(self.path)
        self.partial = msg("WRITE", 77, f"/lu/partial/{k}\0p{k}".encode())
        self.p.sendall(self.partial[:11])
        # Hundreds of requests whose replies are not read yet: most of them
        # wait in the daemon's output queue while it is updated.
        self.f = socket.socket(socket.AF_UNIX)
        self.f.settimeout(10)
        self.f.connect(self.path)
        self.f.sendall(b"".join(msg("READ", i, b"/lu/big\0") for i in range(1, FLOOD + 1)))
        return "ok prepared"

    def disturb(self, k):
        self.admin.call("WRITE", "/lu/conflict", str(k))
        return "ok disturbed"

    def verify(self, k):
        self.p.sendall(self.partial[11:])
        t, r, _, ln = struct.unpack("<IIII", recvn(self.p, 16))
        recvn(self.p, ln)
        if (t, r) != (TYPES["WRITE"], 77):
            return f"FAIL partial request: reply type {t} req {r}"
        # Flood: every reply once, in order, with the value.
        for i in range(1, FLOOD + 1):
            t, r, _, ln = struct.unpack("<IIII", recvn(self.f, 16))
            body = recvn(self.f, ln)
            if t != TYPES["READ"] or r != i or body.rstrip(b"\0") != BIG.encode():
                return f"FAIL flood reply #{i}: type {t} req {r} len {ln}"
        self.f.settimeout(0.2)
        try:
            extra = self.f.recv(1)
            if extra:
                return "FAIL flood: a reply arrived twice"
        except socket.timeout:
            pass
        # Watch fires.
        self.admin.call("WRITE", f"/lu/w/x{k}", "1")
        ev = self.w.wait_events(1, timeout=5)
        if (f"/lu/w/x{k}", f"tok{k}") not in ev:
            return f"FAIL watch event missing: {ev}"
        # Transactions.
        ok, p = self.t.call("TRANSACTION_END", "T", tx=self.tx)
        if ok != "OK":
            return f"FAIL undisturbed transaction: {p}"
        ok, p = self.admin.call("READ", f"/lu/txn/{k}")
        if p.rstrip(b"\0") != f"committed{k}".encode():
            return f"FAIL committed value: {p}"
        ok, p = self.t2.call("TRANSACTION_END", "T", tx=self.tx2)
        if (ok, p) != ("ERR", "EAGAIN"):
            return f"FAIL disturbed transaction: {ok} {p}"
        ok, p = self.admin.call("READ", f"/lu/partial/{k}")
        if p != f"p{k}".encode():
            return f"FAIL partial write: {p}"
        for c in (self.w, self.t, self.t2):
            c.s.close()
        self.p.close()
        self.f.close()
        return "ok verified"


def main():
    s = Session(sys.argv[1])
    for line in sys.stdin:
        cmd, *arg = line.split()
        try:
            if cmd == "quit":
                print("ok bye", flush=True)
                return
            out = getattr(s, cmd)(int(arg[0]))
        except Exception as e:  # report, keep the protocol going
            out = f"FAIL {cmd}: {type(e).__name__}: {e}"
        print(out, flush=True)


if __name__ == "__main__":
    main()
