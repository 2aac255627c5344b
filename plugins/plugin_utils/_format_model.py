# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The two classes of the mail_config format registry, ``File`` and ``Format``, and ``fill`` (path placeholders).

The registry itself (``FORMATS``) is in ``_formats.py``. These live here so that the files defining formats
(``_formats.py``, ``_client_formats.py``, ``_xoauth2_formats.py``) import them without importing each other.

Contract of a ``Format``:

``name``         the value users give to ``format:``.
``description``  one line for docs and error messages.
``variables``    the format variables with their defaults (``None`` = optional, no default).  Callers pass
                 them in ``vars:``; unknown names are an error that names ``<var_prefix><name>``.
``secrets``      names of the secret values the templates may use (``secrets.password`` ...).
``files``        ``File`` entries (below), rendered in order.
``precheck``     optional ``precheck(cfg, overrides, var)`` run before the settings are built, for errors that
                 the format explains better than the settings model (same tuples as ``check``).
``check``        optional ``check(ctx)`` returning a list of ``(variable, problem, fix)`` tuples: input
                 errors found before rendering (``variable`` is the unprefixed name; the prefix is added).
``prepare``      optional ``prepare(ctx)`` returning a dict merged into ``cfg`` (computed values for the
                 templates, e.g. the upstream host:port of a mode), so templates stay simple.
``validate``     argv lists (or ``{"argv": [...], "tty": True}`` for programs that print errors only to a
                 terminal) run on the target after all files are written (``{root}`` is replaced).
                 A non-zero exit restores every file of the call.  Skipped when ``root`` is not ``/``.
``warn``         optional ``warn(ctx)`` returning warning texts shown to the user (after ``prepare``).
``multiline``    names of the variables that take multi-line text (a file's content). Every other string
                 value - variables, settings, secrets, anything nested in them - is refused when it holds a
                 control character, before anything is rendered; templates write every value through the
                 ``mailfleet.outlook.quote`` filter for their file's syntax (``plugin_utils/_quote.py``).
``services``     dicts ``{"name", "status": argv, "reload": argv}``: reloaded (never restarted) after a
                 change when ``status`` succeeds and the module's ``reload`` option is true.
``programs``     ``{program: package}`` for the programs that ``post``, ``validate`` and ``services`` run, so that a
                 missing one is reported by name with the package that provides it (before any file is
                 written on a live system; as a warning, with the step skipped, under a ``root`` image directory).

``File`` entries:

``template``     path under the template search path (user ``template_dir`` first, then the collection's
                 ``plugins/templates``), e.g. ``postfix_relay/main.cf.j2``.
``source``       instead of a template: a file of the collection (relative to ``plugins/``) copied verbatim,
                 e.g. ``module_utils/_oauth2.py`` (shared code installed for a helper); not overridable.
``path``         target path; ``{name}`` placeholders are filled from ``cfg`` (format variables merged with
                 ``prepare``'s values), e.g. ``{postfix_dir}/main.cf``.
``mode/owner/group``  strings; placeholders allowed (per-user files: ``owner="{user}"``).
``dir_mode``     mode of the directories the module creates on the file's way (default ``0755``; per-user
                 files ``0700``).  Directories are created by whoever controls their parent: inside a
                 user's home, by that user.
``secret``       the file holds a secret: mode should be 0600, content is redacted in diffs and results.
``when``         optional ``when(ctx) -> bool``; when false the file is *removed* from the target if it
                 exists (with its ``remove_with`` outputs), so dropping an option drops its file.
``post``         argv lists run after the file changed (``{dest}`` = written path, ``{destdir}`` = its
                 directory, ``{root}`` = the root option), e.g. ``postmap -c {destdir} hash:{dest}``.
``post_when``    optional ``post_when(ctx) -> bool``; when false the file has no post steps (and no ``creates``),
                 e.g. a ``texthash:`` map, which Postfix reads as text and ``postmap`` does not compile.
``post_hint``    optional ``post_hint(var) -> text``: the other way out when a ``post`` program is missing on a
                 build host (``var`` names the caller's variables), shown in the warning.
``creates``      outputs of ``post``; when one is missing, ``post`` runs even if the file is unchanged.
``remove_with``  paths removed together with the file (e.g. the ``.db`` of a map).
``finalize``     optional ``finalize(content, ctx) -> content`` applied to the rendered text (rarely needed).

``ctx`` is a dict: ``settings`` (validated settings), ``cfg`` (variables after defaults), ``formats`` (names of
all formats of the call), ``secrets_given``
(set of secret names with a non-empty value), ``var`` (function: unprefixed name -> caller's variable name).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class File(object):
    def __init__(self, template, path, mode="0644", owner="root", group="root", secret=False, when=None,
                 post=None, creates=None, remove_with=None, finalize=None, source=None, post_when=None,
                 post_hint=None, dir_mode="0755"):
        self.template = template
        self.dir_mode = dir_mode
        self.source = source
        self.path = path
        self.mode = mode
        self.owner = owner
        self.group = group
        self.secret = secret
        self.when = when
        self.post = post or []
        self.post_when = post_when
        self.post_hint = post_hint
        self.creates = creates or []
        self.remove_with = remove_with or []
        self.finalize = finalize


def program_file(source, path, python=None, **kwargs):
    """A program of the collection (``source``: plain Python under ``plugins/``) installed verbatim as ``path``
    (0755) behind its ``#!`` line (``python``, else the format's ``python`` variable) and a managed-by line."""
    def finalize(content, ctx):
        return "#!%s\n# Managed by Ansible (mailfleet.outlook.mail_config, format %s): local changes are overwritten. " \
               "Source: plugins/%s\n%s" % (python or ctx["cfg"]["python"], ctx["format"], source, content)
    return File(None, path, mode="0755", source=source, finalize=finalize, **kwargs)


class Format(object):
    def __init__(self, name, description, files, variables=None, secrets=(), check=None, prepare=None,
                 validate=None, services=None, warn=None, precheck=None, programs=None, multiline=()):
        self.name = name
        self.description = description
        self.files = files
        self.variables = variables or {}
        self.secrets = tuple(secrets)
        self.check = check
        self.prepare = prepare
        self.validate = validate or []
        self.services = services or []
        self.warn = warn
        self.precheck = precheck
        self.programs = dict(programs or {})
        self.multiline = tuple(multiline)


def fill(text, values, keep=("dest", "destdir", "root")):
    """Replace ``{name}`` with values[name]; names in ``keep`` are left for the target side."""

    def repl(m):
        name = m.group(1)
        if name in keep:
            return m.group(0)
        if name not in values or values[name] is None:
            raise KeyError(name)
        return str(values[name])

    return _PLACEHOLDER.sub(repl, text)
