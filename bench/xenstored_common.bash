# Helpers the xenstored benchmark scripts source (not a benchmark itself:
# run-benchmarks runs bench/*.sh only).

# wait_for_socket PATH: waits up to 5 s for a daemon's unix socket.
wait_for_socket() {
  for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.05; done
  return 1
}
