#!/usr/bin/env bash
# `make demo` runs this script. The fleet/demo work (issue 6) replaces this body.
set -euo pipefail
echo "make demo: not yet implemented (issue 6)"
