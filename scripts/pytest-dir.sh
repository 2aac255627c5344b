#!/usr/bin/env bash
# Run pytest (from .venv) on one test directory. A missing directory or "no tests collected" (pytest exit code 5)
# fails: every area has tests, so finding none means a broken checkout or a wrong path, never a pass.
set -uo pipefail
dir=$1; shift
if [[ ! -d $dir ]]; then
    echo "pytest: $dir does not exist" >&2
    exit 1
fi
bash "$(dirname "$0")/test-lock.sh" python -m pytest "$dir" "$@"
rc=$?
if ((rc == 5)); then
    echo "pytest: no tests collected in $dir" >&2
fi
exit $rc
