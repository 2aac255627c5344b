#!/usr/bin/env bash
# Cut (or re-cut) a release with antsibull-changelog: `make release VERSION=1.0.0 [DATE=YYYY-MM-DD]`.
#
# Re-runnable for the same version: changelogs/config.yaml keeps the fragments (keep_fragments: true), so running
# this again after more fragments were merged adds them to the same release, and --refresh-fragments rewrites the
# release's entries from the fragment files as they are now (an edited or removed fragment is updated in
# changelogs/changelog.yaml too). The date stays the one recorded for the version unless DATE says otherwise.
# Writes: galaxy.yml `version`, changelogs/changelog.yaml, CHANGELOG.rst. Commit all three.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/.venv/bin:$PATH"
version=${1:?usage: scripts/release.sh VERSION [DATE]}
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "release: '$version' is not a semantic version X.Y.Z" >&2; exit 2; }

date=${2:-$(python - "$version" <<'PY'
import datetime, sys, yaml
releases = (yaml.safe_load(open("changelogs/changelog.yaml", encoding="utf-8")) or {}).get("releases") or {}
print(releases.get(sys.argv[1], {}).get("release_date") or datetime.date.today().isoformat())
PY
)}

# galaxy.yml first: antsibull-changelog and ansible-doc read the collection's version from it.
sed -i -E "s/^version: .*/version: $version/" galaxy.yml
grep -qx "version: $version" galaxy.yml

antsibull-changelog lint
# Twice: the run that first adds a fragment leaves its trivial entries out of changelog.yaml, the refresh of the
# second run puts them in; after two runs the result is a fixed point (tests/unit/plumbing/test_release.py).
for _pass in 1 2; do
    antsibull-changelog release --version "$version" --date "$date" --update-existing \
        --reload-plugins --refresh-plugins allow-removal --refresh-fragments without-archives
done
antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
echo "release: $version ($date): galaxy.yml, changelogs/changelog.yaml and CHANGELOG.rst updated; commit them"
