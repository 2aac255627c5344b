#!/usr/bin/env bash
# Install the Debian packages listed in scripts/apt-packages.txt, non-interactively.
#
# - Does nothing (no apt-get update, no root needed) when every package is already installed.
# - Otherwise: preseeds debconf (postfix: "No configuration", so it neither prompts nor starts a
#   half-configured MTA), runs `apt-get update` once, then `apt-get install` of the missing packages.
# - Services are not started by the installation (a temporary policy-rc.d answers 101 when the host
#   has none); tests start what they need themselves.
set -euo pipefail

list=${1:-"$(dirname "$0")/apt-packages.txt"}
mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$list" | grep -v '^$')

missing=()
for pkg in "${wanted[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
    [[ $status == ii* ]] || missing+=("$pkg")
done
if ((${#missing[@]} == 0)); then
    echo "deps: all ${#wanted[@]} Debian packages from $list are installed"
    exit 0
fi
echo "deps: installing ${#missing[@]} missing Debian packages: ${missing[*]}"

SUDO=()
if ((EUID != 0)); then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        echo "deps: need root (or password-less sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true NEEDRESTART_MODE=a
"${SUDO[@]}" debconf-set-selections <<'EOF'
postfix postfix/main_mailer_type select No configuration
postfix postfix/mailname string localhost
EOF

policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n# temporary, from mailfleet scripts/bootstrap-apt.sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 0755 "$policy"
    trap '"${SUDO[@]}" rm -f "$policy"' EXIT
fi

apt_opts=(-y -q -o DPkg::Lock::Timeout=900 -o Acquire::Retries=3 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -o Dpkg::Use-Pty=0)
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=900 -o Acquire::Retries=3 update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install "${apt_opts[@]}" --no-install-recommends "${missing[@]}" </dev/null
echo "deps: done"
