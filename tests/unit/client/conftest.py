# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render the client formats through the real mail_config engine (its action plugin's planner and the
controller's Ansible templar), without a host: ``render_client(formats, account=..., ...)`` returns
{path: content} plus the plan."""

from __future__ import annotations

import pytest

from mailfleet_testing import format_planner


@pytest.fixture
def render_client():
    action = format_planner()

    def render(formats, vars, secrets=None, profile="microsoft365", settings=None):
        args = {"format": list(formats), "profile": profile, "settings": settings or {}, "vars": vars,
                "secrets": secrets or {}, "var_prefix": "client_", "template_dir": None, "root": "/",
                "backup": False, "reload": False, "validate_only": False}
        plan = action._plan(args, {})
        files = {}
        for f in plan["files"]:
            if f.get("state") == "absent":
                continue
            files[f["path"]] = plan["secret_contents"][f["path"]] if f["secret"] else f["content"]
        return files, plan

    return render
