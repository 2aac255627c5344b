#!/usr/bin/env bash
# Create or refresh one of the tool virtualenvs under .venvs/: scripts/tool-venv.sh NAME REQUIREMENTS [CONSTRAINTS]
#   NAME          .venvs/NAME (ansible-core-2.16, importer, docs, ...)
#   REQUIREMENTS  the pinned requirements file (requirements/<area>/...)
#   CONSTRAINTS   the full lock of that venv; written by `pip freeze` when missing (commit it), else enforced
# Re-installs only when a file it was built from changed (stamp .venvs/NAME/.mailfleet-installed).
# Prints the venv's bin directory on stdout (everything else goes to stderr).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
name=$1 reqs=$2 cons=${3:-}
python=${PYTHON:-/usr/bin/python3}
venv=$PWD/.venvs/$name stamp=$PWD/.venvs/$name/.mailfleet-installed
inputs=("$reqs" "$(dirname "$reqs")"/*.txt)
[[ -n $cons && -f $cons ]] && inputs+=("$cons")
fresh=1
if [[ -f $stamp ]]; then
    for f in "${inputs[@]}"; do [[ $f -nt $stamp ]] && fresh=0; done
else
    fresh=0
fi
if ((fresh == 0)); then
    echo "tool-venv: $name from $reqs${cons:+ (constraints $cons)}" >&2
    [[ -x $venv/bin/python ]] || "$python" -m venv "$venv" >&2
    args=(-q -r "$reqs")
    [[ -n $cons && -f $cons ]] && args+=(-c "$cons")
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 "$venv/bin/python" -m pip install "${args[@]}" >&2
    if [[ -n $cons && ! -f $cons ]]; then
        { echo "# Full lock of .venvs/$name (pip constraints). Regenerate: delete this file, run scripts/tool-venv.sh again."
          "$venv/bin/python" -m pip freeze --exclude-editable; } >"$cons"
        echo "tool-venv: wrote $cons (commit it)" >&2
    fi
    touch "$stamp"
fi
echo "$venv/bin"
