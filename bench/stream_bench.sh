#!/usr/bin/env bash
# Stream throughput on a 1 GiB synthetic HVM guest (1024-page batches):
#   tern synth  -> file (atomic: includes fsync) and -> /dev/null
#   tern verify (read + validate, warm cache, best of 3)
#   Xen's verify-stream-v2 on the same file (best of 3), and cat FILE > /dev/null
# usage: stream_bench.sh BUILD_DIR   (STREAM_BENCH_SIZE=1G by default)
set -euo pipefail
build="${1:?usage: stream_bench.sh BUILD_DIR}"
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/xen-env.sh"
tern="$build/bin/tern"
size="${STREAM_BENCH_SIZE:-1G}"
work="$(mktemp -d "${TMPDIR:-/tmp}/tern-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
img="$work/hvm.img"

# seconds CMD...: wall time of one run, in seconds (6 decimals).
seconds() {
  local t0 t1
  t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", (b - a) / 1e9 }'
}
best_of_3() {
  local best="" s
  for _ in 1 2 3; do
    s=$(seconds "$@")
    if [ -z "$best" ] || awk -v s="$s" -v b="$best" 'BEGIN { exit !(s < b) }'; then best=$s; fi
  done
  echo "$best"
}

write_file=$(seconds "$tern" synth --type hvm --size "$size" --batch 1024 "$img")
bytes=$(stat -c %s "$img")
write_null=$(best_of_3 "$tern" synth --type hvm --size "$size" --batch 1024 /dev/null)
"$tern" verify -q "$img" || { echo "stream_bench: tern verify rejected the benchmark image" >&2; exit 1; }
cat "$img" >/dev/null   # warm the page cache
verify=$(best_of_3 "$tern" verify -q "$img")
catt=$(best_of_3 cat "$img")
if [ -f "$XEN_BIN/verify-stream-v2" ]; then
  xen=$(best_of_3 xen_verify_stream -f libxc -i "$img")
else
  xen=""
fi

rate() { awk -v b="$bytes" -v s="$1" 'BEGIN { if (s > 0) printf "%8.2f GB/s", b / s / 1e9; else print "      n/a" }'; }
row() { printf "  %-44s %10s s  %s\n" "$1" "$2" "$(rate "$2")"; }
echo "stream benchmark: synthetic x86 HVM libxc v3 stream, $size guest, $bytes bytes, 1024-page batches"
row "tern synth -> file (incl. fsync + rename)" "$write_file"
row "tern synth -> /dev/null (best of 3)" "$write_null"
row "tern verify (warm cache, best of 3)" "$verify"
if [ -n "$xen" ]; then row "Xen verify-stream-v2 (best of 3)" "$xen"; else echo "  Xen verify-stream-v2: not available (scripts/fetch-xen-tools)"; fi
row "cat FILE > /dev/null (best of 3)" "$catt"
if [ -n "$xen" ]; then
  awk -v x="$xen" -v t="$verify" 'BEGIN { printf "  tern verify is %.1fx faster than verify-stream-v2 (target >= 2x)\n", x / t }'
fi
awk -v c="$catt" -v t="$verify" 'BEGIN { printf "  tern verify takes %.2fx the time of cat\n", t / c }'
