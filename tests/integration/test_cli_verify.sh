#!/usr/bin/env bash
# tern verify rejects corrupted images with exit 1 and an error naming the
# offset; exit 2 on usage and I/O errors; inspect --json is valid JSON.
source "$(dirname "$0")/lib.sh"
need_tern
d="$(tmpdir)"
here="$(cd "$(dirname "$0")" && pwd)"

img="$d/good.img"
"$TERN" synth --type hvm --version 3 --format xl --pages 700 --batch 256 --xenstore-data "$img"
"$TERN" verify "$img" >/dev/null || fail "tern verify rejected its own synthetic image"
"$TERN" inspect --json "$img" >"$d/good.json"
python3 -m json.tool "$d/good.json" >/dev/null || fail "inspect --json is not valid JSON"
"$TERN" inspect "$img" >"$d/good.txt"
grep -q "pfn range: 0x0-0x2bb" "$d/good.txt" || fail "inspect text lacks the pfn range: $(cat "$d/good.txt")"
# stdin input (a pipe, detected by peeking) gives the same verdict.
"$TERN" verify - <"$img" >/dev/null || fail "tern verify - (stdin) rejected the image"
cat "$img" | "$TERN" inspect --json - | python3 -m json.tool >/dev/null || fail "inspect of a pipe failed"

mkdir "$d/bad"
python3 "$here/corrupt.py" "$img" "$d/good.json" "$d/bad"
count=0
while read -r name; do
  [ -n "$name" ] || continue
  expect_rc 1 "$TERN" verify "$d/bad/$name.img"
  grep -q "offset" <<<"$LAST_ERR" || fail "$name: error does not name an offset: $LAST_ERR"
  [ "$(wc -l <<<"$LAST_ERR")" -eq 1 ] || fail "$name: error is not one line: $LAST_ERR"
  # inspect reports the same failure (exit 1) and still prints valid JSON
  # (checked on every 4th variant: process start-ups dominate this test).
  count=$((count+1))
  [ $((count % 4)) -eq 0 ] || continue
  rc=0; "$TERN" inspect --json "$d/bad/$name.img" >"$d/bad.json" 2>/dev/null || rc=$?
  [ "$rc" -eq 1 ] || fail "$name: inspect exit $rc, expected 1"
  python3 -m json.tool "$d/bad.json" >/dev/null || fail "$name: inspect --json output is not JSON"
done <"$d/bad/list"
[ "$count" -gt 50 ] || fail "only $count corrupted variants generated"

# Usage and I/O errors: exit 2.
expect_rc 2 "$TERN" verify "$d/does-not-exist.img"
expect_rc 2 "$TERN" verify
expect_rc 2 "$TERN" verify --format nosuch "$img"
expect_rc 2 "$TERN" verify "$d"            # a directory: read fails
expect_rc 2 "$TERN" convert --to v4 "$img" "$d/x.img"
expect_rc 2 "$TERN" synth --type arm "$d/x.img"
# Wrong --format: the named reader rejects it (exit 1).
expect_rc 1 "$TERN" verify --format libxc "$img"
: >"$d/empty.img"
expect_rc 1 "$TERN" verify "$d/empty.img"

echo "verify: $count corrupted variants rejected with offsets; usage errors exit 2"
