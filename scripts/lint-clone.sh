#!/usr/bin/env bash
# `make lint-clone`: `ansible-lint --profile production` at the root of a plain copy of the repository (the tracked
# and untracked-not-ignored files, its own git repository), with no environment: no ANSIBLE_COLLECTIONS_PATH, no
# ansible.cfg, an empty HOME. ansible-lint must resolve mailfleet.outlook by itself (.ansible-lint: offline: false
# installs the collection from galaxy.yml into the copy's .ansible/). This is what a contributor's first run sees.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
clone=$PWD/.build/lint-clone
rm -rf "$clone"
mkdir -p "$clone/repo" "$clone/home"
git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --ignore-missing-args --files-from=- ./ "$clone/repo/"
git -C "$clone/repo" init -q
cd "$clone/repo"
exec env -i PATH="$OLDPWD/.venv/bin:/usr/bin:/bin" HOME="$clone/home" LANG=C.UTF-8 \
    ansible-lint --profile production --nocolor
