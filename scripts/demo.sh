#!/usr/bin/env bash
# `make demo`: a fleet, the lab, the site playbook, the fleet report - set up and torn down by itself.
#
#  1. Debian packages (scripts/demo-apt-packages.txt) and .venv (make venv), the collection link.
#  2. A fleet of network namespaces, each with its own sshd (scripts/netns_fleet.py), reached over SSH;
#     plus this machine itself (local connection). Without namespace support (not root): this machine only.
#  3. The lab (Exchange Online look-alike) on loopback and on the fleet's bridge address.
#  4. ansible-playbook playbooks/site.yml -i <demo inventory>: relays, clients, reachability, report.
#  5. A summary table and the path of report.html; then everything started here is stopped.
# Exits 0 when every host ends as the demo intends (some hosts fail on purpose: an ISP block, a firewall
# reject, a bad certificate, a host Ansible cannot reach), non-zero otherwise.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$PWD
OUT=${MAILFLEET_DEMO_DIR:-$REPO/out/demo}
t0=$(date +%s)
say() { printf '\n=== demo: %s\n' "$*"; }

say "setting up (Debian packages, .venv, collection link)"
bash scripts/bootstrap-apt.sh scripts/demo-apt-packages.txt
setup_log=$(mktemp)
if ! make --no-print-directory venv collection >"$setup_log" 2>&1; then
    cat "$setup_log"; rm -f "$setup_log"; echo "demo: setting up .venv failed" >&2; exit 1
fi
rm -f "$setup_log"
export PATH=$REPO/.venv/bin:$PATH
export ANSIBLE_COLLECTIONS_PATH=$REPO/.build ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_RETRY_FILES_ENABLED=False
export ANSIBLE_NOCOLOR=1 ANSIBLE_PYTHON_INTERPRETER=auto_silent ANSIBLE_DEPRECATION_WARNINGS=False
export ANSIBLE_LOCAL_TEMP=$OUT/ansible-local
PY=$REPO/.venv/bin/python

rm -rf "$OUT"
mkdir -p "$OUT/inventory" "$ANSIBLE_LOCAL_TEMP"
LAB_PID=""
FLEET=0
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    rc=$?
    set +e
    if [[ -n $LAB_PID ]] && kill -0 "$LAB_PID" 2>/dev/null; then
        kill -TERM "$LAB_PID"; for _ in $(seq 50); do kill -0 "$LAB_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$LAB_PID" 2>/dev/null
    fi
    if ((FLEET)); then "$PY" scripts/netns_fleet.py down --workdir "$OUT/fleet" || echo "demo: fleet teardown reported errors" >&2; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

hosts=(--host hq-mail01 --host branch-ws01 --host branch-ws02 --host legacy-app01 --host branch-ws03:nosshd)
if [[ ${MAILFLEET_DEMO_NO_NETNS:-0} != 1 ]] && "$PY" scripts/netns_fleet.py check >/dev/null 2>&1; then
    say "creating the namespace fleet (5 hosts, own sshd each)"
    FLEET=1
    GATEWAY=$("$PY" scripts/netns_fleet.py up --network-only --workdir "$OUT/fleet" --lab-name lab.fleet.test "${hosts[@]}")
else
    say "network namespaces are not available here ($("$PY" scripts/netns_fleet.py check || true)): this machine only"
    GATEWAY=""
fi

