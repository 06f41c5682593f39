"""Permission, quota, watch, transaction and robustness checks through
connections that act as unprivileged domains (CONTROL tern-as-domain)."""
import struct
import sys
import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from xs_wire_client import Client, Closed  # noqa: E402

SOCK = sys.argv[1]
fails = 0


def check(what, expected, actual):
    global fails
    if expected == actual:
        print(f"ok   {what}")
    else:
        fails += 1
        print(f"FAIL {what}: expected {expected!r}, got {actual!r}")


OK = ("OK", b"OK\0")
d0 = Client(SOCK)
check("mkdir domain home", OK, d0.call("MKDIR", "/local/domain/5"))
check("give home to dom5", OK, d0.call("SET_PERMS", "/local/domain/5", "n5"))

g = Client(SOCK)
check("act as dom5", OK, g.call("CONTROL", "tern-as-domain", "5"))
check("guest: read dom0 node denied", ("ERR", "EACCES"), g.call("READ", "/tool"))
check("guest: relative write", OK, g.call("WRITE", b"x\0" + b"1", raw=b"x\0" + b"1"))
check("guest: owns what it creates", ("OK", b"n5\0"), g.call("GET_PERMS", "x"))
check("guest: write outside home denied", ("ERR", "EACCES"), g.call("WRITE", raw=b"/local/domain/6/y\0v"))
check("guest: cannot give node away", ("ERR", "EPERM"), g.call("SET_PERMS", "x", "n6"))
check("guest: grant read to dom6", OK, g.call("SET_PERMS", "x", "n5", "r6"))
check("guest: INTRODUCE denied", ("ERR", "EACCES"), g.call("INTRODUCE", "9", "0", "0"))
check("guest: CONTROL denied", ("ERR", "EACCES"), g.call("CONTROL", "check"))
check("guest: GET_QUOTA denied", ("ERR", "EACCES"), g.call("GET_QUOTA"))
check("guest: domain path", ("OK", b"/local/domain/5\0"), g.call("GET_DOMAIN_PATH", "5"))

h = Client(SOCK)
check("act as dom6", OK, h.call("CONTROL", "tern-as-domain", "6"))
check("dom6 reads granted node", ("OK", b"1"), h.call("READ", "/local/domain/5/x"))
check("dom6 cannot write it", ("ERR", "EACCES"), h.call("WRITE", raw=b"/local/domain/5/x\0v"))
t = Client(SOCK)
check("act as dom7", OK, t.call("CONTROL", "tern-as-domain", "7"))
check("dom7 cannot read dom5's home", ("ERR", "EACCES"), t.call("DIRECTORY", "/local/domain/5"))
check("SET_TARGET 7 5", OK, d0.call("SET_TARGET", "7", "5"))
check("dom7 targets dom5: full access", ("OK", b"x\0"), t.call("DIRECTORY", "/local/domain/5"))

# watches: permission filtered, own events before the reply
check("dom0 watches dom5 home", OK, d0.call("WATCH", "/local/domain/5", "t0"))
check("guest watches /tool", OK, g.call("WATCH", "/tool", "gt"))
check("guest watches own home (relative)", OK, g.call("WATCH", "x", "gx"))
check("initial events", [("/tool", "gt"), ("x", "gx")], g.wait_events(2))
check("dom0 initial event", [("/local/domain/5", "t0")], d0.wait_events(1))
check("guest write", OK, g.call("WRITE", raw=b"x\0" + b"2"))
check("own event is relative, before reply", [("x", "gx")], g.events)
g.events = []
check("dom0 hears guest write", [("/local/domain/5/x", "t0")], d0.wait_events(1))
check("dom0 writes /tool/secret", OK, d0.call("WRITE", raw=b"/tool/secret\0s"))
check("guest not told about unreadable node", [], g.wait_events(1, timeout=0.3))

