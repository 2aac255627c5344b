# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mailfleet lab: an Exchange Online look-alike on loopback for tests and demos.

Run it with ``PYTHONPATH=lab python -m mailfleet_lab --default`` (or ``--config cfg.json``).
It runs on the controller / test machine (aiosmtpd, trustme, cryptography), never on targets.
"""

__version__ = "0.1.0"
