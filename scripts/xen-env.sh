# Source this to put Debian's unpacked Xen 4.17 tools on PATH:
#   XEN_ROOT, XEN_BIN (verify-stream-v2, test-xenstore, xenstore-control),
#   XENSTORE_CLIENTS (xenstore-read, ...), LD_LIBRARY_PATH, XEN_PYTHONPATH.
XEN_ROOT="${TERN_CACHE:-$HOME/.cache/tern}/xen/root"
export XEN_ROOT
export XEN_BIN="$XEN_ROOT/usr/lib/xen-4.17/bin"
export XENSTORE_CLIENTS="$XEN_ROOT/usr/bin"
export XEN_LIBDIR="$XEN_ROOT/usr/lib/x86_64-linux-gnu"
export XEN_PYTHONPATH="$XEN_ROOT/usr/lib/xen-4.17/lib/python"
# Runs Xen's verify-stream-v2 (python) with its library path.
xen_verify_stream() { PYTHONPATH="$XEN_PYTHONPATH" /usr/bin/python3 "$XEN_BIN/verify-stream-v2" "$@"; }
# Runs an unpacked Xen binary with its shared libraries.
xen_run() { LD_LIBRARY_PATH="$XEN_LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@"; }
