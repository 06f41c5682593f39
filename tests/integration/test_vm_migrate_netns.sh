#!/usr/bin/env bash
# Source and destination in two network namespaces joined by a veth pair
# (rate-limited with a token bucket so the migration takes a while); the link is cut
# mid-stream. The source must notice, keep its guest running, and finish it
# clean; the destination must never run a VM.
source "$(dirname "$0")/lib.sh"
need_tern
[ "$(id -u)" -eq 0 ] || skip "needs root for ip netns"
command -v ip >/dev/null || skip "no ip(8)"
d="$(tmpdir)"
ns_s="tern-src-$$"; ns_d="tern-dst-$$"
cleanup_ns() {
  ip netns del "$ns_s" 2>/dev/null || true
  ip netns del "$ns_d" 2>/dev/null || true
}
trap 'cleanup_ns; _tern_cleanup' EXIT
ip netns add "$ns_s" 2>/dev/null || skip "ip netns add failed (no network namespaces here)"
ip netns add "$ns_d" || skip "ip netns add failed"
ip link add vs$$ netns "$ns_s" type veth peer name vd$$ netns "$ns_d" || skip "cannot create a veth pair"
ip -n "$ns_s" addr add 10.231.0.1/24 dev vs$$
ip -n "$ns_d" addr add 10.231.0.2/24 dev vd$$
ip -n "$ns_s" link set vs$$ up; ip -n "$ns_d" link set vd$$ up
ip -n "$ns_s" link set lo up; ip -n "$ns_d" link set lo up
# About 2.5 MB/s: round 0 of a 64 MiB guest takes far longer than the cut.
ip netns exec "$ns_s" tc qdisc add dev vs$$ root tbf rate 20mbit burst 32kbit latency 400ms \
  2>/dev/null || skip "tc tbf is not available"


ip netns exec "$ns_d" "$TERN" receive --listen tcp://10.231.0.2:4444 --link-timeout 3 \
  --console "$d/dst.console" 2>"$d/recv.err" & rpid=$!
ip netns exec "$ns_s" "$TERN" run --backend sim --memory 64M --cmdline "passes=300 mib=32 ws=4 pause=5000" \
  --api "$d/api" --console "$d/src.console" & spid=$!
wait_for 10 test -S "$d/api" || fail "no control socket"
listening() { ip netns exec "$ns_d" ss -ltn | grep -q ':4444 '; }
wait_for 10 listening || fail "tern receive is not listening"
ip netns exec "$ns_s" "$TERN" migrate --api "$d/api" --to tcp://10.231.0.2:4444 --link-timeout 3 \
  >/dev/null 2>"$d/mig.err" & mpid=$!
sleep 1.5
note "cutting the link mid-stream"
ip -n "$ns_s" link del vs$$
rc=0; wait "$mpid" || rc=$?
[ "$rc" -eq 1 ] || fail "tern migrate exited $rc after the cut: $(cat "$d/mig.err")"
grep -q "keeps running here" "$d/mig.err" || fail "migrate: $(cat "$d/mig.err")"
rc=0; wait "$rpid" || rc=$?
[ "$rc" -eq 4 ] || fail "tern receive exited $rc after the cut (expected 4, no VM): $(cat "$d/recv.err")"
[ ! -s "$d/dst.console" ] || fail "the destination ran a guest: $(head -3 "$d/dst.console")"
rc=0; wait "$spid" || rc=$?
[ "$rc" -eq 0 ] || fail "the source exited $rc"
grep -q "tern-guest: done, passes=300 errors=0" "$d/src.console" || fail "source: $(tail -2 "$d/src.console")"
echo ok
