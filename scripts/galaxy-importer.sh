#!/usr/bin/env bash
# `make importer`: galaxy-importer (pinned, .venvs/importer) on the tarball of `make build`, once with Galaxy's
# settings and once with Automation Hub's certification settings (scripts/importer/*.cfg). Each must end with
# 0 errors and 0 warnings: any WARNING or ERROR line fails. Logs: .build/importer/<settings>.log. No test lock.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=$(bash scripts/tool-venv.sh importer requirements/importer/requirements.txt requirements/importer/constraints.txt)
shopt -s nullglob
tarballs=("$PWD"/.build/dist/mailfleet-outlook-*.tar.gz)
((${#tarballs[@]} == 1)) || { echo "importer: need exactly one tarball in .build/dist: run make build" >&2; exit 1; }
repo=$PWD out=$PWD/.build/importer
rm -rf "$out"
mkdir -p "$out"
failed=0
for settings in galaxy automation-hub; do
    work=$out/$settings
    mkdir -p "$work/tmp"
    # A clean environment, as on the import server: no collections path, no ansible.cfg of the checkout.
    (cd "$work" && env -i PATH="$bin:/usr/bin:/bin" HOME="$HOME" LANG=C.UTF-8 TMPDIR="$work/tmp" \
        GALAXY_IMPORTER_CONFIG="$repo/scripts/importer/$settings.cfg" \
        "$bin/python" -m galaxy_importer.main "${tarballs[0]}") >"$out/$settings.log" 2>&1 || {
        echo "importer[$settings]: galaxy-importer exited $?" >&2
        failed=1
    }
    errors=$(grep -c '^ERROR' "$out/$settings.log" || true)
    warnings=$(grep -c '^WARNING' "$out/$settings.log" || true)
    echo "importer[$settings]: $(basename "${tarballs[0]}"): $errors error(s), $warnings warning(s) ($out/$settings.log)"
    if ((errors + warnings > 0)); then
        grep -E '^(ERROR|WARNING)' "$out/$settings.log" | sed "s/^/importer[$settings]: /" >&2
        failed=1
    fi
done
exit $failed
