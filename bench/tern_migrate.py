#!/usr/bin/env python3
"""tern live migration next to QEMU 7.2, on the same built-in guest.

  tern_migrate.py --tern BUILD/bin/tern --elf BUILD/guest/tern-guest.elf
                  [--sizes 256M,1G] [--dirty-mib 0,64] [--no-qemu]

For each guest size, idle (all RAM written once, then a long pause) and
dirtying (a 64 MiB working set rewritten continuously): `tern run` as the
source, `tern receive` as the destination (loopback TCP), `tern migrate
--json`; reports tern's total time, downtime (source pause -> destination
committed and running), rounds, bytes, and the peak RSS (VmHWM) of both
VMMs beside the guest size. Then bench/qemu_vm.py migrate on the same sizes
and guests in QEMU's default and best configurations. Every process is
started here and stopped by PID.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import qemu_vm  # noqa: E402  (same guest command lines, same size parsing)
from tern_vm import request as api, wait_console  # noqa: E402  (control socket, console waits)


class HwmWatcher(threading.Thread):
    """Samples a process's VmHWM until it exits (VmHWM only grows)."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.kib, self.stop = pid, 0, False

    def run(self):
        while not self.stop:
            try:
                for line in open(f"/proc/{self.pid}/status"):
                    if line.startswith("VmHWM:"):
                        self.kib = max(self.kib, int(line.split()[1]))
            except OSError:
                return
            time.sleep(0.02)


def tern_run(args, size, dirty):
    out = {"tool": "tern", "size": size, "dirty_mib": dirty}
    cmdline = qemu_vm.guest_cmdline(size, dirty)
    with tempfile.TemporaryDirectory(prefix="tern-mig-bench.") as d:
        port = qemu_vm.free_port()
        procs = []
        try:
            dst = subprocess.Popen([args.tern, "receive", "--listen", f"tcp://127.0.0.1:{port}", "--api",
                                    f"{d}/dst.sock", "--console", f"{d}/dst.console", "--json"],
                                   stdout=open(f"{d}/recv.out", "w"), stderr=open(f"{d}/recv.err", "w"))
            procs.append(dst)
            src = subprocess.Popen([args.tern, "run", "--backend", args.backend, "--memory", str(size), "--cmdline",
                                    cmdline, "--api", f"{d}/src.sock", "--console", f"{d}/src.console"],
                                   stdout=subprocess.DEVNULL, stderr=open(f"{d}/src.err", "w"))
            procs.append(src)
            hw_src, hw_dst = HwmWatcher(src.pid), HwmWatcher(dst.pid)
            hw_src.start()
            hw_dst.start()
            wait_console(f"{d}/src.console", "pass 1:", src, 300)
            t0 = time.monotonic()
            r = subprocess.run([args.tern, "migrate", "--api", f"{d}/src.sock", "--to", f"tcp://127.0.0.1:{port}",
                                "--json", "--timeout", str(args.timeout)], capture_output=True, text=True)
            wall = time.monotonic() - t0
            summary = [json.loads(l) for l in r.stdout.splitlines() if '"summary"' in l]
            if r.returncode != 0 or not summary:
                out["error"] = (r.stderr.strip().splitlines() or ["no summary"])[-1]
                return out
            s = summary[-1]
            out.update(wall_s=wall, total_ms=s.get("total_ms"), downtime_ms=s.get("downtime_ms"),
                       rounds=s.get("rounds"), bytes=s.get("bytes"), stop=s.get("stop_reason"))
            src.wait(timeout=30)
            # The destination runs the guest (an idle guest prints nothing until its pause ends).
            for _ in range(600):
                if os.path.exists(f"{d}/dst.sock") and api(f"{d}/dst.sock", {"cmd": "status"}).get("state") == "running":
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError("the destination did not report a running guest")
            out["src_rss_mib"] = hw_src.kib >> 10
            out["dst_rss_mib"] = hw_dst.kib >> 10
            try:
                api(f"{d}/dst.sock", {"cmd": "quit"})
            except OSError:
                pass
            dst.wait(timeout=30)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
    return out


def fmt(r):
    return " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tern", required=True)
    ap.add_argument("--elf", required=True)
    ap.add_argument("--sizes", default="256M,1G")
    ap.add_argument("--dirty-mib", default="0,64")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--timeout", type=int, default=60)
    ap.add_argument("--no-qemu", action="store_true")
    ap.add_argument("--qemu-configs", default="default,bandwidth,multifd2,bandwidth+dl50,multifd2+dl50")
    args = ap.parse_args()
    for size in [qemu_vm.parse_size(s) for s in args.sizes.split(",")]:
        for dirty in [int(x) for x in args.dirty_mib.split(",")]:
            try:
                print(fmt(tern_run(args, size, dirty)), flush=True)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                print(fmt({"tool": "tern", "size": size, "dirty_mib": dirty, "error": str(e)}), flush=True)
    if args.no_qemu or not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("QEMU comparison skipped" + ("" if args.no_qemu else ": no /dev/kvm"))
        return 0
    q = subprocess.run([sys.executable, os.path.join(HERE, "qemu_vm.py"), "migrate", "--elf", args.elf, "--sizes",
                        args.sizes, "--dirty-mib", args.dirty_mib, "--configs", args.qemu_configs, "--destinations",
                        "cold", "--timeout", str(args.timeout)])
    return q.returncode


if __name__ == "__main__":
    sys.exit(main())
