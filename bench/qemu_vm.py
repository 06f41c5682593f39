#!/usr/bin/env python3
"""QEMU 7.2 baselines for tern's VM benchmarks, on the same built-in guest.

  qemu_vm.py save-restore --elf GUEST --sizes 256M,1G [--json]
  qemu_vm.py migrate      --elf GUEST --sizes 256M,1G [--dirty-mib 64] [--json]

save-restore: boots the guest under `-accel kvm`, saves it with
`migrate "exec:cat > FILE"` (max-bandwidth raised), then restores it in a
fresh QEMU with `migrate-incoming "exec:cat FILE"`, cold and with the
destination's memory pre-faulted (-mem-prealloc). Times are measured from
the QMP command to the state change (save: migration completed; restore:
the VM running).

migrate: live-migrates the guest between two QEMUs over loopback TCP in the
configurations the issue names (default; max-bandwidth raised; multifd with
2 channels; each also with downtime-limit 50 ms), idle and dirtying, and
reports total time (migrate command -> destination running) and downtime
(source STOP event -> destination RESUME event, from the QMP events' own
timestamps), with QEMU's self-reported total-time and downtime (which end
when the source has sent the last byte) alongside.

Every QEMU is started by this script, talks QMP on a unix socket in a private
temporary directory, and is stopped by PID. Prints one line per run, or JSON.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

QEMU = os.environ.get("QEMU", "qemu-system-x86_64")
HUGE_BW = 100 * 1024 * 1024 * 1024  # bytes/s: "raised bandwidth"


def parse_size(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    s = s.strip().upper()
    return int(s[:-1]) * mult[s[-1]] if s[-1] in mult else int(s)


class Qmp:
    def __init__(self, path, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"QMP socket {path} did not come up")
                time.sleep(0.02)
        self.buf = b""
        self.events = []  # QMP events seen so far, in order (each with its timestamp)
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._read()
            if "event" in r:
                self.events.append(r)
                continue
            if "error" in r:
                raise RuntimeError(f"QMP {name}: {r['error']}")
            return r.get("return")

    def event_time(self, name, timeout=5.0):
        """Wall-clock time (s) of the first `name` event, waiting up to
        `timeout` for it; QEMU stamps events when it emits them."""
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events:
                if e["event"] == name:
                    return e["timestamp"]["seconds"] + e["timestamp"]["microseconds"] / 1e6
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"no QMP {name} event within {timeout}s")
            self.sock.settimeout(left)
            try:
                r = self._read()
            finally:
                self.sock.settimeout(None)
            if "event" in r:
                self.events.append(r)


class Vm:
    def __init__(self, workdir, name, elf, mem, cmdline, incoming=False, prealloc=False):
        self.qmp_path = os.path.join(workdir, f"{name}.qmp")
        self.serial = os.path.join(workdir, f"{name}.serial")
        args = [QEMU, "-machine", "q35", "-accel", "kvm", "-cpu", "host,-arch-capabilities",
                "-m", str(mem >> 20), "-nodefaults", "-display", "none",
                "-serial", f"file:{self.serial}",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
                "-kernel", elf, "-append", cmdline,
                "-qmp", f"unix:{self.qmp_path},server=on,wait=off"]
        if prealloc:
            args += ["-mem-prealloc"]
        if incoming:
            args += ["-incoming", "defer"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(
            os.path.join(workdir, f"{name}.stderr"), "w"))
        self.qmp = Qmp(self.qmp_path)

    def wait_serial(self, text, timeout=120.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if text in open(self.serial, errors="replace").read():
                    return
            except FileNotFoundError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"QEMU exited ({self.proc.returncode}) before '{text}'")
            time.sleep(0.05)
        raise RuntimeError(f"guest did not print '{text}' within {timeout}s")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()  # by PID (Popen), never by name
        self.proc.wait()

    def rss_kib(self):
        try:
            for line in open(f"/proc/{self.proc.pid}/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0


def poll(fn, timeout, interval=0.001):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = fn()
        if r is not None:
            return r
        time.sleep(interval)
    raise RuntimeError("timed out")


def wait_migration(qmp, timeout):
    def done():
        r = qmp.cmd("query-migrate")
        st = r.get("status")
        if st == "completed":
            return r
        if st in ("failed", "cancelled"):
            raise RuntimeError(f"migration {st}: {r.get('error-desc', '')}")
        return None
    return poll(done, timeout, 0.005)


def guest_cmdline(mem, dirty_mib):
    """Idle: the guest writes (almost) all its memory once (fill_mib), then
    sits in a long pause, so RAM is non-zero data to move. Dirtying: it
    rewrites a dirty_mib working set continuously (the rest stays zero).
    io=gp: under PVM a ring-3 `int` raises #UD, so port I/O goes through the
    guest's #GP trap path."""
    if dirty_mib:
        return f"passes=0 mib={dirty_mib} ws={dirty_mib} pause=0 io=gp"
    return f"passes=0 mib={fill_mib(mem)} ws={fill_mib(mem)} pause=1000000000 io=gp"


def fill_mib(mem):
    """MiB the idle guest fills: all but 16 MiB, in one region below 2 GiB.
    The guest's region must lie in one RAM range; above 2 GiB of RAM, q35
    (QEMU) keeps only 2 GiB below 4 GiB (tern's KVM layout 3 GiB), so a
    4 GiB guest is filled to 2032 MiB in both, the rest left untouched."""
    return min((mem >> 20) - 16, 2032)


