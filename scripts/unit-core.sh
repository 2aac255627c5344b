#!/usr/bin/env bash
# `make unit-2.X`: tests/unit with ansible-core 2.X, in its own venv .venvs/ansible-core-2.X
# (requirements/ansible-core/2.X.txt, locked by constraints-2.X.txt). Takes the test lock like `make unit`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
version=${1:?usage: scripts/unit-core.sh 2.X [pytest args]}; shift
bin=$(bash scripts/tool-venv.sh "ansible-core-$version" "requirements/ansible-core/$version.txt" \
      "requirements/ansible-core/constraints-$version.txt")
export PATH="$bin:$PATH"
actual=$(python -c 'import ansible.release; print(ansible.release.__version__)')
[[ $actual == "$version".* ]] || { echo "unit-core: .venvs/ansible-core-$version has ansible-core $actual" >&2; exit 1; }
echo "unit-core: ansible-core $actual, $(python --version)"
# tests marked core_independent import nothing from ansible-core: the same on every core, `make unit` runs them
exec bash scripts/pytest-dir.sh tests/unit -m "not core_independent" "$@"
