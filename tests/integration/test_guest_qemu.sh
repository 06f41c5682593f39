#!/usr/bin/env bash
# Boots tern's built-in guest (build/guest/tern-guest.elf) under QEMU's TCG
# and checks its serial log and exit status (isa-debug-exit: status is
# (value << 1) | 1, value = error count, 0x40 bad config, 0x41 exception).
# Also checks that the Multiboot header's address fields agree with the ELF
# program header, since tern's own loader may use either.
set -euo pipefail

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
  echo "SKIP: qemu-system-x86_64 not installed"
  exit 77
fi
guest="${TERN_BUILD_DIR:?TERN_BUILD_DIR not set}/guest/tern-guest.elf"
[ -f "$guest" ] || { echo "FAIL: $guest not built"; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# boot NAME EXPECTED_STATUS APPEND...: runs the guest, leaves the log in $work/NAME.log
boot() {
  local name="$1" want="$2" append="$3" log="$work/$1.log" status=0
  timeout 120 qemu-system-x86_64 -machine q35 -accel tcg -m 128 -nodefaults -display none -no-reboot \
    -serial "file:$log" -device isa-debug-exit,iobase=0xf4,iosize=4 \
    -kernel "$guest" -append "$append" </dev/null || status=$?
  if [ "$status" -ne "$want" ]; then
    fail "$name ($append): QEMU exit status $status, expected $want"
    sed 's/^/  | /' "$log" 2>/dev/null || true
    return 1
  fi
  echo "ok: $name ($append) -> status $status"
}

# expect NAME REGEX: the log of NAME has a line matching REGEX (grep -E)
expect() {
  grep -Eq -- "$2" "$work/$1.log" || { fail "$1: no line matching /$2/"; sed 's/^/  | /' "$work/$1.log"; }
}

# 1. Multiboot header vs ELF program header.
python3 - "$guest" <<'PY' || fail "multiboot header does not match the ELF"
import struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:4] == b"\x7fELF" and data[4] == 1, "not ELF32"
e_entry, e_phoff = struct.unpack_from("<II", data, 24)
e_phentsize, e_phnum = struct.unpack_from("<HH", data, 42)
loads = [struct.unpack_from("<8I", data, e_phoff + i * e_phentsize) for i in range(e_phnum)]
loads = [p for p in loads if p[0] == 1]
assert len(loads) == 1, f"{len(loads)} PT_LOAD segments"
_, off, vaddr, paddr, filesz, memsz, _, _ = loads[0]
for mb in range(0, 8192, 4):
    magic, flags, csum = struct.unpack_from("<3I", data, mb)
    if magic == 0x1BADB002 and (magic + flags + csum) & 0xFFFFFFFF == 0:
        break
else:
    raise SystemExit("no Multiboot header in the first 8 KiB")
assert flags & 0x10002 == 0x10002, f"flags {flags:#x}"
header, load, load_end, bss_end, entry = struct.unpack_from("<5I", data, mb + 12)
assert load == paddr and header - load == mb - off, "header/load address vs file offset"
assert load_end - load == filesz and bss_end - load == memsz, "load_end/bss_end vs segment sizes"
assert entry == e_entry, "entry_addr vs e_entry"
print(f"ok: multiboot header at file offset {mb:#x}, load {load:#x}+{filesz:#x}, bss to {bss_end:#x}, entry {entry:#x}")
PY

# 2. Clean run: 3 passes over 8 MiB, port I/O through int 0x80.
if boot clean 1 "passes=3 mib=8"; then
  expect clean '^tern-guest: start passes=3 mib=8 ws=8 base=0x[0-9a-f]+ .*io=syscall.*\| memory: [0-9]+ MiB available'
  expect clean '^pass 1: wrote 8 MiB, verified 0 MiB, 0 errors$'
  expect clean '^pass 2: wrote 8 MiB, verified 8 MiB, 0 errors$'
  expect clean '^pass 3: wrote 8 MiB, verified 8 MiB, 0 errors$'
  expect clean '^final: verified 8 MiB, 0 errors$'
  expect clean '^tern-guest: done, passes=3 errors=0$'
  [ "$(grep -c '^pass ' "$work/clean.log")" -eq 3 ] || fail "clean: expected exactly 3 pass lines"
