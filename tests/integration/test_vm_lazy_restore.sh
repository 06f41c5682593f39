#!/usr/bin/env bash
# Lazy restore through the CLI, on the sim backend and (when /dev/kvm is
# usable) KVM: tern save writes the image (O_DIRECT where possible), Xen's
# verifier accepts it, tern restore maps every page payload (pages.mapped ==
# pages.data) and the guest finishes its passes with zero errors while the
# image stays byte-identical; a pipe and --copy read instead of mapping; a
# truncated or corrupted image is refused (exit 4) before the guest runs a
# single instruction (its console stays empty).
source "$(dirname "$0")/lib.sh"
need_tern
command -v python3 >/dev/null || skip "python3 is missing"
d="$(tmpdir)"

json_get() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval("d"+sys.argv[1]))' "$1"; }

backends="sim"
if python3 -c 'import os; os.close(os.open("/dev/kvm", os.O_RDWR))' 2>/dev/null; then
  backends="sim kvm"
else
  note "no usable /dev/kvm: KVM part skipped, sim only"
fi

for b in $backends; do
  note "$b: run, save --stop"
  guest="passes=40 mib=16 ws=16 pause=20000 io=gp"
  "$TERN" run --backend "$b" --memory 64M --vcpus 2 --cmdline "$guest" \
    --api "$d/$b.api" --console "$d/$b.src" & run_pid=$!
  wait_for 20 test -S "$d/$b.api" || fail "$b: the control socket never appeared"
  wait_for 60 grep -q "^pass 3:" "$d/$b.src" || fail "$b: the guest did not start: $(cat "$d/$b.src")"
  "$TERN" save --api "$d/$b.api" --stop --json "$d/$b.img" >"$d/$b.save.json" || fail "$b: tern save failed"
  rc=0; wait "$run_pid" || rc=$?
  [ "$rc" -eq 0 ] || fail "$b: tern run exited $rc after save --stop"
  grep -q "tern-guest: done" "$d/$b.src" && fail "$b: the source finished before it was saved"
  data="$(json_get '["pages"]["data"]' <"$d/$b.save.json")"
  [ "$(stat -c %s "$d/$b.img")" -eq "$(json_get '["bytes"]' <"$d/$b.save.json")" ] || fail "$b: size"
  if [ -f "$XEN_BIN/verify-stream-v2" ]; then
    xen_verify_stream -f xl -i "$d/$b.img" >"$d/xen.log" 2>&1 \
      || fail "$b: Xen's verify-stream-v2 rejected the image: $(tail -3 "$d/xen.log")"
  fi
  sum="$(sha256sum <"$d/$b.img")"

  note "$b: lazy restore (traced)"
  TERN_TRACE=1 "$TERN" restore "$d/$b.img" --console "$d/$b.dst" --json >"$d/$b.restore.json" \
    2>"$d/$b.restore.err" || fail "$b: tern restore exited $?: $(tail -3 "$d/$b.dst")"
  grep -q "tern-guest: done, passes=40 errors=0" "$d/$b.dst" \
    || fail "$b: the restored guest did not finish clean: $(tail -3 "$d/$b.dst")"
  [ "$(json_get '["pages"]["data"]' <"$d/$b.restore.json")" -eq "$data" ] || fail "$b: page count"
  [ "$(json_get '["pages"]["mapped"]' <"$d/$b.restore.json")" -eq "$data" ] \
    || fail "$b: not every page was mapped: $(cat "$d/$b.restore.json")"
  [ "$(sha256sum <"$d/$b.img")" = "$sum" ] || fail "$b: the restored guest's writes reached the image"
  # The phase trace: in --json, and as a timeline on stderr (TERN_TRACE).
  python3 - "$b" "$d/$b.restore.json" <<'PY' || fail "$b: restore trace: $(cat "$d/$b.restore.json")"
import json, sys
backend, path = sys.argv[1:3]
r = json.load(open(path))
phases = {s["phase"] for s in r["trace"]}
need = {"main", "restore.open_image", "restore.validate_pass", "restore.create_domain",
        "restore.apply_pages", "restore.check_state"}
if backend == "kvm":
    need |= {"kvm.create_vm", "kvm.create_irqchip_pit", "kvm.create_vcpus", "kvm.register_slots",
             "kvm.load_state", "kvm.vcpu0.first_run"}
    assert r["times_ms"]["to_first_run"] > 0, r["times_ms"]
assert need <= phases, sorted(need - phases)
assert all(s["ms"] >= 0 and s["at_ms"] >= 0 for s in r["trace"])
for k in ("validate", "create", "read", "state", "map_file", "to_running"):
    assert r["times_ms"][k] >= 0, k
PY
  grep -q "restore.validate_pass" "$d/$b.restore.err" || fail "$b: TERN_TRACE printed no timeline"

  note "$b: restore from a pipe, and --copy"
  cat "$d/$b.img" | "$TERN" restore - --console "$d/$b.pipe" --json >"$d/$b.pipe.json" \
    || fail "$b: restore from a pipe exited $?"
  grep -q "errors=0" "$d/$b.pipe" || fail "$b: pipe restore: $(tail -2 "$d/$b.pipe")"
  [ "$(json_get '["pages"]["mapped"]' <"$d/$b.pipe.json")" -eq 0 ] || fail "$b: a pipe was mapped?"
  "$TERN" restore "$d/$b.img" --copy --console "$d/$b.copy" --json >"$d/$b.copy.json" \
    || fail "$b: restore --copy exited $?"
  grep -q "errors=0" "$d/$b.copy" || fail "$b: --copy restore: $(tail -2 "$d/$b.copy")"
  [ "$(json_get '["pages"]["mapped"]' <"$d/$b.copy.json")" -eq 0 ] || fail "$b: --copy mapped pages"

  note "$b: bad images are refused before anything runs"
  "$TERN" inspect --json "$d/$b.img" >"$d/$b.inspect.json"
  python3 - "$d/$b.img" "$d/$b.inspect.json" "$d/$b" <<'PY'
import json, sys
img, insp, out = sys.argv[1:4]
data = bytearray(open(img, "rb").read())
recs = json.load(open(insp))["records"]
pages = [r for r in recs if r["type_name"] == "PAGE_DATA"]
last = pages[-1]["offset"]
cut = last + 8 + pages[-1]["length"] // 2
assert cut < len(data)
open(out + ".cut", "wb").write(data[:cut])                   # truncated in the last page record
b = bytearray(data); b[last + 16 + 7] = 0xd0                  # last record's first pfn: BROKEN
open(out + ".broken", "wb").write(b)
ctx = [r for r in recs if r["type_name"] == "HVM_CONTEXT"][0]["offset"]
b = bytearray(data); b[ctx + 8] ^= 0xff                      # the state blob's header
open(out + ".state", "wb").write(b)
PY
  for v in cut broken state; do
    rm -f "$d/$b.$v.con"
    TERN_TRACE=1 expect_rc 4 "$TERN" restore "$d/$b.$v" --console "$d/$b.$v.con"
    grep -q "offset" <<<"$LAST_ERR" || fail "$b: $v: refusal names no offset: $LAST_ERR"
    [ ! -s "$d/$b.$v.con" ] || fail "$b: $v: the guest ran: $(head -2 "$d/$b.$v.con")"
    # The domain was being created meanwhile, yet no vCPU ever entered the guest.
    grep -q "restore.create_domain" <<<"$LAST_ERR" || fail "$b: $v: no domain creation traced"
    if grep -q "first_run" <<<"$LAST_ERR"; then fail "$b: $v: a vCPU ran: $LAST_ERR"; fi
  done
done
echo "ok"
