#!/usr/bin/env bash
# `make build`: build the collection tarball into .build/dist, install it into .build/installed
# (offline), check that no development file went in, and that ansible-doc shows every plugin and role
# of the checkout from the installed copy (so build_ignore cannot silently drop a plugin).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/.venv/bin:$PATH"

rm -rf .build/dist .build/installed
ansible-galaxy collection build --force --output-path .build/dist .
tarball=$(ls .build/dist/mailfleet-outlook-*.tar.gz)
ANSIBLE_COLLECTIONS_PATH="$PWD/.build/installed" ansible-galaxy collection install --offline --force -p .build/installed "$tarball"

# Development files that must stay out of the tarball (galaxy.yml build_ignore).
leaked=$(tar -tzf "$tarball" | grep -E '^(\./)?(tests|lab|bench|scripts|requirements|\.ci|\.venv|\.build|\.git)(/|$)|^(\./)?(Makefile|pytest\.ini|\.ansible-lint|docs/development\.md)$' || true)
if [[ -n $leaked ]]; then
    printf 'build: development files in %s (add them to build_ignore in galaxy.yml):\n%s\n' "$tarball" "$leaked" >&2
    exit 1
fi
echo "build: $tarball ($(tar -tzf "$tarball" | wc -l) entries, $(du -k "$tarball" | cut -f1) KiB)"
python scripts/docs_check.py .build/installed "$PWD"
