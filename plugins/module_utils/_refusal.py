# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A path the write path leaves alone, and how it is shown to the user (one definition, used by every part of
the safe file access: ``_safe_fs`` (the walk), ``_as_user`` (the child processes), ``_safe_fs_ops`` (the operations))."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class Refused(Exception):
    """A path that must be left alone: ``path`` (absolute) ``problem`` (e.g. "is a symbolic link")."""

    def __init__(self, path, problem):
        super(Refused, self).__init__("%s %s" % (path, problem))
        self.path = path
        self.problem = problem

    def describe(self, home=None):
        """'left alone: ~/.config is a symbolic link' (paths under ``home`` shown with ``~``)."""
        return "left alone: %s %s" % (tilde(self.path, home), self.problem)


def tilde(path, home):
    if path and home and home != "/":
        home = home.rstrip("/")
        if path == home:
            return "~"
        if path.startswith(home + "/"):
            return "~" + path[len(home):]
    return path
