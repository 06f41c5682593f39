#!/usr/bin/env bash
# vm_migrate.sh BUILD_DIR: tern live migration (total time, downtime,
# rounds, bytes, peak RSS of both VMMs) next to QEMU 7.2 in its default and
# best configurations, on the same built-in guest, idle and dirtying 64 MiB.
# TERN_BENCH_SIZES (default "256M 1G") picks the guest sizes, e.g. "256M 1G 4G".
set -euo pipefail
build="${1:?usage: vm_migrate.sh BUILD_DIR}"
here="$(cd "$(dirname "$0")" && pwd)"
sizes="${TERN_BENCH_SIZES:-256M 1G}"
exec python3 "$here/tern_migrate.py" --tern "$build/bin/tern" --elf "$build/guest/tern-guest.elf" \
  --sizes "${sizes// /,}" --dirty-mib 0,64 --timeout 60
