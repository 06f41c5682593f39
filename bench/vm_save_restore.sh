#!/usr/bin/env bash
# Save and restore of filled 256 MiB / 1 GiB / 4 GiB guests: tern (KVM
# backend when /dev/kvm is usable, else sim) next to QEMU 7.2 (-accel kvm,
# bench/qemu_vm.py) on the same built-in guest, as one table.
#   tern: save (guest paused, and until the image is durable), the VMM's peak
#         RSS and what the save added to it, restore to running (lazy: median
#         and min of 5, and to vCPU 0's first KVM_RUN) with its breakdown,
#         restore --copy, peak RSS.
#   QEMU: migrate "exec:cat > FILE" (total and downtime), restore cold and
#         with -mem-prealloc (pre-faulted).
# usage: vm_save_restore.sh BUILD_DIR
#   TERN_BENCH_SIZES  sizes (default "256M,1G,4G")
#   TERN_BENCH_QEMU   0 skips QEMU
set -euo pipefail
build="${1:?usage: vm_save_restore.sh BUILD_DIR}"
root="$(cd "$(dirname "$0")/.." && pwd)"
tern="$build/bin/tern"
elf="$build/guest/tern-guest.elf"
sizes="$(echo "${TERN_BENCH_SIZES:-256M,1G,4G}" | tr ' ' ',')"
[ -x "$tern" ] || { echo "SKIP: $tern is not built"; exit 0; }
work="$(mktemp -d "${TMPDIR:-/tmp}/tern-vm-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

if python3 -c 'import os; os.close(os.open("/dev/kvm", os.O_RDWR))' 2>/dev/null; then
  backend=kvm
else
  backend=sim
  echo "note: /dev/kvm is not usable here: tern runs on its sim backend, QEMU is skipped"
fi
echo "tern backend: $backend; sizes: $sizes"
python3 "$root/bench/tern_vm.py" run --tern "$tern" --sizes "$sizes" --backend "$backend" >"$work/tern.json"

qemu_json=""
if [ "$backend" = kvm ] && [ "${TERN_BENCH_QEMU:-1}" != 0 ]; then
  if command -v "${QEMU:-qemu-system-x86_64}" >/dev/null; then
    python3 "$root/bench/qemu_vm.py" save-restore --elf "$elf" --sizes "$sizes" --dirty-mib 0 --json \
      >"$work/qemu.json" || echo "note: the QEMU baseline failed"
    qemu_json="$work/qemu.json"
  else
    echo "note: ${QEMU:-qemu-system-x86_64} is not installed: no QEMU baseline"
  fi
fi
python3 "$root/bench/tern_vm.py" table "$work/tern.json" $qemu_json
if grep -Eq '"(restore_)?error"' "$work/tern.json"; then
  echo "vm_save_restore: a tern run failed"
  exit 1
fi
