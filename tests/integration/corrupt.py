#!/usr/bin/env python3
"""Writes corrupted variants of a valid xl image for test_cli_verify.sh.

usage: corrupt.py IMAGE RECORDS_JSON OUTDIR
RECORDS_JSON is `tern inspect --json IMAGE` (record offsets and types).
Each variant is OUTDIR/<name>.img; OUTDIR/list holds the names."""
import json, struct, sys

src, inspect_json, outdir = sys.argv[1:4]
data = open(src, "rb").read()
doc = json.load(open(inspect_json))
recs = doc["records"]
variants = {}

def put(name, b):
    variants[name] = bytes(b)

def patch(off, fmt, value):
    b = bytearray(data)
    struct.pack_into(fmt, b, off, value)
    return b

# Truncation at every record boundary, inside every record header and body.
for r in recs:
    if r.get("inferred"):
        continue
    off, ln = r["offset"], r["length"]
    put(f"cut-at-{off}", data[:off])
    put(f"cut-hdr-{off}", data[:off + 4])
    if ln > 0:
        put(f"cut-body-{off}", data[:off + 8 + ln // 2])
put("cut-in-xl-header", data[:40])
put("cut-in-config", data[:60])
put("cut-before-end", data[:-1])

# Header fields.
xl = doc["xl_header"]
lx = doc["libxl_header"]["offset"]
xc = doc["libxc_header"]["offset"]
put("cut-in-libxl-header", data[:lx + 9])
put("cut-in-libxc-header", data[:xc + 30])
put("xl-magic", patch(0, "B", ord("Y")))
put("xl-byteorder", patch(32, ">I", 0x01020304))
put("xl-mandatory-flag", patch(36, "<I", 0x7))
put("xl-optlen", patch(44, "<I", xl["optional_data_len"] - 1))
put("libxl-ident", patch(lx, "B", 0))
put("libxl-version", patch(lx + 8, ">I", 3))
put("libxl-reserved-option", patch(lx + 12, ">I", 0x4))
put("libxc-marker", patch(xc, "B", 0xfe))
put("libxc-ident", patch(xc + 8, ">I", 0x58454E47))
put("libxc-version", patch(xc + 12, ">I", 4))
put("libxc-options", patch(xc + 16, ">H", 0x2))
put("libxc-domain-type", patch(xc + 24, "<I", 3))
put("libxc-page-shift", patch(xc + 28, "<H", 13))

# Bad padding in every record whose body is not a multiple of 8.
for r in recs:
    if r.get("inferred"):
        continue
    off, ln = r["offset"], r["length"]
    if ln % 8:
        put(f"pad-{off}", patch(off + 8 + ln, "B", 0xAA))

def rec_bytes(r):
    return data[r["offset"]: r["offset"] + 8 + ((r["length"] + 7) & ~7)]

def first(layer, name):
    return next(r for r in recs if r["layer"] == layer and r["type_name"] == name and not r.get("inferred"))

# Wrong ordering: swap STATIC_DATA_END and the first PAGE_DATA (v3 stream).
sde, pd = first("libxc", "STATIC_DATA_END"), first("libxc", "PAGE_DATA")
a, b = sorted([sde, pd], key=lambda r: r["offset"])
ab, bb = rec_bytes(a), rec_bytes(b)
mid = data[a["offset"] + len(ab): b["offset"]]
put("order-static-data-end", data[:a["offset"]] + bb + mid + ab + data[b["offset"] + len(bb):])
# A second libxc END... and a libxl CHECKPOINT_END outside any checkpoint.
end_libxl = [r for r in recs if r["layer"] == "libxl" and r["type_name"] == "END"][-1]
eo = end_libxl["offset"]
put("libxl-stray-checkpoint-end", data[:eo] + struct.pack("<II", 4, 0) + data[eo:])
put("libxl-second-libxc-context", data[:eo] + struct.pack("<II", 1, 0) + data[eo:])
put("trailing-data", data + b"\0" * 8)

# Unknown mandatory records, in each layer.
end_libxc = first("libxc", "END")
xo = end_libxc["offset"]
put("libxc-unknown-mandatory", data[:xo] + struct.pack("<II", 0x13, 0) + data[xo:])
put("libxl-unknown-mandatory", data[:eo] + struct.pack("<II", 0x6, 0) + data[eo:])

# Bad pfn entries in the first PAGE_DATA: reserved type, reserved bits.
pfn0 = pd["offset"] + 16
entry = struct.unpack_from("<Q", data, pfn0)[0]
put("pfn-reserved-type", patch(pfn0, "<Q", (entry & ((1 << 60) - 1)) | (6 << 60)))
put("pfn-reserved-bits", patch(pfn0, "<Q", entry | (1 << 55)))
put("page-data-count", patch(pd["offset"] + 8, "<I", struct.unpack_from("<I", data, pd["offset"] + 8)[0] + 1))

for name, b in variants.items():
    open(f"{outdir}/{name}.img", "wb").write(b)
open(f"{outdir}/list", "w").write("\n".join(variants) + "\n")
