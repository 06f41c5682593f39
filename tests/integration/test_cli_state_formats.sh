#!/usr/bin/env bash
# tern inspect / verify on the two state formats: domain-context blobs
# (seed 000) and xenstore migration images (seed 003), auto-detected and
# named, valid and corrupted (truncation everywhere, header fields, trailing
# bytes): a corrupted image exits 1 naming the offset, never crashes.
source "$(dirname "$0")/lib.sh"
need_tern
T="$(tmpdir)"
DOMCTX="$TERN_SOURCE_DIR/fuzz/corpus/fuzz_domctx/two_vcpus"
XS="$TERN_SOURCE_DIR/tests/vectors/xenstore/c-xenstored-4.17-full.bin"

note "domctx: auto-detected, decoded, verified"
out="$("$TERN" inspect "$DOMCTX")"
grep -q "^domain context: 5864 bytes, version 1" <<<"$out" || fail "inspect text: $out"
grep -q "2 vCPUs" <<<"$out" || fail "inspect did not count vCPUs: $out"
"$TERN" inspect --json "$DOMCTX" >"$T/d.json"
python3 - "$T/d.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["format"] == "domctx", d
names = [r["name"] for r in d["records"]]
assert names[0] == "HEADER" and names[-1] == "END", names
assert d["summary"]["vcpus"] == 2, d["summary"]
PY
out="$("$TERN" verify --format domctx "$DOMCTX")" || fail "verify rejected a valid blob"
grep -q "2 vCPUs" <<<"$out" || fail "verify summary: $out"

note "domctx: truncations (every 104 bytes: mid-descriptor, mid-body, at boundaries) are refused with an offset"
size=$(stat -c %s "$DOMCTX")
for ((n = 0; n < size; n += 104)); do
  head -c "$n" "$DOMCTX" >"$T/cut"
  expect_rc 1 "$TERN" verify --format domctx "$T/cut"
  grep -qi "offset" <<<"$LAST_ERR" || fail "truncation at $n: message names no offset: $LAST_ERR"
done
note "domctx: bad magic, reserved flag bit, trailing byte"
cp "$DOMCTX" "$T/bad"; printf 'XXXX' | dd of="$T/bad" bs=1 seek=16 conv=notrunc status=none
expect_rc 1 "$TERN" verify --format domctx "$T/bad"
cp "$DOMCTX" "$T/bad"; printf '\x02' | dd of="$T/bad" bs=1 seek=4 conv=notrunc status=none
expect_rc 1 "$TERN" verify --format domctx "$T/bad"
cp "$DOMCTX" "$T/bad"; printf '\0' >>"$T/bad"
expect_rc 1 "$TERN" verify --format domctx "$T/bad"
grep -qi "after the END" <<<"$LAST_ERR" || fail "trailing byte: $LAST_ERR"

note "xenstore: Xen's C xenstored image, auto-detected"
out="$("$TERN" inspect "$XS")"
grep -q "^xenstore image: version 1" <<<"$out" || fail "inspect text: $out"
grep -q "NODE_DATA" <<<"$out" || fail "no node count: $out"
"$TERN" inspect --json "$XS" >"$T/x.json"
python3 - "$T/x.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["format"] == "xenstore", d
assert any(r["type"] == "NODE_DATA" for r in d["record_list"]), "--json lists every node"
PY
out="$("$TERN" verify "$XS")" || fail "verify rejected Xen's image"
grep -q "connections" <<<"$out" || fail "verify summary: $out"

note "xenstore: truncations (every 40 bytes) and a bad version are refused"
size=$(stat -c %s "$XS")
for ((n = 0; n < size; n += 40)); do
  head -c "$n" "$XS" >"$T/cut"
  expect_rc 1 "$TERN" verify --format xenstore "$T/cut"
done
cp "$XS" "$T/bad"; printf '\x09' | dd of="$T/bad" bs=1 seek=11 conv=notrunc status=none
expect_rc 1 "$TERN" verify --format xenstore "$T/bad"

note "a domctx blob named as xenstore is refused, not misread"
expect_rc 1 "$TERN" verify --format xenstore "$DOMCTX"
echo "PASS"
