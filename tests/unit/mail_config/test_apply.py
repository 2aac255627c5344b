"""The target-side engine of mail_config: atomic writes, check/diff, post steps, validation, rollback."""

import hashlib
import os
import stat
import subprocess

import pytest

from ansible_collections.mailfleet.outlook.plugins.module_utils._apply import ApplyError, apply_plan
from ansible_collections.mailfleet.outlook.plugins.module_utils._apply_files import redact

pytestmark = [pytest.mark.timeout(30), pytest.mark.core_independent]


def run(argv):
    p = subprocess.run(argv, capture_output=True, text=True, check=False)
    return p.returncode, p.stdout, p.stderr


class Recorder:
    """run_command that records calls and runs them for real."""

    def __init__(self):
        self.calls = []

    def __call__(self, argv):
        self.calls.append(list(argv))
        return run(argv)


def f(path, content, mode="0644", secret=False, **kw):
    d = {"path": str(path), "content": content, "mode": mode, "secret": secret, "owner": None, "group": None}
    d.update(kw)
    return d


def mode_of(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def test_writes_files_with_modes_then_second_run_is_unchanged(tmp_path):
    a, b = tmp_path / "etc" / "a.cf", tmp_path / "etc" / "secret"
    plan = [f(a, "a = 1\n"), f(b, "pw\n", mode="0600", secret=True)]
    r = apply_plan(plan, run)
    assert r["changed"] and r["changed_files"] == [str(a), str(b)]
    assert a.read_text() == "a = 1\n" and mode_of(a) == 0o644
    assert b.read_text() == "pw\n" and mode_of(b) == 0o600
    r2 = apply_plan(plan, run)
    assert not r2["changed"] and r2["changed_files"] == [] and r2["diff"] == []
    # no temporary files left behind
    assert sorted(os.listdir(a.parent)) == ["a.cf", "secret"]


def test_check_mode_reports_exactly_the_changes_and_touches_nothing(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("same\n")
    os.chmod(a, 0o644)
    b.write_text("old\n")
    before = {p: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in (a, b)}
    r = apply_plan([f(a, "same\n"), f(b, "new\n"), f(tmp_path / "c", "x\n")], run, check_mode=True)
    assert r["changed"] and r["changed_files"] == [str(b), str(tmp_path / "c")]
    assert {p: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in (a, b)} == before
    assert not (tmp_path / "c").exists()
    real = apply_plan([f(a, "same\n"), f(b, "new\n"), f(tmp_path / "c", "x\n")], run)
    assert real["changed_files"] == r["changed_files"]


def test_diff_redacts_secret_files(tmp_path):
    s = tmp_path / "sasl_passwd"
    s.write_text("old-canary-secret\n")
    r = apply_plan([f(s, "new-canary-secret\n", mode="0600", secret=True), f(tmp_path / "plain", "visible\n")], run,
                   check_mode=True)
    d = {x["after_header"]: x for x in r["diff"]}
    sd = d[str(s)]
    assert "canary" not in repr(r)
    # size and "changed" only: no hash of the secret (a short secret is guessed from its hash)
    assert sd["after"] == "<redacted: 18 bytes, changed>\n"
    assert sd["before"] == "<redacted: 18 bytes>\n"
    assert d[str(tmp_path / "plain")]["after"] == "visible\n"
    assert redact(b"") == "<redacted: 0 bytes>\n"
    for secret in (b"new-canary-secret\n", b"old-canary-secret\n", b"new-canary-secret", b"old-canary-secret"):
        for algorithm in ("md5", "sha1", "sha256", "sha512"):
            digest = hashlib.new(algorithm, secret)
            assert digest.hexdigest() not in repr(r) and digest.hexdigest().upper() not in repr(r)
    secret_result = [x for x in r["files"] if x["secret"]][0]
    assert "sha256" not in secret_result and secret_result["size"] == 18
    assert [x for x in r["files"] if not x["secret"]][0]["sha256"] == hashlib.sha256(b"visible\n").hexdigest()


def test_validator_failure_restores_every_file(tmp_path):
    a, b, new = tmp_path / "a", tmp_path / "b", tmp_path / "sub" / "new"
    a.write_text("A old\n")
    os.chmod(a, 0o640)
    b.write_text("B old\n")
    plan = [f(a, "A new\n", mode="0644"), f(b, "B new\n"), f(new, "N\n")]
    rec = Recorder()
    with pytest.raises(ApplyError) as e:
        apply_plan(plan, rec, validate=[["sh", "-c", "echo 'bad value for thing_limit' >&2; exit 1"]])
    assert e.value.rolled_back
    assert "bad value for thing_limit" in e.value.msg and "restored" in e.value.msg
    assert a.read_text() == "A old\n" and mode_of(a) == 0o640
    assert b.read_text() == "B old\n"
    assert not new.exists() and not new.parent.exists()


def test_validator_sees_the_new_files(tmp_path):
    a = tmp_path / "a"
    r = apply_plan([f(a, "ok\n")], run, validate=[["grep", "-q", "ok", str(a)]])
    assert r["validated"]


def test_post_step_runs_on_change_and_when_output_missing_only(tmp_path):
    src = tmp_path / "map"
    spec = f(src, "k v\n", post=[["cp", "{dest}", "{dest}.db"]], creates=["{dest}.db"])
    rec = Recorder()
    r = apply_plan([spec], rec)
    assert (tmp_path / "map.db").read_text() == "k v\n" and r["post_steps"] == ["cp %s %s.db" % (src, src)]
    rec.calls.clear()
    r = apply_plan([spec], rec)
    assert not r["changed"] and rec.calls == []
    (tmp_path / "map.db").unlink()
    r = apply_plan([spec], rec, check_mode=True)
    assert r["changed"] and r["changed_files"] == [] and r["post_steps"]
    r = apply_plan([spec], rec)
    assert r["changed"] and (tmp_path / "map.db").exists()


def test_failing_post_step_rolls_back_and_rebuilds_restored_maps(tmp_path):
    m = tmp_path / "map"
    m.write_text("old\n")
    (tmp_path / "map.db").write_text("old\n")
    other = tmp_path / "main.cf"
    other.write_text("main old\n")
    post = [["sh", "-c", 'grep -q BROKEN "$1" && { echo "postmap: fatal: bad line" >&2; exit 1; }; cp "$1" "$1.db"', "x", "{dest}"]]
    with pytest.raises(ApplyError) as e:
        apply_plan([f(other, "main new\n"), f(m, "BROKEN\n", post=post, creates=["{dest}.db"])], run)
    assert "postmap: fatal: bad line" in e.value.msg
    assert other.read_text() == "main old\n"
    assert m.read_text() == "old\n" and (tmp_path / "map.db").read_text() == "old\n"


def test_absent_removes_file_and_its_outputs(tmp_path):
    m = tmp_path / "sasl_passwd"
    m.write_text("x\n")
    (tmp_path / "sasl_passwd.db").write_text("x")
    spec = {"path": str(m), "state": "absent", "remove_with": ["{dest}.db"], "secret": True}
    r = apply_plan([spec], run, check_mode=True)
    assert r["changed_files"] == [str(m)] and m.exists()
    r = apply_plan([spec], run)
    assert not m.exists() and not (tmp_path / "sasl_passwd.db").exists()
    assert not apply_plan([spec], run)["changed"]


def test_bad_path_fails_before_any_write(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    good = tmp_path / "good"
    with pytest.raises(ApplyError) as e:
        apply_plan([f(good, "x\n"), f(blocker / "file", "y\n")], run)
    assert "not a directory" in e.value.msg.lower()
    assert not good.exists()


def test_unknown_owner_fails_before_any_write(tmp_path):
    good = tmp_path / "good"
    with pytest.raises(ApplyError) as e:
        apply_plan([f(good, "x\n"), f(tmp_path / "b", "y\n", owner="no-such-user-mailfleet")], run)
    assert "no-such-user-mailfleet" in e.value.msg and not good.exists()


def test_mode_only_change_is_detected_and_applied(tmp_path):
    a = tmp_path / "secret"
    a.write_text("pw\n")
    os.chmod(a, 0o644)
    r = apply_plan([f(a, "pw\n", mode="0600", secret=True)], run, check_mode=True)
    assert r["changed_files"] == [str(a)] and mode_of(a) == 0o644
    apply_plan([f(a, "pw\n", mode="0600", secret=True)], run)
    assert mode_of(a) == 0o600


def test_backup_keeps_previous_content(tmp_path):
    a = tmp_path / "main.cf"
    a.write_text("old\n")
    r = apply_plan([f(a, "new\n")], run, backup=True)
    backup = r["files"][0]["backup_file"]
    assert open(backup).read() == "old\n" and a.read_text() == "new\n"


def test_root_prefix_skips_validators_and_services(tmp_path):
    root = tmp_path / "image"
    rec = Recorder()
    r = apply_plan([f("/etc/postfix/main.cf", "x = 1\n")], rec, root=str(root),
                   validate=[["false"]], services=[{"name": "postfix", "status": ["true"], "reload": ["false"]}])
    assert (root / "etc/postfix/main.cf").read_text() == "x = 1\n"
    assert rec.calls == []
    assert any("validator" in s for s in r["skipped_steps"]) and any("service postfix" in s for s in r["skipped_steps"])


def test_services_reload_only_when_running_and_changed(tmp_path):
    a = tmp_path / "a"
    rec = Recorder()
    svc = [{"name": "svc", "status": ["false"], "reload": ["true"]}]
    r = apply_plan([f(a, "1\n")], rec, services=svc)
    assert r["services"] == [] and "service svc (not running)" in r["skipped_steps"]
    svc = [{"name": "svc", "status": ["true"], "reload": ["true"]}]
    r = apply_plan([f(a, "2\n")], rec, services=svc)
    assert r["services"] == ["svc"]
    rec.calls.clear()
    r = apply_plan([f(a, "2\n")], rec, services=svc)
    assert r["services"] == [] and rec.calls == []
    r = apply_plan([f(a, "3\n")], rec, services=svc, run_services=False)
    assert r["services"] == []


def test_symlink_target_is_written(tmp_path):
    real = tmp_path / "real.cf"
    real.write_text("old\n")
    link = tmp_path / "link.cf"
    link.symlink_to(real)
    apply_plan([f(link, "new\n")], run)
    assert link.is_symlink() and real.read_text() == "new\n"


def test_duplicate_path_is_an_error(tmp_path):
    with pytest.raises(ApplyError):
        apply_plan([f(tmp_path / "a", "1\n"), f(tmp_path / "a", "2\n")], run)


def test_tty_validator_reports_what_a_program_prints_only_to_a_terminal(tmp_path):
    a = tmp_path / "a"
    a.write_text("old\n")
    script = 'if [ -t 2 ]; then echo "fatal: bad numerical configuration: x_limit = abc" >&2; fi; exit 1'
    with pytest.raises(ApplyError) as e:
        apply_plan([f(a, "new\n")], run, validate=[{"argv": ["sh", "-c", script], "tty": True}])
    assert "bad numerical configuration: x_limit = abc" in e.value.msg
    assert a.read_text() == "old\n"


# -- programs that are not installed (issue: relay_root on a build host without Postfix) ----------------------

def no_postmap(name):
    """A host where every program but postmap and postfix is installed."""
    from ansible_collections.mailfleet.outlook.plugins.module_utils._apply_programs import find_program
    return None if name in ("postmap", "postfix") else find_program(name)


POSTFIX_PROGRAMS = {"postmap": "postfix", "postfix": "postfix"}


def test_missing_program_on_a_live_system_fails_before_any_write(tmp_path):
    cf, m = tmp_path / "main.cf", tmp_path / "sasl_passwd"
    rec = Recorder()
    with pytest.raises(ApplyError) as e:
        apply_plan([f(cf, "a = 1\n"), f(m, "k v\n", post=[["postmap", "{dest}"]], creates=["{dest}.db"])], rec,
                   validate=[{"argv": ["postfix", "check"], "tty": True}], programs=POSTFIX_PROGRAMS,
                   which=no_postmap)
    assert e.value.msg.startswith("postmap (package postfix), postfix (package postfix) are not installed on "
                                  "this host, and the new configuration needs them; nothing was written. "
                                  "Fix: install postfix first"), e.value.msg
    assert not cf.exists() and not m.exists() and rec.calls == []
    # check mode says the same as a warning instead of failing (a package task may only have pretended)
    r = apply_plan([f(cf, "a = 1\n")], rec, check_mode=True, validate=[["postfix", "check"]],
                   programs=POSTFIX_PROGRAMS, which=no_postmap)
    assert r["changed_files"] == [str(cf)] and len(r["warnings"]) == 1
    assert r["warnings"][0].startswith("check mode: postfix (package postfix) is not installed on this host")
    assert "the real run fails here unless it is installed first" in r["warnings"][0]


def test_missing_program_does_not_matter_when_nothing_changes(tmp_path):
    cf = tmp_path / "main.cf"
    cf.write_text("a = 1\n")
    r = apply_plan([f(cf, "a = 1\n")], run, validate=[["postfix", "check"]], programs=POSTFIX_PROGRAMS,
                   which=no_postmap)
    assert not r["changed"] and not r["warnings"]


def test_missing_post_program_under_an_image_root_is_a_warning(tmp_path):
    root = tmp_path / "image"
    spec = f("/etc/postfix/sasl_passwd", "k v\n", mode="0600", secret=True,
             post=[["postmap", "-c", "{destdir}", "hash:{dest}"]], creates=["{dest}.db"],
             post_hint="set relay_postfix_map_type to texthash")
    rec = Recorder()
    r = apply_plan([spec], rec, root=str(root), validate=[["postfix", "check"]], programs=POSTFIX_PROGRAMS,
                   which=no_postmap)
    dest = root / "etc/postfix/sasl_passwd"
    assert dest.read_text() == "k v\n" and not (root / "etc/postfix/sasl_passwd.db").exists()
    assert rec.calls == [] and r["post_steps"] == []
    assert "post step postmap -c %s hash:%s (postmap is not installed on this host)" % (dest.parent, dest) \
        in r["skipped_steps"]
    assert r["warnings"] == [
        "postmap is not installed on this build host (package postfix): 'postmap -c %s hash:%s' was skipped, so "
        "/etc/postfix/sasl_passwd under %s was written but not compiled (/etc/postfix/sasl_passwd.db missing). "
        "Fix: run that step inside the image (for example at first boot, where postmap is installed), or install "
        "postfix on the build host; or set relay_postfix_map_type to texthash" % (dest.parent, dest, root)]


def test_programs_run_by_their_located_path_and_are_shown_by_name(tmp_path):
    src = tmp_path / "map"
    seen = []

    def which(name):
        seen.append(name)
        return "/bin/cp" if name == "copy-tool" else None

    rec = Recorder()
    r = apply_plan([f(src, "k v\n", post=[["copy-tool", "{dest}", "{dest}.db"]], creates=["{dest}.db"])], rec,
                   which=which)
    assert rec.calls == [["/bin/cp", str(src), "%s.db" % src]] and seen == ["copy-tool"]
    assert r["post_steps"] == ["copy-tool %s %s.db" % (src, src)]


def test_find_program_looks_in_the_sbin_directories_too(tmp_path):
    from ansible_collections.mailfleet.outlook.plugins.module_utils._apply_programs import find_program
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\n")
    assert find_program("tool", search_path=str(tmp_path)) is None  # not executable
    tool.chmod(0o755)
    assert find_program("tool", search_path=str(tmp_path)) == str(tool)
    assert find_program(str(tool)) == str(tool)
    assert find_program("mailfleet-no-such-program", search_path="") is None
    if os.path.exists("/usr/sbin/postmap"):
        found = find_program("postmap", search_path="/nonexistent")
        assert found in ("/sbin/postmap", "/usr/sbin/postmap") and os.path.samefile(found, "/usr/sbin/postmap")
