#!/usr/bin/env bash
# `make sanity-artifact-2.X`: ansible-test sanity (ansible-core 2.X) on the collection as users get it: the tarball
# of `make build` (.build/dist), installed with that version's ansible-galaxy into .build/sanity-2.X/, in its own git
# repository (ansible-test lists files with git). No ignore file is shipped (tests/ is not in the tarball and the
# Galaxy importer warns about ignore files): every file must pass as it is.
# 2.19 runs from .venv; 2.16-2.18 from .venvs/ansible-core-2.X (scripts/tool-venv.sh). Needs no test lock.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
version=${1:?usage: scripts/sanity-artifact.sh 2.X [ansible-test args]}; shift
if [[ $version == 2.19 ]]; then
    bin=$PWD/.venv/bin
else
    bin=$(bash scripts/tool-venv.sh "ansible-core-$version" "requirements/ansible-core/$version.txt" \
          "requirements/ansible-core/constraints-$version.txt")
fi
export PATH="$bin:$PATH"
actual=$(python -c 'import ansible.release; print(ansible.release.__version__)')
[[ $actual == "$version".* ]] || { echo "sanity-artifact: $bin has ansible-core $actual, not $version" >&2; exit 1; }

shopt -s nullglob
tarballs=(.build/dist/mailfleet-outlook-*.tar.gz)
((${#tarballs[@]} == 1)) || { echo "sanity-artifact: need exactly one tarball in .build/dist: run make build" >&2; exit 1; }
root=$PWD/.build/sanity-$version
rm -rf "$root"
ANSIBLE_COLLECTIONS_PATH="$root" ansible-galaxy collection install --offline --force -p "$root" "${tarballs[0]}" >/dev/null
tree=$root/ansible_collections/mailfleet/outlook
[[ ! -e $tree/tests/sanity ]] || { echo "sanity-artifact: the tarball ships tests/sanity" >&2; exit 1; }
git -C "$tree" init -q
echo /tests/output/ >>"$tree/.git/info/exclude"   # ansible-test's own work files, not the collection's
python scripts/ansible-test-get-pip.py >/dev/null
echo "sanity-artifact: ansible-core $actual on $(basename "${tarballs[0]}")"
cd "$tree"
# shellcheck disable=SC2086  # SANITY_ARGS is a list of words on purpose
exec ansible-test sanity --venv --python 3.11 --color no ${SANITY_ARGS:-} "$@"
