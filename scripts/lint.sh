#!/usr/bin/env bash
# `make lint`: ansible-lint (production profile, offline; see .ansible-lint) over roles/ and playbooks/.
# Needs ANSIBLE_COLLECTIONS_PATH to hold mailfleet.outlook (the Makefile points it at .build/) so that
# FQCN roles and modules of this collection resolve.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="${ANSIBLE_COLLECTIONS_PATH:-$PWD/.build}"

targets=()
for dir in roles playbooks; do
    [[ -d $dir ]] && [[ -n $(find "$dir" -name '*.yml' -o -name '*.yaml' | head -n 1) ]] && targets+=("$dir")
done
if ((${#targets[@]} == 0)); then
    echo "lint: no roles/ or playbooks/ found: nothing to lint is a broken checkout, not a pass" >&2
    exit 1
fi
echo "lint: ansible-lint --profile production ${targets[*]}"
exec ansible-lint --profile production --offline --nocolor "${targets[@]}"
