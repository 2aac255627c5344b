"""The fresh-machine contract: every program the suite calls is covered by a capability, whose packages come
from scripts/apt-packages.txt (or their Depends), and a missing capability fails with its fix."""

import os
import re
import shutil
from pathlib import Path

import pytest
from mailfleet_testing import capabilities as caps

pytestmark = [pytest.mark.timeout(120), pytest.mark.core_independent]

REPO = Path(__file__).resolve().parents[3]
SCANNED = ["tests", "lab", "scripts", "bench"]
# an argv written as a literal list, a process helper called with the program first, or a PATH lookup
CALLS = re.compile(r"""(?:(?<![\w\])])\[\s*|\b(?:sh|run|_run|Popen|check_output|check_call|call|which|run_command)\(\s*\[?\s*)"""
                   r"""["']([a-z][a-z0-9._+-]*)["']\s*[,)\]]""")
SHELL_CALLS = re.compile(r"^\s*(?:[A-Z_]+=\S+\s+)*(?:exec\s+|sudo\s+)?([a-z][a-z0-9._+-]*)\b", re.M)
# bash builtins and keywords (compgen -b -k) are not programs, even where a same-named one exists
SHELL_BUILTINS = set("""alias bg bind break builtin caller case cd command compgen complete compopt continue coproc
declare dirs disown do done echo elif else enable esac eval exec exit export false fc fg fi for function getopts hash
help history if in jobs kill let local logout mapfile popd printf pushd pwd read readarray readonly return select set
shift shopt source suspend test then time times trap true type typeset ulimit umask unalias unset until wait
while""".split())


def called_programs():
    """{program: first place it is called} for every name in the scanned trees that is a program here."""
    venv_bin = REPO / ".venv" / "bin"
    found = {}
    for top in SCANNED:
        for path in sorted((REPO / top).rglob("*")):
            if path.suffix not in (".py", ".sh") or "output" in path.parts or not path.is_file():
                continue
            text = path.read_text(errors="replace")
            names = CALLS.findall(text)
            if path.suffix == ".sh":
                names += [n for n in SHELL_CALLS.findall(text) if n not in SHELL_BUILTINS]
            for name in names:
                if (venv_bin / name).exists() or name in found:
                    continue  # the venv's own tools (python, ansible-playbook, pytest) come from requirements/
                where = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
                if where:
                    found[name] = "%s" % path.relative_to(REPO)
    return found


def covered_commands():
    return {spec[4:] for c in caps.CAPABILITIES for spec in c.files if spec.startswith("cmd:")}


@pytest.mark.skipif(not shutil.which("dpkg-query"), reason="not a Debian system")
def test_every_program_the_suite_calls_is_covered():
    """A program is covered by a capability (its package in the list), or comes with every Debian system."""
    pkgs = caps._dpkg_status()
    base = caps.depends_closure([], pkgs)
    covered = covered_commands()
    uncovered = []
    for name, where in sorted(called_programs().items()):
        if name in covered:
            continue
        path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        owners = caps.owners(path)
        if not owners & base:
            uncovered.append("%s (%s, package %s, first called in %s)" % (
                name, path, ", ".join(sorted(owners)) or "none: installed by hand?", where))
    assert not uncovered, ("the suite calls programs that no capability in tests/support/mailfleet_testing/"
                           "capabilities.py covers and that are not part of every Debian system: add a capability "
                           "naming the package (and the package to scripts/apt-packages.txt): " + "; ".join(uncovered))


def test_the_scan_finds_what_the_suite_really_calls():
    found = called_programs()
    for name in ("swaks", "openssl", "postconf", "msmtp", "neomutt", "xmllint", "ssh-keygen", "nft"):
        assert name in found, (name, sorted(found))


def test_a_missing_capability_fails_with_its_fix():
    cap = caps.Capability("frobnicator-tls", "frob speaks TLS", ["frob", "libfrob-tls"],
                          ["mailfleet-no-such-program", "--version"], r"TLS")
    caps.BY_NAME[cap.name] = cap
    try:
        with pytest.raises(pytest.fail.Exception) as e:
            caps.require(cap.name)
    finally:
        del caps.BY_NAME[cap.name]
        caps._REQUIRED.pop(cap.name, None)
    assert str(e.value) == ("missing capability frobnicator-tls: frob speaks TLS. Fix: install frob libfrob-tls "
                            "(make deps installs scripts/apt-packages.txt, which must list frob, libfrob-tls) "
                            "(mailfleet-no-such-program is not installed)")


def test_a_program_without_the_feature_is_reported_with_its_output(tmp_path):
    cap = caps.Capability("echo-tls", "echo prints TLS", ["coreutils"], ["echo", "no such feature"], r"^TLS$")
    ok, detail = caps.probe(cap)
    assert not ok and detail == "echo no such feature (exit 0): no such feature"


def test_the_closure_follows_depends_and_provides_but_never_recommends():
    # (Depends, Pre-Depends, Provides, Essential, Priority); Recommends are not even read
    pkgs = {
        "swaks": ("perl:any (>= 5.8), libfoo | libbar", "", "", "no", "optional"),
        "libbar": ("", "", "", "no", "optional"),
        "perl": ("perl-base (= 5.36)", "", "perl-modules", "no", "standard"),
        "perl-base": ("", "", "", "yes", "required"),
        "libnet-ssleay-perl": ("perl", "", "", "no", "optional"),
        "mta-user": ("mail-transport-agent", "", "", "no", "optional"),
        "postfix": ("", "", "mail-transport-agent", "no", "optional"),
    }
    assert caps.depends_closure(["swaks"], pkgs) == {"swaks", "perl", "perl-base", "libbar"}
    assert caps.depends_closure(["mta-user"], pkgs) == {"mta-user", "postfix", "perl-base"}
    assert caps._names("a (>= 1) | b:any, c") == [["a", "b"], ["c"]]


@pytest.mark.skipif(not shutil.which("dpkg-query"), reason="not a Debian system")
def test_the_contract_catches_a_package_missing_from_the_list(tmp_path):
    if not shutil.which("swaks"):
        caps.require("swaks-tls")
    listed = [p for p in caps.listed_packages() if p not in ("libnet-ssleay-perl", "swaks")]
    short = tmp_path / "apt-packages.txt"
    short.write_text("\n".join(listed) + "\n")
    problems = caps.contract_problems(str(short))
    assert any(p.startswith("swaks-tls: package libnet-ssleay-perl is installed here, but ") and
               "neither lists it nor pulls it in through Depends" in p for p in problems), problems
    assert any(p.startswith("swaks-tls: package swaks is installed here") for p in problems), problems
