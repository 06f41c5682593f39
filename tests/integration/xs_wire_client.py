"""Minimal xenstore wire client for tests: one unix-socket connection,
request/reply with watch events kept aside."""
import socket
import struct

TYPES = {"CONTROL": 0, "DIRECTORY": 1, "READ": 2, "GET_PERMS": 3, "WATCH": 4, "UNWATCH": 5,
         "TRANSACTION_START": 6, "TRANSACTION_END": 7, "INTRODUCE": 8, "RELEASE": 9,
         "GET_DOMAIN_PATH": 10, "WRITE": 11, "MKDIR": 12, "RM": 13, "SET_PERMS": 14,
         "WATCH_EVENT": 15, "ERROR": 16, "IS_DOMAIN_INTRODUCED": 17, "RESUME": 18,
         "SET_TARGET": 19, "RESET_WATCHES": 21, "DIRECTORY_PART": 22, "GET_FEATURE": 23,
         "SET_FEATURE": 24, "GET_QUOTA": 25, "SET_QUOTA": 26}


class Closed(Exception):
    pass


class Client:
    def __init__(self, path, timeout=5.0):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.events = []
        self.req = 0

    def send_raw(self, data):
        self.s.sendall(data)

    def recv_msg(self):
        hdr = self._recvn(16)
        t, r, tx, ln = struct.unpack("<IIII", hdr)
        return t, r, tx, self._recvn(ln) if ln else b""

    def _recvn(self, n):
        buf = b""
        while len(buf) < n:
            c = self.s.recv(n - len(buf))
            if not c:
                raise Closed()
            buf += c
        return buf

    def call(self, typ, *args, tx=0, raw=None):
        """Sends a request (args joined as NUL-terminated strings unless raw);
        returns ('OK', payload) or ('ERR', name). Watch events are collected."""
        self.req += 1
        payload = raw if raw is not None else b"".join(
            (a.encode() if isinstance(a, str) else a) + b"\0" for a in args)
        self.s.sendall(struct.pack("<IIII", TYPES[typ], self.req, tx, len(payload)) + payload)
        while True:
            t, r, rtx, p = self.recv_msg()
            if t == TYPES["WATCH_EVENT"]:
                self.events.append(tuple(x.decode() for x in p.split(b"\0")[:2]))
                continue
            assert r == self.req, f"reply req_id {r} != {self.req}"
            if t == TYPES["ERROR"]:
                return ("ERR", p.rstrip(b"\0").decode())
            return ("OK", p)

    def wait_events(self, n, timeout=2.0):
        self.s.settimeout(timeout)
        try:
            while len(self.events) < n:
                t, _, _, p = self.recv_msg()
                if t == TYPES["WATCH_EVENT"]:
                    self.events.append(tuple(x.decode() for x in p.split(b"\0")[:2]))
        except (socket.timeout, Closed):
            pass
        self.s.settimeout(5.0)
        ev, self.events = self.events, []
        return ev
