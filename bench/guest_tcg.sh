#!/usr/bin/env bash
# Figures for the built-in guest under QEMU's TCG (no KVM needed):
# wall time of a minimal boot (1 pass over 1 MiB) and of PASSES passes over
# MIB MiB, medians of RUNS runs, and the workload's rate from the difference.
# Usage: bench/guest_tcg.sh [BUILD_DIR]   (env: MIB=64 PASSES=3 RUNS=3)
set -euo pipefail
build="${1:-build}"
guest="$build/guest/tern-guest.elf"
mib="${MIB:-64}" passes="${PASSES:-3}" runs="${RUNS:-3}"
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: qemu-system-x86_64 not installed"; exit 0; }
[ -f "$guest" ] || { echo "error: $guest not built" >&2; exit 2; }
mem=$((mib + 64))
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# median wall seconds of RUNS boots with the given command line
median() {
  local times=() status
  for _ in $(seq "$runs"); do
    local t0 t1
    t0=$(date +%s%N)
    status=0
    timeout 600 qemu-system-x86_64 -machine q35 -accel tcg -m "$mem" -nodefaults -display none -no-reboot \
      -serial "file:$log" -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$guest" -append "$1" </dev/null ||
      status=$?
    t1=$(date +%s%N)
    [ "$status" -eq 1 ] || { echo "error: '$1' exited $status" >&2; cat "$log" >&2; exit 1; }
    times+=($(((t1 - t0) / 1000000)))
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p"
}

boot_ms=$(median "passes=1 mib=1")
work_ms=$(median "passes=$passes mib=$mib")
net_ms=$((work_ms - boot_ms))
# each pass writes MIB MiB and (from pass 2, plus the final check) verifies MIB MiB
touched=$((mib * passes * 2))
echo "guest under TCG: boot+1MiB ${boot_ms} ms; passes=$passes mib=$mib ${work_ms} ms wall," \
  "${net_ms} ms beyond boot, $((net_ms > 0 ? touched * 1000 / net_ms : 0)) MiB/s written+verified"
