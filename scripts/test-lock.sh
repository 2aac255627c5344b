#!/usr/bin/env bash
# Run a command while holding the machine-wide test lock, so that only one test run uses the lab's ports,
# the live Postfix and the network namespaces at a time (two checkouts on one machine would otherwise
# break each other's runs). Nested calls (make test -> pytest-dir.sh) take the lock once.
#
#   bash scripts/test-lock.sh python -m pytest tests/unit/smtp_check -q
#
# MAILFLEET_TEST_LOCK      the lock file (default /run/lock/mailfleet-tests.lock, /tmp when /run/lock is not writable)
# MAILFLEET_TEST_LOCK_WAIT seconds to wait for another run to finish (default 5400)
set -euo pipefail
if [[ -n ${MAILFLEET_TEST_LOCK_HELD:-} ]]; then
    exec "$@"
fi
lock=${MAILFLEET_TEST_LOCK:-/run/lock/mailfleet-tests.lock}
if ! { : >>"$lock"; } 2>/dev/null; then
    lock=${TMPDIR:-/tmp}/mailfleet-tests.$(id -u).lock
fi
wait_s=${MAILFLEET_TEST_LOCK_WAIT:-5400}
exec 9>>"$lock"
if ! flock -n 9; then
    echo "test-lock: another test run holds $lock; waiting up to ${wait_s}s" >&2
    if ! flock -w "$wait_s" 9; then
        echo "test-lock: gave up after ${wait_s}s waiting for $lock (another test run on this machine)" >&2
        exit 75
    fi
fi
export MAILFLEET_TEST_LOCK_HELD=$lock
"$@"
