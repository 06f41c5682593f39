#!/bin/bash
# Permissions, quotas, watches, transactions and malformed input as
# unprivileged domains see them (socket connections switched with CONTROL
# tern-as-domain), through a small raw wire client.
. "$(dirname "$0")/xenstored_lib.sh"
xs_start
python3 "$(dirname "$0")/xs_guest_checks.py" "$XENSTORED_PATH" || FAILS=$((FAILS + 1))
expect "store consistent afterwards" OK "$(xs xenstore-control check)"
xs_finish