def save_restore(args, size, dirty_mib):
    out = {"tool": "qemu", "size": size, "dirty_mib": dirty_mib}
    with tempfile.TemporaryDirectory(prefix="tern-qemu-bench.") as d:
        img = os.path.join(d, "vm.img")
        src = Vm(d, "src", args.elf, size, guest_cmdline(size, dirty_mib))
        try:
            src.wait_serial("pass 1:")
            src.qmp.cmd("migrate-set-parameters", **{"max-bandwidth": HUGE_BW})
            t0 = time.monotonic()
            src.qmp.cmd("migrate", uri=f"exec:cat > {img}")
            r = wait_migration(src.qmp, 600)
            out["save_s"] = time.monotonic() - t0
            out["save_downtime_ms"] = r.get("downtime")
            out["image_bytes"] = os.path.getsize(img)
        finally:
            src.stop()
        for mode, prealloc in (("cold", False), ("prefaulted", True)):
            dst = Vm(d, f"dst-{mode}", args.elf, size, guest_cmdline(size, dirty_mib), incoming=True,
                     prealloc=prealloc)
            try:
                t0 = time.monotonic()
                dst.qmp.cmd("migrate-incoming", uri=f"exec:cat {img}")
                poll(lambda: True if dst.qmp.cmd("query-status")["status"] == "running" else None, 600)
                out[f"restore_{mode}_s"] = time.monotonic() - t0
                out[f"restore_{mode}_rss_mib"] = dst.rss_kib() >> 10
            finally:
                dst.stop()
    return out


CONFIGS = {
    "default": {},
    "bandwidth": {"max-bandwidth": HUGE_BW},
    "multifd2": {"max-bandwidth": HUGE_BW, "multifd": 2},
    "bandwidth+dl50": {"max-bandwidth": HUGE_BW, "downtime-limit": 50},
    "multifd2+dl50": {"max-bandwidth": HUGE_BW, "multifd": 2, "downtime-limit": 50},
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def migrate(args, size, dirty_mib, config, prealloc):
    conf = CONFIGS[config]
    out = {"tool": "qemu", "size": size, "dirty_mib": dirty_mib, "config": config,
           "destination": "prefaulted" if prealloc else "cold"}
    with tempfile.TemporaryDirectory(prefix="tern-qemu-bench.") as d:
        cmdline = guest_cmdline(size, dirty_mib)
        src = Vm(d, "src", args.elf, size, cmdline)
        dst = Vm(d, "dst", args.elf, size, cmdline, incoming=True, prealloc=prealloc)
        try:
            src.wait_serial("pass 1:")
            params = {k: v for k, v in conf.items() if k != "multifd"}
            if "multifd" in conf:
                for vm in (src, dst):
                    vm.qmp.cmd("migrate-set-capabilities",
                               capabilities=[{"capability": "multifd", "state": True}])
                    vm.qmp.cmd("migrate-set-parameters", **{"multifd-channels": conf["multifd"]})
            if params:
                src.qmp.cmd("migrate-set-parameters", **params)
            port = free_port()
            dst.qmp.cmd("migrate-incoming", uri=f"tcp:127.0.0.1:{port}")
            t0 = time.monotonic()
            t0_wall = time.time()
            src.qmp.cmd("migrate", uri=f"tcp:127.0.0.1:{port}")
            try:
                r = wait_migration(src.qmp, args.timeout)
            except RuntimeError as e:
                src.qmp.cmd("migrate_cancel")
                out["error"] = "did not converge within %ds" % args.timeout if "timed out" in str(e) else str(e)
                return out
            poll(lambda: True if dst.qmp.cmd("query-status")["status"] == "running" else None, 60)
            out["wall_s"] = time.monotonic() - t0
            # The guest's pause as the issue defines it, the same way as for
            # tern: source stop -> destination running, from the STOP event
            # of the source and the RESUME event of the destination; total:
            # the migrate command -> destination running. QEMU's own figures
            # (its downtime ends when the source has sent the last byte, its
            # total-time when the source completes) are kept as self_*.
            stopped, resumed = src.qmp.event_time("STOP"), dst.qmp.event_time("RESUME")
            out["downtime_ms"] = round((resumed - stopped) * 1e3, 2)
            out["total_ms"] = round((resumed - t0_wall) * 1e3, 1)
            out["self_total_ms"] = r.get("total-time")
            out["self_downtime_ms"] = r.get("downtime")
            out["bytes"] = r.get("ram", {}).get("transferred")
            out["src_rss_mib"] = src.rss_kib() >> 10
            out["dst_rss_mib"] = dst.rss_kib() >> 10
        finally:
            src.stop()
            dst.stop()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["save-restore", "migrate"])
    ap.add_argument("--elf", required=True)
    ap.add_argument("--sizes", default="256M,1G")
    ap.add_argument("--dirty-mib", default="0,64", help="comma list: 0 = idle")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--destinations", default="cold,prefaulted")
    ap.add_argument("--timeout", type=int, default=60, help="seconds before a migration counts as not converging")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: QEMU baseline needs /dev/kvm")
        return 0
    results = []
    for size in [parse_size(s) for s in args.sizes.split(",")]:
        for dirty in [int(x) for x in args.dirty_mib.split(",")]:
            if args.mode == "save-restore":
                runs = [lambda: save_restore(args, size, dirty)]
            else:
                runs = [(lambda c=c, p=p: migrate(args, size, dirty, c, p == "prefaulted"))
                        for c in args.configs.split(",") for p in args.destinations.split(",")]
            for run in runs:
                try:
                    r = run()
                except RuntimeError as e:
                    r = {"tool": "qemu", "size": size, "dirty_mib": dirty, "error": str(e)}
                results.append(r)
                if not args.json:
                    print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()),
                          flush=True)
    if args.json:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
