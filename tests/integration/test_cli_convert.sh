#!/usr/bin/env bash
# tern convert --to v3: v2 streams (bare, libxl, xl; PV and HVM; with
# checkpoints) become v3 streams that tern verify and Xen's verifier accept,
# with STATIC_DATA_END where v2 implies it; failures leave no output file.
source "$(dirname "$0")/lib.sh"
need_tern
d="$(tmpdir)"
have_xen=1
[ -f "$XEN_BIN/verify-stream-v2" ] || have_xen=0

for type in hvm pv; do
  for format in libxc libxl xl; do
    for cp in 0 2; do
      in="$d/$type-$format-$cp-v2.img"; out="$d/$type-$format-$cp-v3.img"
      "$TERN" synth --type "$type" --version 2 --format "$format" --pages 500 --checkpoints "$cp" "$in"
      "$TERN" convert --to v3 "$in" "$out" || fail "convert $in"
      "$TERN" verify -q "$out" || fail "tern verify rejected converted $out"
      "$TERN" inspect --json "$out" >"$d/out.json"
      python3 - "$d/out.json" <<'PY' || fail "converted $out: wrong version or STATIC_DATA_END"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["libxc_header"]["version"] == 3, doc["libxc_header"]
s = doc["libxc_summary"]
assert s["records_by_type"]["STATIC_DATA_END"]["count"] == 1, s["records_by_type"]
assert not s["static_data_end"]["inferred"]
recs = [r for r in doc["records"] if r["layer"] == "libxc"]
names = [r["type_name"] for r in recs]
first_data = "PAGE_DATA" if doc["libxc_header"]["domain_type"] == "x86 HVM" else "X86_PV_P2M_FRAMES"
assert names.index("STATIC_DATA_END") == names.index(first_data) - 1, names[:8]
PY
      if [ "$have_xen" = 1 ] && { [ "$cp" = 0 ] || [ "$format" = libxc ]; }; then
        xen_verify_stream -f "$format" -i "$out" >/dev/null 2>&1 || fail "verify-stream-v2 rejected converted $out"
      fi
    done
  done
done

# A v3 input converts to identical bytes.
"$TERN" synth --format xl --version 3 --pages 100 "$d/v3.img"
"$TERN" convert --to v3 "$d/v3.img" "$d/v3-again.img"
cmp -s "$d/v3.img" "$d/v3-again.img" || fail "converting a v3 image changed it"

# Pipes work both ways.
"$TERN" convert --to v3 - - <"$d/hvm-xl-0-v2.img" >"$d/piped.img"
cmp -s "$d/piped.img" "$d/hvm-xl-0-v3.img" || fail "piped conversion differs from file conversion"

# A truncated input fails with exit 1 and leaves neither OUT nor a partial file.
head -c 100000 "$d/hvm-xl-0-v2.img" >"$d/cut.img"
mkdir "$d/outdir"
expect_rc 1 "$TERN" convert --to v3 "$d/cut.img" "$d/outdir/out.img"
[ -z "$(ls -A "$d/outdir")" ] || fail "failed convert left files behind: $(ls -A "$d/outdir")"
echo "convert: ok"