say "starting the lab"
"$PY" - "$OUT/lab" "$GATEWAY" <<'PYEOF'
import json, sys
state_dir, gateway = sys.argv[1], sys.argv[2]
cfg = {"state_dir": state_dir, "extra_names": ["lab.fleet.test"], "bind_extra": [gateway] if gateway else []}
import os; os.makedirs(state_dir, exist_ok=True)
json.dump(cfg, open(os.path.join(state_dir, "demo-lab.json"), "w"))
PYEOF
PYTHONPATH=$REPO/lab "$PY" -m mailfleet_lab --config "$OUT/lab/demo-lab.json" --any-ports >"$OUT/lab/stderr.log" 2>&1 &
LAB_PID=$!
for _ in $(seq 300); do
    if [[ -s $OUT/lab/state.json ]] && "$PY" -c 'import json,sys; sys.exit(json.load(open(sys.argv[1])).get("pid") != int(sys.argv[2]))' "$OUT/lab/state.json" "$LAB_PID" 2>/dev/null; then break; fi
    kill -0 "$LAB_PID" 2>/dev/null || { echo "demo: the lab did not start:"; cat "$OUT/lab/stderr.log"; exit 1; }
    sleep 0.1
done
[[ -s $OUT/lab/state.json ]] || { echo "demo: the lab did not get ready"; exit 1; }

# Firewall rules need the lab's real ports: the ISP block drops 25 and 587 and the lab's stand-ins for them.
if ((FLEET)); then
    "$PY" - "$OUT" <<'PYEOF'
import json, os, sys
out = sys.argv[1]
ports = json.load(open(os.path.join(out, "lab", "state.json")))["ports"]
st_path = os.path.join(out, "fleet", "fleet.json")
st = json.load(open(st_path))
for h in st["hosts"]:
    if h["name"] == "branch-ws01":
        h["firewall"] = {"action": "drop", "ports": [25, 587, ports["submission"], ports["connector"]]}
    if h["name"] == "branch-ws02":
        h["firewall"] = {"action": "reject", "ports": [587, ports["submission"]]}
json.dump(st, open(st_path, "w"), indent=1)
PYEOF
    "$PY" scripts/netns_fleet.py hosts --workdir "$OUT/fleet"
fi

say "writing the demo inventory"
fleet_args=()
if ((FLEET)); then fleet_args=(--fleet "$OUT/fleet/inventory.json"); fi
"$PY" scripts/demo_inventory.py --out "$OUT/inventory/hosts.json" --lab-state "$OUT/lab/state.json" --root "$OUT/roots" \
    "${fleet_args[@]}"
cp -r inventories/demo/group_vars "$OUT/inventory/"

say "running playbooks/site.yml against the demo fleet (relays, clients, reachability, report)"
set +e
MAILFLEET_REPORT_DIR=$OUT/site-report ansible-playbook -i "$OUT/inventory" playbooks/site.yml >"$OUT/site.log" 2>&1
site_rc=$?
set -e
grep -A20 '^PLAY RECAP' "$OUT/site.log" | sed '/^$/q' || true
echo "site.yml exited $site_rc; relay configurations rendered under $OUT/roots/<host>/ (not the live system):"
(cd "$OUT/roots" && find . -type f -path '*/etc/*' ! -name '*.db' | sort | sed 's/^/  /' | head -20)

if ((FLEET)); then drift_host=branch-ws02 drift_file=etc/postfix/main.cf; else drift_host=controller drift_file=etc/msmtprc; fi
say "someone edits $drift_host's relay configuration by hand ($drift_file); then playbooks/check.yml"
echo "# hand edit: port 25" >>"$OUT/roots/$drift_host/$drift_file"
set +e
MAILFLEET_REPORT_DIR=$OUT/report ansible-playbook -i "$OUT/inventory" playbooks/check.yml >"$OUT/check.log" 2>&1
check_rc=$?
set -e
grep -A20 '^PLAY RECAP' "$OUT/check.log" | sed '/^$/q' || true

say "summary"
if "$PY" scripts/demo_inventory.py --summary "$OUT/report/report.json" --expect "$OUT/inventory/hosts.json" --playbook-rc "$check_rc" --drift "$drift_host"; then
    verdict=0
else
    verdict=$?
fi
echo "report: $OUT/report/report.html"
echo "(also report.json and report.xml there; ansible output: $OUT/site.log, $OUT/check.log)"
echo "demo: finished in $(( $(date +%s) - t0 ))s"
exit $verdict
