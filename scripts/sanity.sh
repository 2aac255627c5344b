#!/usr/bin/env bash
# `make sanity`: ansible-test sanity without containers, offline-capable.
#
# ansible-test works on the physical directory it runs in (it must be .../ansible_collections/<ns>/<name>,
# and it lists files with git), so the tracked and untracked-but-not-ignored files are copied to a
# fresh .build/sanity/ansible_collections/mailfleet/outlook that gets its own (empty) git repository.
# ansible-test keeps its per-test virtualenvs in ~/.ansible/test/venv, so a fresh copy costs nothing.
# Extra arguments go to ansible-test, e.g. `make sanity SANITY_ARGS="--test pep8"`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/.venv/bin:$PATH"

tree=.build/sanity/ansible_collections/mailfleet/outlook
python scripts/ansible-test-get-pip.py >/dev/null

rm -rf .build/sanity
mkdir -p "$tree"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard \
        | rsync -a --from0 --ignore-missing-args --files-from=- ./ "$tree/"
else
    rsync -a --exclude=/.git --exclude=/.venv --exclude=/.build --exclude=/tests/output \
        --exclude=__pycache__ --exclude=.pytest_cache --exclude=.hypothesis ./ "$tree/"
fi
git -C "$tree" init -q

cd "$tree"
# shellcheck disable=SC2086  # SANITY_ARGS is a list of words on purpose
exec ansible-test sanity --venv --python 3.11 --color no ${SANITY_ARGS:-} "$@"
