# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The probe package of smtp_check (standard library only: it runs on targets).

Today the engine is ``plugins/module_utils/_smtp_probe.py``; the structure issue moves it here module by
module (deadline and channel, TLS and certificates, SMTP, IMAP/POP, options, engine). What lives here already:

- ``errors``: ``ProbeError``, the exception every stage raises with a diagnosis code;
- ``proxy``: proxy URLs (``socks5h://``, ``socks5://``, ``http://``) and the SOCKS5 / HTTP CONNECT tunnel that
  a probe opens inside its one deadline;
- ``mailbox``: the IMAP and POP logins (LOGIN, USER/PASS, XOAUTH2) and the optional EXAMINE INBOX / STAT.

Modules import these by their full name (``ansible_collections.mailfleet.outlook.plugins.module_utils._probe.proxy``)
so that Ansible's module packaging ships them to the target with the module.
"""
