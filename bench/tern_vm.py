#!/usr/bin/env python3
"""tern's side of bench/vm_save_restore.sh, and the table that puts it next
to QEMU's (bench/qemu_vm.py save-restore --json).

  tern_vm.py run   --tern BIN --sizes 256M,1G --backend kvm|sim [--restores 5]
  tern_vm.py table TERN_JSON [QEMU_JSON]

run: per size, boots the built-in guest filled with data (the same command
line qemu_vm.py uses: passes=0 mib=<size-16, at most 2032> ws=<same>
pause=1000000000 io=gp), waits for "pass 1:", saves it with `tern save --json` (the guest
resumes), reads the VMM's memory figures from /proc/PID/status, quits it,
then restores the image: lazily (the default) `--restores` times, and once
with --copy after reading the image into the page cache (as QEMU's restore
finds its image: `cat` wrote it through the page cache). Every tern it
starts is stopped through its control socket, or by PID.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def parse_size(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    s = s.strip().upper()
    return int(s[:-1]) * mult[s[-1]] if s[-1] in mult else int(s)


def fill_mib(size):
    """As qemu_vm.py: all but 16 MiB, in one region below 2 GiB (4 GiB
    guests are filled to 2032 MiB: the guest's region must lie in one RAM
    range, and QEMU's q35 has only 2 GiB below 4 GiB at that size)."""
    return min((size >> 20) - 16, 2032)


def guest_cmdline(size):
    fill = fill_mib(size)
    return f"passes=0 mib={fill} ws={fill} pause=1000000000 io=gp"


def status(pid):
    """VmHWM, VmRSS, RssAnon, RssFile, RssShmem of a process, in KiB."""
    out = {}
    try:
        for line in open(f"/proc/{pid}/status"):
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"):
                out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def request(api, cmd, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(api)
            break
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise RuntimeError(f"control socket {api} did not come up")
            time.sleep(0.02)
    with s:
        s.settimeout(timeout)
        s.sendall(json.dumps(cmd).encode() + b"\n")
        return json.loads(s.makefile().readline())


def wait_console(path, text, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if text in open(path, errors="replace").read():
                return
        except FileNotFoundError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"tern exited ({proc.returncode}) before '{text}'")
        time.sleep(0.05)
    raise RuntimeError(f"the guest did not print '{text}' within {timeout}s")


def stop(proc, api):
    if proc.poll() is None:
        try:
            request(api, {"cmd": "quit"}, timeout=10)
        except (OSError, RuntimeError, ValueError):
            pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()  # by PID (Popen), never by name
        proc.wait()


def restore(args, img, d, name, extra):
    """Starts `tern restore`, times it to its JSON line (printed once the VM
    runs), reads its memory figures, stops it."""
    api = os.path.join(d, f"{name}.api")
    # The trace origin (tern's --json "trace"): now, so its "exec" phase
    # covers process start and dynamic loading.
    env = dict(os.environ, TERN_TRACE_T0_NS=str(time.monotonic_ns()))
    t0 = time.monotonic()
    p = subprocess.Popen([args.tern, "restore", img, "--json", "--api", api, "--console", "-"] + extra,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = p.stdout.readline()
        wall = time.monotonic() - t0
        if not line:
            raise RuntimeError(f"tern restore {' '.join(extra)} failed: {p.stderr.read().strip()}")
        r = json.loads(line)
        mem = status(p.pid)
    finally:
        stop(p, api)
    t = r["times_ms"]
    return {"to_running_ms": t["to_running"], "wall_ms": wall * 1e3,
            "validate_ms": t.get("validate"), "create_ms": t.get("create"),
            "read_ms": t.get("read"), "state_ms": t.get("state"), "resume_ms": t.get("resume"),
            "to_first_run_ms": t.get("to_first_run"),
            "exec_to_first_run_ms": t.get("origin_to_first_run"),
            "exec_to_command_ms": t.get("origin_to_command"),
            "trace": r.get("trace"),
            "mapped_pages": r["pages"].get("mapped"), "data_pages": r["pages"]["data"],
            "hwm_kib": mem.get("VmHWM", 0)}


def run_size(args, size):
    out = {"tool": "tern", "backend": args.backend, "size": size, "filled_mib": fill_mib(size)}
    with tempfile.TemporaryDirectory(prefix="tern-vm-bench.") as d:
        img = os.path.join(d, "vm.img")
        api = os.path.join(d, "src.api")
        con = os.path.join(d, "src.console")
        p = subprocess.Popen([args.tern, "run", "--backend", args.backend, "--memory", str(size),
                              "--cmdline", guest_cmdline(size), "--api", api, "--console", con],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_console(con, "pass 1:", p, 600)
            before = status(p.pid)
            t0 = time.monotonic()
            s = subprocess.run([args.tern, "save", "--api", api, "--json", img] + args.save_args,
                               capture_output=True, text=True, timeout=600)
            wall = time.monotonic() - t0
            if s.returncode != 0:
                raise RuntimeError(f"tern save failed: {s.stderr.strip()}")
            after = status(p.pid)
        finally:
            stop(p, api)
        r = json.loads(s.stdout)
        t = r["times_ms"]
        out.update({
            "save_paused_ms": t["paused"],
            # Older tern had no "durable" (its total ended before fsync and
            # rename): the command's wall time is the closest figure then.
            "save_durable_ms": t.get("durable", wall * 1e3),
            "save_wall_ms": wall * 1e3,
            "image_bytes": r["bytes"], "bytes_direct": r.get("bytes_direct"),
            "data_pages": r["pages"]["data"],
            "rss_before_kib": before.get("VmRSS", 0),
            "guest_rss_kib": before.get("RssShmem", 0) if args.backend == "kvm" else before.get("RssAnon", 0),
            "hwm_after_save_kib": after.get("VmHWM", 0),
        })
        # What the save added to the VMM at its peak, beyond what it held
        # (the guest's memory included) just before.
        out["save_extra_kib"] = max(0, out["hwm_after_save_kib"] - out["rss_before_kib"])
        try:
            lazy = [restore(args, img, d, f"lazy{i}", []) for i in range(args.restores)]
        except RuntimeError as e:
            out["restore_error"] = str(e)
            return out
        out["restore_lazy"] = lazy
        out["restore_lazy_ms"] = statistics.median(x["to_running_ms"] for x in lazy)
        out["restore_lazy_min_ms"] = min(x["to_running_ms"] for x in lazy)
        first = [x["to_first_run_ms"] for x in lazy if x.get("to_first_run_ms") is not None]
        if first:
            out["restore_lazy_first_run_ms"] = statistics.median(first)
            out["restore_lazy_first_run_min_ms"] = min(first)
        out["restore_lazy_wall_ms"] = statistics.median(x["wall_ms"] for x in lazy)
        out["restore_lazy_hwm_kib"] = max(x["hwm_kib"] for x in lazy)
        subprocess.run(["cat", img], stdout=subprocess.DEVNULL, check=True)  # into the page cache
        try:
            c = restore(args, img, d, "copy", ["--copy"])
            out["restore_copy_ms"] = c["to_running_ms"]
            out["restore_copy_hwm_kib"] = c["hwm_kib"]
        except RuntimeError as e:
            out["restore_copy_error"] = str(e)
    return out


def cmd_run(args):
    results = []
    for size in [parse_size(s) for s in args.sizes.replace(" ", ",").split(",") if s]:
        try:
            results.append(run_size(args, size))
        except (RuntimeError, subprocess.TimeoutExpired, ValueError, KeyError) as e:
            results.append({"tool": "tern", "backend": args.backend, "size": size, "error": str(e)})
    print(json.dumps(results, indent=1))
    return 0


def fmt_ms(v, digits=0):
    return "-" if v is None else f"{v:.{digits}f}"


def mib(kib):
    return "-" if kib is None else f"{kib / 1024:.0f}"


def cmd_table(args):
    tern = json.load(open(args.tern_json))
    qemu = []
    if args.qemu_json and os.path.exists(args.qemu_json):
        try:
            qemu = json.load(open(args.qemu_json))
        except ValueError:
            qemu = []
    sizes = sorted({r["size"] for r in tern} | {r["size"] for r in qemu})
    print("Save and restore of a filled guest (all times in ms; RSS in MiB)")
    print()
    hdr = ["guest", "tool", "save: paused", "save: durable/total", "image MiB",
           "VMM peak RSS", "of it guest", "extra in save", "restore to running",
           "restore: copy all / prefaulted", "restore peak RSS"]
    rows = []
    for size in sizes:
        g = f"{size >> 20} MiB ({fill_mib(size)} filled)"
        for r in [x for x in tern if x["size"] == size]:
            if "error" in r:
                rows.append([g, f"tern ({r['backend']})", "error: " + r["error"]] + [""] * 8)
                continue
            if "restore_error" in r:
                lazy_range = "error: " + r["restore_error"][-90:]
                r = dict(r, restore_lazy_hwm_kib=None)
            else:
                lazy_range = f"{r['restore_lazy_ms']:.1f} (min {r['restore_lazy_min_ms']:.1f})"
                if "restore_lazy_first_run_ms" in r:
                    lazy_range += (f"; first KVM_RUN {r['restore_lazy_first_run_ms']:.1f}"
                                   f" (min {r['restore_lazy_first_run_min_ms']:.1f})")
            rows.append([g, f"tern ({r['backend']})", fmt_ms(r["save_paused_ms"]),
                         fmt_ms(r["save_durable_ms"]), f"{r['image_bytes'] / 2**20:.0f}",
                         mib(r["hwm_after_save_kib"]), mib(r["guest_rss_kib"]),
                         mib(r["save_extra_kib"]), lazy_range,
                         fmt_ms(r.get("restore_copy_ms")) + " (copy, image cached)",
                         f"{mib(r['restore_lazy_hwm_kib'])} lazy / {mib(r.get('restore_copy_hwm_kib'))} copy"])
        for r in [x for x in qemu if x["size"] == size]:
            if "error" in r:
                rows.append([g, "qemu 7.2", "error: " + r["error"]] + [""] * 8)
                continue
            rows.append([g, "qemu 7.2", fmt_ms(r.get("save_downtime_ms")) + " (downtime)",
                         fmt_ms(r["save_s"] * 1e3), f"{r['image_bytes'] / 2**20:.0f}",
                         "-", "-", "-", fmt_ms(r["restore_cold_s"] * 1e3) + " (cold)",
                         fmt_ms(r["restore_prefaulted_s"] * 1e3) + " (prefaulted)",
                         f"{r.get('restore_cold_rss_mib', '-')} cold / {r.get('restore_prefaulted_rss_mib', '-')} pref."])
    widths = [max(len(str(x)) for x in col) for col in zip(hdr, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    print(line(hdr))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    print()
    for r in tern:
        if "restore_lazy" in r:
            parts = ", ".join(
                f"validate {x['validate_ms']:.1f} / create {x['create_ms']:.1f} / read {x['read_ms']:.1f}"
                f" / state {x['state_ms']:.1f} / resume {x['resume_ms'] or 0:.1f}"
                f" -> {x['to_running_ms']:.1f} (first KVM_RUN {fmt_ms(x.get('to_first_run_ms'), 1)},"
                f" wall {x['wall_ms']:.0f})"
                for x in r["restore_lazy"] if x.get("validate_ms") is not None)
            if parts:
                print(f"tern {r['size'] >> 20} MiB lazy restores: {parts}; "
                      f"{r['restore_lazy'][0]['mapped_pages']} of {r['restore_lazy'][0]['data_pages']} pages mapped")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("run")
    r.add_argument("--tern", required=True)
    r.add_argument("--sizes", default="256M,1G,4G")
    r.add_argument("--backend", default="kvm", choices=["kvm", "sim"])
    r.add_argument("--restores", type=int, default=5)
    r.add_argument("--save-arg", dest="save_args", action="append", default=[],
                   help="extra argument for tern save (e.g. --buffered)")
    t = sub.add_parser("table")
    t.add_argument("tern_json")
    t.add_argument("qemu_json", nargs="?")
    args = ap.parse_args()
    return cmd_run(args) if args.mode == "run" else cmd_table(args)


if __name__ == "__main__":
    sys.exit(main())
