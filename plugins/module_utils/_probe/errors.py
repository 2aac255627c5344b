# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The exception every probe stage raises when it fails with a diagnosis code (standard library only)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ProbeError(Exception):
    """A stage failed with a diagnosis code (a key of ``_diagnosis.CODES``).

    ``detail`` is appended to the code's message; ``hint`` (when given) replaces the code's default hint.
    """

    def __init__(self, code, detail=None, hint=None, stage=None):
        Exception.__init__(self, detail or code)
        self.code = code
        self.detail = detail
        self.hint = hint
        self.stage = stage
