#!/usr/bin/env bash
# vm_migrate.sh BUILD_DIR: tern live migration next to QEMU 7.2 in one table
# (bench/tern_migrate.py): total time, downtime (source pause -> destination
# running) with its breakdown, and peak RSS of both VMMs, for every row of
# size x idle/dirtying x cold/prefaulted destination.
# Rows and repeats are selectable (the defaults run the full matrix):
#   TERN_BENCH_SIZES="256M 1G 4G"  TERN_BENCH_DIRTY="0 64"  TERN_BENCH_DEST="cold prefaulted"
#   TERN_BENCH_REPEAT=5  TERN_BENCH_QEMU_CONFIGS="bandwidth+dl50 multifd2+dl50"
#   (add default,bandwidth,multifd2 for QEMU's other configurations)
#   TERN_BENCH_QEMU_REPEAT=3  TERN_BENCH_NO_QEMU=1  TERN_BENCH_TIMEOUT=30 (s)
#   TERN_BENCH_MIGRATE_ARGS="--background-vcpus" (the default; empty: tern migrate's defaults)
set -euo pipefail
build="${1:?usage: vm_migrate.sh BUILD_DIR}"
here="$(cd "$(dirname "$0")" && pwd)"
commas() { local v="${1// /,}"; echo "${v//,,/,}"; }
for v in TERN_BENCH_SIZES TERN_BENCH_DIRTY TERN_BENCH_DEST TERN_BENCH_QEMU_CONFIGS; do
  if [[ -n "${!v:-}" ]]; then export "$v=$(commas "${!v}")"; fi
done
exec python3 "$here/tern_migrate.py" --tern "$build/bin/tern" --elf "$build/guest/tern-guest.elf"
