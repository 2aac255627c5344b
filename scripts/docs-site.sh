#!/usr/bin/env bash
# `make docs-site`: the collection's docs site with antsibull-docs (plugins, roles, and the guides of docs/ as extra
# docs), offline, into .build/docs-site/build/html. Warnings are errors, except references into Ansible's own docs
# (ansible.builtin, the Ansible docsite), which resolve on docs.ansible.com but not offline (no intersphinx here).
# Also: antsibull-docs lint-collection-docs (plugin docs and extra docs) and the generated guides must be current.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
bin=$(bash scripts/tool-venv.sh docs requirements/docs/requirements.txt requirements/docs/constraints.txt)
export PATH="$bin:$PATH"
out=$repo/.build/docs-site
rm -rf "$out"
mkdir -p "$out/collections/ansible_collections/mailfleet"

python scripts/docsite_guides.py --check
# The collection as git has it (no .venv/.build), where antsibull-docs --use-current finds it.
tree=$out/collections/ansible_collections/mailfleet/outlook
mkdir -p "$tree"
git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --ignore-missing-args --files-from=- ./ "$tree/"
export ANSIBLE_COLLECTIONS_PATH=$out/collections
antsibull-docs lint-collection-docs --plugin-docs --skip-rstcheck "$tree"

site=$out/site
mkdir -p "$site"
antsibull-docs sphinx-init --use-current --squash-hierarchy --fail-on-error --dest-dir "$site" \
    --project mailfleet.outlook --title "mailfleet.outlook" mailfleet.outlook >/dev/null
# Offline: no inventories to fetch. References into Ansible's docs stay unresolved and are allowed below.
printf '\nintersphinx_mapping = {}\nintersphinx_disabled_reftypes = ["*"]\n' >>"$site/conf.py"
mkdir -p "$site/rst"
chmod og-w "$site/rst"
(cd "$site" && antsibull-docs --config-file antsibull-docs.cfg collection --cleanup everything --fail-on-error \
    --use-current --squash-hierarchy --dest-dir rst mailfleet.outlook)
set +e
(cd "$site" && sphinx-build -q -b html -w "$out/warnings.log" --keep-going rst build/html -c .)
rc=$?
set -e
# Allowed: unresolved references into Ansible's own documentation (offline build): any label that is not this
# collection's own (ansible_collections.mailfleet.outlook.*). A broken reference to our own pages stays an error.
allowed="WARNING: undefined label: '(ansible_collections\.ansible\.builtin\.[a-z_.]+|[a-z_]+)' \[ref\.ref\]\$"
bad=$(grep -E 'WARNING|ERROR|CRITICAL' "$out/warnings.log" | grep -Ev "$allowed" || true)
allowed_n=$(grep -Ec "$allowed" "$out/warnings.log" || true)
if [[ -n $bad ]]; then
    echo "docs-site: Sphinx warnings (warnings are errors):" >&2
    echo "$bad" >&2
    exit 1
fi
((rc == 0)) || { echo "docs-site: sphinx-build exited $rc" >&2; exit 1; }
pages=$(find "$site/build/html" -name '*.html' | wc -l)
echo "docs-site: $pages pages in $site/build/html ($allowed_n allowed reference(s) into Ansible's docs)"