fi

# 3. A flipped bit after pass 2 is found by pass 3's verification: 1 error, status (1<<1)|1.
if boot inject 3 "passes=3 mib=8 inject=2"; then
  expect inject '^tern-guest: injected a flipped bit at 0x[0-9a-f]+ after pass 2$'
  expect inject '^tern-guest: mismatch at 0x[0-9a-f]+: expected 0x[0-9a-f]{16} \(pass 2\), found 0x[0-9a-f]{16}$'
  expect inject '^pass 2: wrote 8 MiB, verified 8 MiB, 0 errors$'
  expect inject '^pass 3: wrote 8 MiB, verified 8 MiB, 1 errors$'
  expect inject '^tern-guest: done, passes=3 errors=1$'
fi

# 4. Injected on the last pass: caught by the final verification.
if boot inject_last 3 "passes=2 mib=4 inject=2"; then
  expect inject_last '^final: verified 4 MiB, 1 errors$'
  expect inject_last '^tern-guest: done, passes=2 errors=1$'
fi

# 5. io=gp runs ring 3 with IOPL 0, so every in/out it executes raises #GP and
#    only the ring-0 emulation gets the output and the exit value out.
if boot io_gp 1 "passes=2 mib=2 io=gp"; then
  expect io_gp 'entering ring 3 \(io=gp, iopl=0\)'
  expect io_gp '^tern-guest: done, passes=2 errors=0$'
fi

# 6. io=direct: ring 3 does its own port I/O with IOPL 3.
if boot io_direct 1 "passes=2 mib=2 io=direct"; then
  expect io_direct '^tern-guest: done, passes=2 errors=0$'
fi

# 7. Working set smaller than the region, with a pause: each pass writes ws MiB
#    at a rotating offset and verifies everything written so far.
if boot ws 1 "passes=4 mib=8 ws=3 pause=1000"; then
  expect ws '^tern-guest: tsc [0-9]+ kHz'
  expect ws '^pass 3: wrote 3 MiB, verified 6 MiB, 0 errors$'
  expect ws '^pass 4: wrote 3 MiB, verified 8 MiB, 0 errors$'
fi

# 8. Ring 3 writing a kernel page faults (present|write|user), reported by the handler.
if boot fault_pf 131 "fault=pf"; then
  expect fault_pf '^tern-guest: exception 14 \(#PF\) error=0x7 rip=0x[0-9a-f]+ cs=0x23 .* ring=3$'
fi

# 9. Bad options are refused with a message naming them.
if boot bad_option 129 "passes=3 colour=blue"; then
  expect bad_option "^tern-guest: bad command line: unknown option 'colour=blue'$"
fi
if boot bad_region 129 "mib=4096"; then
  expect bad_region '^tern-guest: region 0x[0-9a-f]+-0x[0-9a-f]+ \(4096 MiB\) is not inside one available RAM range'
fi

# 10. balloon=N: QEMU has no tern hypercall ports (port 0xf40 reads all ones),
#     so the guest says so and runs without ballooning.
if boot balloon 1 "passes=2 mib=4 balloon=16,8"; then
  expect balloon '^tern-guest: start .* balloon=16,8 bbase=0x[0-9a-f]+ \| memory'
  expect balloon '^tern-guest: balloon: no tern VMM \(port 0xf40 reads 0xffffffff\), ballooning off$'
  expect balloon '^tern-guest: done, passes=2 errors=0$'
fi
if boot bad_balloon 129 "mib=8 balloon=65537"; then
  expect bad_balloon "^tern-guest: bad command line: balloon=65537 out of range 0..65536$"
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "all guest checks passed"
