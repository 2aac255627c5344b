# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller half of mailfleet.outlook.mail_config: validate, render, then one module call per host.

Rendering uses the controller's Ansible templar (so templates have Ansible's filters and the host's
variables), with the 2.19 API (``trust_as_template`` + ``Templar.template``) when present and the
2.16-2.18 API (``Templar.do_template``) otherwise.  Injected data (settings, variables, secrets) is
marked unsafe / untrusted, so a value that contains ``{{`` is never evaluated as a template.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.mailfleet.outlook.plugins.module_utils._apply import USER_ARGUMENT_SPEC
from ansible_collections.mailfleet.outlook.plugins.module_utils._settings import (
    HIDDEN,
    SettingsError,
    build_settings,
    is_secret_name,
    refuse_control_characters,
)
from ansible_collections.mailfleet.outlook.plugins.plugin_utils._action import ActionError, MailfleetActionBase
from ansible_collections.mailfleet.outlook.plugins.plugin_utils._format_model import fill
from ansible_collections.mailfleet.outlook.plugins.plugin_utils._formats import FORMATS
from ansible_collections.mailfleet.outlook.plugins.plugin_utils._quote import Unrepresentable

try:  # ansible-core >= 2.19 (data tagging): template text must be marked trusted explicitly
    from ansible.template import trust_as_template as _trust_as_template
    _HAS_TRUST = True
except ImportError:  # 2.16 - 2.18
    _HAS_TRUST = False

    def _trust_as_template(value):
        return value


PLUGINS_DIR = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
BUILTIN_TEMPLATES = os.path.join(PLUGINS_DIR, "templates")


# The plan's parts the action plugin hands to the module, each as the module's option ``_<name>``.
INTERNAL_OPTIONS = ("files", "secret_contents", "validate", "services", "programs")

MANAGED = ("Managed by Ansible (mailfleet.outlook.mail_config, format %s): local changes are overwritten. "
           "Template: %s")


class PlanError(ActionError):
    pass


def _unrepresentable(error):
    """The Unrepresentable error behind a template error (the quote filter raised it), or None."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, Unrepresentable):
            return error
        seen.add(id(error))
        error = getattr(error, "orig_exc", None) or error.__cause__ or error.__context__
    return None


def refuse_control_characters_in_args(args, formats, var):
    """Values are data: every string the call was given - format variables (except the ones a format takes as
    multi-line text: PEM certificates and keys too), settings,
    secrets (named, never shown), the root and template directory - is refused
    when it holds a control character, before anything else is looked at."""
    multiline = set()
    for fmt in formats:
        multiline.update(fmt.multiline)
    for key in ("root", "template_dir"):
        refuse_control_characters(key, args.get(key))
    for key, value in (args.get("settings") or {}).items():
        refuse_control_characters(var(str(key)), value)
    for key, value in (args.get("vars") or {}).items():
        refuse_control_characters(var(str(key)), value, multiline=key in multiline)
    for key, value in (args.get("secrets") or {}).items():
        refuse_control_characters(var(str(key)), value, secret=True, multiline=key in multiline)


def render_text(templar, source, variables, searchpath):
    """Render template text with the controller's templar (2.16 through 2.19+)."""
    data_templar = templar.copy_with_new_env(searchpath=searchpath, available_variables=variables)
    overrides = dict(trim_blocks=True, lstrip_blocks=True)
    if _HAS_TRUST:
        out = data_templar.template(_trust_as_template(source), escape_backslashes=False,
                                    preserve_trailing_newlines=True, overrides=overrides)
    else:
        out = data_templar.do_template(source, preserve_trailing_newlines=True, escape_backslashes=False,
                                       overrides=overrides)
    if out is None:
        return ""
    return str(to_text(out))


def _var_namer(args):
    """``var(name)``: the caller's name for a format variable (``var_names``, else ``var_prefix`` + name)."""
    prefix = args["var_prefix"] or ""
    names = args.get("var_names") or {}

    def var(name):
        return names.get(name) or prefix + name
    return var


def _errors_text(errors, var):
    return "; ".join("%s: %s. Fix: %s" % (var(v), p, fix) for v, p, fix in errors)


def plan_formats(names, var):
    """The Format of each name, once each, in the order given; an unknown name is a PlanError."""
    formats = []
    for name in names:
        if name not in FORMATS:
            raise PlanError("%s=%r: not a known format. Fix: use one of %s" % (
                var("format"), name, ", ".join(sorted(FORMATS))))
        if FORMATS[name] not in formats:
            formats.append(FORMATS[name])
    return formats


def format_variables(fmt, given):
    """A format's variables: its defaults, overridden by the given values that are its own and not None."""
    cfg = dict(fmt.variables)
    cfg.update((k, v) for k, v in given.items() if k in fmt.variables and v is not None)
    return cfg


def precheck_formats(formats, given, settings_args, var):
    """Each format's precheck (before the settings model is built) on its variables and the non-empty settings."""
    settings_given = dict((k, v) for k, v in (settings_args or {}).items() if v not in (None, ""))
    for fmt in formats:
        if fmt.precheck:
            errors = fmt.precheck(format_variables(fmt, given), settings_given, var)
            if errors:
                raise PlanError(_errors_text(errors, var))


def refuse_unknown_variables(formats, given, var):
    known = set()
    for f in formats:
        known.update(f.variables)
    unknown = sorted(k for k in given if k not in known)
    if unknown:
        raise PlanError("%s: not a variable of format(s) %s. Fix: use one of %s" % (
            ", ".join(var(k) for k in unknown), ", ".join(f.name for f in formats),
            ", ".join(var(k) for k in sorted(known))))


def given_secrets(formats, secrets, var):
    """The names of the secrets given a value; a secret no format takes is a PlanError."""
    allowed = set()
    for f in formats:
        allowed.update(f.secrets)
    bad = sorted(k for k in secrets if k not in allowed)
    if bad:
        raise PlanError("%s: not a secret of format(s) %s. Fix: use %s" % (
            ", ".join(var(k) for k in bad), ", ".join(f.name for f in formats),
            ", ".join(var(k) for k in sorted(allowed)) or "no secrets"))
    return set(k for k, v in secrets.items() if v not in (None, ""))


def template_searchpath(template_dir, var):
    """The user's template directory (which must exist on the controller), then the collection's templates."""
    searchpath = []
    if template_dir:
        tdir = os.path.expanduser(template_dir)
        if not os.path.isdir(tdir):
            raise PlanError("%s=%r: not a directory on the controller. Fix: give the directory that holds "
                            "<format>/<file>.j2 overrides" % (var("template_dir"), tdir))
        searchpath.append(tdir)
    searchpath.append(BUILTIN_TEMPLATES)
    return searchpath


def file_entry(fmt, spec, cfg, ctx, var):
    """The plan entry of one file of a format (no content yet): paths and commands filled from ``cfg``."""
    try:
        path = fill(spec.path, cfg)
        mode, owner, group = (fill(x, cfg) if x else x for x in (spec.mode, spec.owner, spec.group))
        with_post = spec.post_when is None or spec.post_when(ctx)
        post = [[fill(a, cfg) for a in argv] for argv in spec.post] if with_post else []
        creates = [fill(p, cfg) for p in spec.creates] if with_post else []
        remove_with = [fill(p, cfg) for p in spec.remove_with]
    except KeyError as e:
        raise PlanError("format %s, file %s: variable %s is required. Fix: set %s" % (
            fmt.name, spec.path, var(e.args[0]), var(e.args[0])))
    if not path.startswith("/"):
        raise PlanError("format %s: %r is not an absolute path. Fix: give absolute paths" % (fmt.name, path))
    entry = {"path": path, "mode": mode, "owner": owner, "group": group, "secret": spec.secret,
             "dir_mode": spec.dir_mode, "post": post, "creates": creates, "remove_with": remove_with}
    if post and spec.post_hint is not None:
        entry["post_hint"] = spec.post_hint(var)
    return entry


def format_validators(fmt, cfg):
    """A format's validators with their arguments filled (argv lists, or dicts with ``argv``)."""
    validate = []
    for v in fmt.validate:
        if isinstance(v, dict):
            validate.append(dict(v, argv=[fill(a, cfg) for a in v["argv"]]))
        else:
            validate.append([fill(a, cfg) for a in v])
    return validate


def plan(args, render):
    """Validate the call's arguments and render every file of its formats: the plan the module applies.

    ``render(template, searchpath, ours, describe)`` renders one template (the action plugin's templar);
    every bad input is a PlanError or SettingsError, raised before anything is rendered or written."""
    var = _var_namer(args)
    formats = plan_formats(args["format"], var)
    refuse_control_characters_in_args(args, formats, var)

    # variables: known to at least one requested format; defaults per format
    given = dict(args["vars"] or {})
    precheck_formats(formats, given, args["settings"], var)
    settings = build_settings(args["profile"], dict(args["settings"] or {}), var_prefix=args["var_prefix"] or "")
    refuse_unknown_variables(formats, given, var)
    secrets = dict((k, v) for k, v in (args["secrets"] or {}).items())
    secrets_given = given_secrets(formats, secrets, var)
    searchpath = template_searchpath(args["template_dir"], var)

    files, secret_contents, validate, services, format_warnings, programs = [], {}, [], [], [], {}
    seen_paths = {}
    for fmt in formats:
        cfg = format_variables(fmt, given)
        ctx = {"settings": settings, "cfg": cfg, "secrets_given": secrets_given, "var": var,
               "format": fmt.name, "formats": [f.name for f in formats]}
        if fmt.check:
            errors = fmt.check(ctx)
            if errors:
                raise PlanError(_errors_text(errors, var))
        if fmt.prepare:
            cfg.update(fmt.prepare(ctx))
        if fmt.warn:
            format_warnings.extend(fmt.warn(ctx))

        for spec in fmt.files:
            entry = file_entry(fmt, spec, cfg, ctx, var)
            path = entry["path"]
            if path in seen_paths:
                raise PlanError("formats %s and %s both write %s" % (seen_paths[path], fmt.name, path))
            seen_paths[path] = fmt.name
            if spec.when is not None and not spec.when(ctx):
                entry["state"] = "absent"
                files.append(entry)
                continue
            if spec.source:
                with open(os.path.join(PLUGINS_DIR, spec.source), "rb") as handle:
                    content = handle.read().decode("utf-8")
            else:
                content = render(spec.template, searchpath, {
                    "settings": settings, "cfg": cfg, "secrets": secrets, "mailfleet_path": path,
                    "mailfleet_format": fmt.name,
                    "mailfleet_managed": MANAGED % (fmt.name, spec.template),
                }, lambda name, fmt=fmt: (var(name), name in fmt.secrets or is_secret_name(name)))
            if spec.finalize is not None:
                content = spec.finalize(content, ctx)
            entry["state"] = "present"
            if spec.secret:
                secret_contents[path] = content
            else:
                entry["content"] = content
            files.append(entry)
        validate.extend(format_validators(fmt, cfg))
        services.extend(dict(s) for s in fmt.services)
        programs.update(fmt.programs)

    return {"formats": [f.name for f in formats], "files": files, "secret_contents": secret_contents,
            "validate": validate, "services": services, "programs": programs,
            "warnings": list(settings.get("warnings") or []) + format_warnings,
            "settings": settings}


class ActionModule(MailfleetActionBase):

    TRANSFERS_FILES = False

    NAME = "mailfleet.outlook.mail_config"
    ARGUMENT_SPEC = USER_ARGUMENT_SPEC
    FAILURES = (PlanError, SettingsError)

    def run_validated(self, args, task_vars, result):
        plan = self._plan(args, task_vars)
        warnings = plan["warnings"]
        if args["validate_only"]:
            result.update(changed=False, msg="inputs valid; %d file(s) rendered for %s" % (
                len(plan["files"]), ", ".join(plan["formats"])), formats=plan["formats"],
                files=[{"path": f["path"], "state": f.get("state", "present"), "secret": f["secret"]}
                       for f in plan["files"]],
                settings_warnings=warnings, settings=plan["settings"])
            if warnings:
                result["warnings"] = list(warnings)
            return result

        module_args = dict(
            format=plan["formats"],
            root=args["root"],
            backup=args["backup"],
            reload=args["reload"],
            on_refusal=args["on_refusal"],
            secrets=dict((k, v) for k, v in (args["secrets"] or {}).items() if v),
        )
        # the plan, as the module's internal options (_-prefixed, undocumented, refused in a task)
        module_args.update(("_" + key, plan[key]) for key in INTERNAL_OPTIONS)
        module_result = self._execute_module(module_name="mailfleet.outlook.mail_config",
                                             module_args=module_args, task_vars=task_vars)
        module_result.pop("invocation", None)
        result.update(module_result)
        if warnings:
            result["settings_warnings"] = list(warnings)
            result.setdefault("warnings", []).extend(warnings)
        return result

    # ------------------------------------------------------------------------------------------
    def _plan(self, args, task_vars):
        return plan(args, lambda template, searchpath, ours, describe: self._render(
            template, searchpath, task_vars, ours, describe))

    def _render(self, template, searchpath, task_vars, ours, describe):
        """Render one template; ``describe(name)`` gives (caller's variable name, is a secret) for the error of a
        value the template's syntax cannot represent."""
        source_path = None
        for d in searchpath:
            candidate = os.path.join(d, template)
            if os.path.isfile(candidate):
                source_path = candidate
                break
        if source_path is None:
            raise PlanError("template %s not found in %s" % (template, ", ".join(searchpath)))
        with open(source_path, "rb") as f:
            source = f.read().decode("utf-8")
        variables = dict(task_vars)
        for k, v in ours.items():
            variables[k] = wrap_var(v)
        # the template's own directory too, for relative includes
        path = list(searchpath) + [os.path.dirname(source_path)]
        try:
            return render_text(self._templar, source, variables, path)
        except AnsibleError as e:
            refused = _unrepresentable(e)
            if refused is not None:
                name, secret = describe(refused.variable or "value")
                raise PlanError("%s=%r: cannot be written into %s (%s syntax): %s. Fix: %s" % (
                    name, HIDDEN if secret else refused.value, template, refused.syntax, refused.problem, refused.fix))
            raise PlanError("rendering %s failed: %s" % (source_path, to_text(e)))
