#!/bin/bash
# Debian's xenstore-* clients against tern-xenstored: every command, output checked.
. "$(dirname "$0")/xenstored_lib.sh"
xs_start

xs xenstore-write /test/a hello /test/b/c deep; expect "write rc" 0 $?
expect "read" hello "$(xs xenstore-read /test/a)"
expect "read implicit parent is empty" "" "$(xs xenstore-read /test/b)"
expect "read two" "$(printf 'hello\ndeep')" "$(xs xenstore-read /test/a /test/b/c)"
xs xenstore-read /test/missing 2>/dev/null; expect "read missing fails" 1 $?
xs xenstore-exists /test/a; expect "exists" 0 $?
xs xenstore-exists /test/nope 2>/dev/null; expect "exists missing" 1 $?
expect "list" "$(printf 'a\nb')" "$(xs xenstore-list /test)"
expect "ls" "$(printf 'a = "hello"\nb = ""\n c = "deep"')" "$(xs xenstore-ls /test)"
expect "ls -p shows inherited dom0 perms" '(n0)' "$(xs xenstore-ls -p /test | head -1 | grep -o '(.*)$')"
xs xenstore-chmod /test/a b0 r5 w7; expect "chmod rc" 0 $?
expect "chmod visible in ls -p" "(b0,r5,w7)" "$(xs xenstore-ls -p /test | head -1 | grep -o '(.*)' | tr -d ' ')"
xs xenstore-chmod /test/a zz 2>/dev/null; expect "chmod bad perm fails" 1 $?
xs xenstore-rm /test/b; expect "rm rc" 0 $?
xs xenstore-exists /test/b/c 2>/dev/null; expect "rm removed subtree" 1 $?
expect "list after rm" a "$(xs xenstore-list /test)"
xs xenstore-rm /nonexistent/child 2>/dev/null; expect "rm under missing parent fails" 1 $?
xs xenstore-write /test/a/../x 1 2>/dev/null; expect "write bad path fails" 1 $?
# relative paths are under /local/domain/0 for dom0
xs xenstore-write rel/k v; expect "relative write" v "$(xs xenstore-read /local/domain/0/rel/k)"

# xenstore-watch: initial event, then one per change below the path
xs xenstore-watch -n 3 /test/w >"$XS_DIR/watch.out" 2>&1 &
wpid=$!
for _ in $(seq 200); do [ -s "$XS_DIR/watch.out" ] && break; sleep 0.05; done
xs xenstore-write /test/w/x 1
xs xenstore-rm /test/w
for _ in $(seq 200); do kill -0 $wpid 2>/dev/null || break; sleep 0.05; done
kill $wpid 2>/dev/null; wait $wpid 2>/dev/null
expect "watch events" "$(printf '/test/w\n/test/w/x\n/test/w')" "$(cat "$XS_DIR/watch.out")"

expect "control check" OK "$(xs xenstore-control check)"
expect "control quota lists nodes" 1 "$(xs xenstore-control quota | grep -c '^nodes *: *1000')"
expect "control quota 0 shows dom0 usage" 1 "$(xs xenstore-control quota 0 | grep -c '^Domain 0:')"
xs xenstore-control quota set nodes 5 >/dev/null; expect "control quota set" 1 "$(xs xenstore-control quota | grep -c '^nodes *: *5 ')"
xs xenstore-control log on >/dev/null; expect "control log" 0 $?
expect "control memreport" 1 "$(xs xenstore-control memreport | grep -c '^nodes: ')"
xs xenstore-control no-such-command >/dev/null 2>&1; expect "unknown control fails" 1 "$(( $? != 0 ))"
xs_finish
