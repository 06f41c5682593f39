#!/bin/bash
# Regenerates the C-xenstored vectors in this folder from Xen 4.17's real C
# xenstored (run without a hypervisor through /work/shared/peers/xenstored).
#   make-c-xenstored-vectors.sh WORKDIR
# Writes c-xenstored-4.17-empty.bin and c-xenstored-4.17-full.bin next to this
# script. Every process it starts is stopped by PID.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
work="${1:?usage: $0 WORKDIR}"
P=/work/shared/peers/xenstored
XR="${TERN_CACHE:-$HOME/.cache/tern}/xen/root"
B=$XR/usr/bin
export LD_LIBRARY_PATH=$XR/usr/lib/x86_64-linux-gnu

# dump NAME POPULATE: start a fresh daemon, optionally populate it, live-update
# it into /bin/false (the daemon writes RUNDIR/state_dump, then execs it).
dump() {
    local name="$1" populate="$2" S="$work/$1" wpid="" dpid=""
    rm -rf "$S"; mkdir -p "$S"; printf "1\n2\n" > "$S/shim-doms"
    $P/start-reference.sh "$S" >/dev/null || return 1
    export XENSTORED_PATH=$S/socket
    if [ "$populate" = 1 ]; then
        $B/xenstore-write /local/domain/0/name Domain-0 /vm/abc/name guest1 /bin "bi\x00nary" \
            /empty "" /tx/gone x /local/domain/1 ""
        $B/xenstore-chmod /vm/abc n0 r1 w2 b3          # doms 2 (target of 1 later) and 3 -> stale flags
        $B/xenstore-chmod /local/domain/0/name r0
        $B/xenstore-chmod /local/domain/1 n1 r0
        $B/xenstore-watch -n 100 /vm > "$S/watch.out" 2>&1 & wpid=$!
        python3 "$here/c-xenstored-driver.py" "$S" > "$S/driver.out" 2>&1 & dpid=$!
        for _ in $(seq 100); do grep -q ready "$S/driver.out" && break; sleep 0.1; done
    fi
    cp /bin/false "$S/newbin"
    # -F -t 3: the open transaction would otherwise block the update for 60 s.
    timeout 40 $XR/usr/lib/xen-4.17/bin/xenstore-control live-update -t 3 -F "$S/newbin"
    sleep 1
    cp "$S/state_dump" "$here/c-xenstored-4.17-$name.bin" && echo "wrote c-xenstored-4.17-$name.bin"
    touch "$S/driver.stop"; sleep 0.3
    [ -n "$wpid" ] && kill "$wpid" 2>/dev/null
    [ -n "$dpid" ] && kill "$dpid" 2>/dev/null
    $P/start-reference.sh --stop "$S" 2>/dev/null
    wait
}
dump empty 0
dump full 1
