#!/usr/bin/env bash
# `make compat-2.16`: tests/integration/compat (the lookup, mail_config into a root directory, smtp_check against
# the lab) with ansible-core 2.X from .venvs/ansible-core-2.X. Starts the lab, so it takes the test lock.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
version=${1:?usage: scripts/compat-core.sh 2.X [pytest args]}; shift
bin=$(bash scripts/tool-venv.sh "ansible-core-$version" "requirements/ansible-core/$version.txt" \
      "requirements/ansible-core/constraints-$version.txt")
export PATH="$bin:$PATH" MAILFLEET_EXPECT_CORE=$version
exec bash scripts/pytest-dir.sh tests/integration/compat "$@"
