#!/bin/bash
# Xen's own test-xenstore (12 tests: reads, writes, directories, removal,
# transactions incl. a conflict) against tern-xenstored.
. "$(dirname "$0")/xenstored_lib.sh"
[ -x "$XEN_BIN/test-xenstore" ] || { echo "SKIP: test-xenstore not unpacked"; exit 77; }
xs_start
out="$(cd "$XS_DIR" && xs test-xenstore 2>&1)"; rc=$?
echo "$out"
expect "test-xenstore exit status" 0 "$rc"
expect "test-xenstore ran 12 tests" 12 "$(grep -cE ': [0-9]+ ns$' <<<"$out")"
expect "no test failed" 0 "$(grep -c failed <<<"$out")"
xs_finish
