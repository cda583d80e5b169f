# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the cslr.platform collection. Not a public API: names and return
# shapes may change in any release without notice.
#
# Writing small files and directories as ansible.builtin.file and copy do (owner,
# group and mode set only where they differ; content replaced through a temporary
# file renamed over the old one), for the modules that do many in one run:
# cslr.platform.project_files and cslr.platform.host_files.

from __future__ import annotations

import os
import tempfile


def read(path):
    """The bytes of a file, or None when it does not exist."""
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except FileNotFoundError:
        return None


class Writer(object):
    """Writes through an AnsibleModule (its check mode, run_command and fail_json); records nothing."""

    def __init__(self, module):
        self.module = module

    def attributes(self, path, owner, group, mode):
        """Owner, group and mode of an existing path; True when one was (or would be) changed."""
        changed = self.module.set_owner_if_different(path, owner, False)
        changed = self.module.set_group_if_different(path, group, changed)
        return self.module.set_mode_if_different(path, mode, changed)

    def directory(self, path, owner, group, mode):
        """Create path and its missing parents, each with this owner and mode (as file does); True when
        anything was (or would be) created or changed."""
        path = os.path.abspath(path)
        missing = []
        current = path
        while not os.path.isdir(current):
            if os.path.lexists(current):
                self.module.fail_json(msg='%s exists and is not a directory' % current)
            missing.append(current)
            current = os.path.dirname(current)
        if missing and self.module.check_mode:
            return True
        for directory in reversed(missing):
            os.mkdir(directory)
            self.attributes(directory, owner, group, mode)
        return self.attributes(path, owner, group, mode) or bool(missing)

    def write(self, dest, data, owner, group, mode, validate=None, changed_files=None):
        """Replace dest with data: a temporary file in its directory, its attributes, the validate command
        (%s: the temporary file) when given, then renamed over dest."""
        module = self.module
        fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(dest), dir=os.path.dirname(dest))
        try:
            with os.fdopen(fd, 'wb') as handle:
                handle.write(data)
            self.attributes(tmp, owner, group, mode)
            if validate:
                if '%s' not in validate:
                    module.fail_json(msg='validate must contain %%s: %s' % validate)
                rc, out, err = module.run_command(validate % tmp)
                if rc != 0:
                    module.fail_json(msg='failed to validate %s: %s' % (os.path.basename(dest), (err or out).strip()),
                                     rc=rc, stdout=out, stderr=err, changed_files=changed_files or [])
            os.replace(tmp, dest)
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
