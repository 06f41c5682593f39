#!/bin/bash
# A guest domain on a shared ring (tern's transport without Xen: a memfd page
# and two eventfds handed over with INTRODUCE), driven by
# `tern xenstore ring-client`: it reads and writes its own nodes, is refused
# others', hits its node quota, gets watch events, reconnects, and is
# released (@releaseDomain fires, its watches and transactions are freed).
. "$(dirname "$0")/xenstored_lib.sh"
[ -n "${TERN:-}" ] && [ -x "$TERN" ] || { echo "SKIP: tern was not built"; exit 77; }
xs_start -E 12 -S 4096
xs xenstore-write /local/domain/5/name guest5 /local/domain/0/secret s
xs xenstore-chmod -r /local/domain/5 n5

# Each line: a ring-client command, then '=>' and the expected output (a
# trailing '*' matches any rest of the line).
script='
dom0 watch @introduceDomain in    => OK
dom0 event 2000                   => EVENT @introduceDomain in
dom0 watch @releaseDomain rel     => OK
dom0 event 2000                   => EVENT @releaseDomain rel
introduce                         => OK
dom0 event 2000                   => EVENT @introduceDomain in
dom0 introduced 5                 => T
ring-state                        => features 3 connection 0 error 0
read name                         => guest5
write data/x hello                => OK
read data/x                       => hello
read /local/domain/5/data/x       => hello
getperms data/x                   => n5
domain-path 5                     => /local/domain/5
introduced 5                      => T
read /local/domain/0/secret       => ERR EACCES
write /local/domain/6/y v         => ERR EACCES
dir /local/domain/0               => ERR EACCES
introduce-as-guest-denied         => FAIL unknown command*
dom0 resume 5                     => OK
writen data/big 3000              => OK
readlen data/big                  => 3000 bytes (pattern intact)
watch data w                      => OK
event 2000                        => EVENT data w
dom0 write /local/domain/5/data/y 1 => OK
event 2000                        => EVENT data/y w
start                             => 1
write data/t 1                    => OK
commit                            => OK
event 2000                        => EVENT data/t w
write q1 v                        => OK
write q2 v                        => OK
write q3 v                        => OK
write q4 v                        => OK
write q5 v                        => OK
write q6 v                        => ERR ENOSPC
dom0 control quota 5              => Domain 5: | nodes           :       12*
rm q5                             => OK
write q6 v                        => OK
start                             => 2
dom0 control memreport            => *watches: 3 | transactions: 1 (0 pending nodes)*
reconnect                         => OK
ring-state                        => features 3 connection 0 error 0
dom0 write /local/domain/5/data/z 1 => OK
event 300                         => NO EVENT
dom0 control memreport            => *watches: 2 | transactions: 0 (0 pending nodes)*
watch data w2                     => OK
event 2000                        => EVENT data w2
start                             => *
dom0 release 5                    => OK
dom0 event 2000                   => EVENT @releaseDomain rel
dom0 introduced 5                 => F
dom0 control memreport            => *connections: 1 *watches: 2 | transactions: 0 *
read data/x                       => FAIL *timed out*
dom0 resume 5                     => ERR ENOENT
'
input="$(printf '%s\n' "$script" | sed -n 's/ *=>.*//p')"
expected="$(printf '%s\n' "$script" | sed -n 's/.*=> //p')"
actual="$(printf '%s\n' "$input" | timeout 90 "$TERN" xenstore ring-client --domid 5 --timeout-ms 1500 \
  --start-offset 4294966296)"
rc=$?
expect "ring-client exit status" 0 "$rc"
mapfile -t cmds <<<"$input"
mapfile -t want <<<"$expected"
mapfile -t got <<<"$actual"
expect "one output line per command" "${#want[@]}" "${#got[@]}"
for i in "${!want[@]}"; do
  w="${want[$i]}" g="${got[$i]:-}"
  if [[ "$w" == *'*'* ]]; then
    # shellcheck disable=SC2053  # glob match on purpose
    [[ "$g" == $w ]] && w="$g"
  fi
  expect "${cmds[$i]}" "$w" "$g"
done
# What the guest wrote is there for dom0's own tools.
expect "dom0 reads the guest's node" hello "$(xs xenstore-read /local/domain/5/data/x)"
expect "the guest owns it" "n5" "$(xs xenstore-ls -p /local/domain/5/data | sed -n 's/^x = "hello".*(\(.*\))$/\1/p')"
expect "store consistent afterwards" OK "$(xs xenstore-control check)"
xs_finish