# quotas, set per domain
check("SET_QUOTA 5 nodes 3", OK, d0.call("SET_QUOTA", "5", "nodes", "3"))
check("GET_QUOTA 5 nodes", ("OK", b"3\0"), d0.call("GET_QUOTA", "5", "nodes"))
check("guest third node", OK, g.call("WRITE", raw=b"a\0"))
check("guest node quota", ("ERR", "ENOSPC"), g.call("WRITE", raw=b"b\0"))
check("dom0 is not limited", OK, d0.call("WRITE", raw=b"/local/domain/5/b\0"))
check("guest node-size quota", ("ERR", "ENOSPC"), g.call("WRITE", raw=b"x\0" + b"v" * 3000))
check("SET_QUOTA 5 watches 3", OK, d0.call("SET_QUOTA", "5", "watches", "3"))
check("guest third watch", OK, g.call("WATCH", "a", "w3"))
check("guest watch quota", ("ERR", "E2BIG"), g.call("WATCH", "a", "w4"))
check("duplicate watch", ("ERR", "EEXIST"), g.call("WATCH", "a", "w3"))
check("SET_QUOTA 5 transactions 1", OK, d0.call("SET_QUOTA", "5", "transactions", "1"))
st, tid = g.call("TRANSACTION_START", "")
check("guest transaction", "OK", st)
check("guest transaction quota", ("ERR", "ENOSPC"), g.call("TRANSACTION_START", ""))
tid = int(tid.rstrip(b"\0"))
check("write in transaction", OK, g.call("WRITE", raw=b"x\0t", tx=tid))
check("isolated from others", ("OK", b"2"), d0.call("READ", "/local/domain/5/x"))
check("conflicting write outside", OK, d0.call("WRITE", raw=b"/local/domain/5/x\0o"))
check("commit conflicts", ("ERR", "EAGAIN"), g.call("TRANSACTION_END", "T", tx=tid))
check("unknown transaction", ("ERR", "ENOENT"), g.call("READ", "x", tx=999))
check("path-max quota", ("ERR", "EINVAL"), g.call("WRITE", raw=b"a" * 2100 + b"\0"))

# special watches: @introduceDomain / @releaseDomain
w = Client(SOCK)
check("watch @introduceDomain", OK, w.call("WATCH", "@introduceDomain", "i"))
check("watch @releaseDomain", OK, w.call("WATCH", "@releaseDomain", "r"))
w.wait_events(2)
check("guest watch @introduceDomain", OK, h.call("WATCH", "@introduceDomain", "hi"))
h.wait_events(1)
check("INTRODUCE 9", OK, d0.call("INTRODUCE", "9", "4660", "3"))
check("@introduceDomain fired", [("@introduceDomain", "i")], w.wait_events(1))
check("unprivileged not told of @introduceDomain", [], h.wait_events(1, timeout=0.3))
check("IS_DOMAIN_INTRODUCED 9", ("OK", b"T\0"), d0.call("IS_DOMAIN_INTRODUCED", "9"))
check("RELEASE 9", OK, d0.call("RELEASE", "9"))
check("@releaseDomain fired", [("@releaseDomain", "r")], w.wait_events(1))
check("IS_DOMAIN_INTRODUCED 9 after release", ("OK", b"F\0"), d0.call("IS_DOMAIN_INTRODUCED", "9"))

# robustness: malformed requests get errors; bad framing drops the connection
r = Client(SOCK)
r.send_raw(struct.pack("<IIII", 99, 1, 0, 0))
t_, _, _, p_ = r.recv_msg()
check("unknown type -> ENOSYS", (16, b"ENOSYS\0"), (t_, p_))
check("READ without NUL", ("ERR", "EINVAL"), r.call("READ", raw=b"/tool"))
check("READ with two args", ("ERR", "EINVAL"), r.call("READ", "/tool", "x"))
check("empty path", ("ERR", "EINVAL"), r.call("READ", ""))
check("trailing slash", ("ERR", "EINVAL"), r.call("WRITE", raw=b"/a/\0v"))
check("bad character", ("ERR", "EINVAL"), r.call("WRITE", raw=b"/a b\0v"))
check("RM /", ("ERR", "EINVAL"), r.call("RM", "/"))
# a request in pieces is handled once complete
req = struct.pack("<IIII", 2, 77, 0, 6) + b"/tool\0"
r.send_raw(req[:7])
r.send_raw(req[7:])
t_, rid, _, p_ = r.recv_msg()
check("split request answered", (2, 77, b""), (t_, rid, p_))
r.send_raw(struct.pack("<IIII", 11, 1, 0, 5000) + b"x" * 5000)
try:
    r.recv_msg()
    dropped = False
except (Closed, ConnectionResetError):
    dropped = True
check("payload over 4096 drops the connection", True, dropped)
# many clients: some half-written, some with a bad header; the rest still served
socks = []
for i in range(300):
    c = Client(SOCK)
    if i % 3 == 0:
        c.send_raw(struct.pack("<IIII", 2, 1, 0, 6) + b"/to")
    elif i % 3 == 1:
        c.send_raw(b"\xff" * 16)
    socks.append(c)
served = sum(1 for c in socks[2::3] if c.call("READ", "/local/domain/5/x")[0] == "OK")
check("clients served next to broken ones", 100, served)
check("daemon still answers", OK, Client(SOCK).call("CONTROL", "check"))
sys.exit(1 if fails else 0)
