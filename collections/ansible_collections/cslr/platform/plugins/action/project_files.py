# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin of cslr.platform.project_files: reads files[].src on the controller, then runs the module once."""

from __future__ import annotations

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    """Inline the content of each files[].src (a controller path, as ansible.builtin.copy's src), then run the module."""

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        files = []
        for item in args.get('files') or []:
            if not isinstance(item, dict):
                result.update(failed=True, msg='files: each entry is a dict with dest and content or src, got %r' % (item,))
                return result
            item = dict(item)
            src = item.pop('src', None)
            if src is not None:
                if item.get('content') is not None:
                    result.update(failed=True, msg='files: %s: give content or src, not both' % item.get('dest'))
                    return result
                path = None
                try:
                    # A vaulted src is decrypted into a temporary file, removed again below (as copy does).
                    path = self._loader.get_real_file(self._find_needle('files', to_text(src)), decrypt=True)
                    with open(path, 'rb') as handle:
                        item['content'] = handle.read().decode('utf-8')
                except (AnsibleError, OSError, UnicodeError) as exc:
                    result.update(failed=True, msg='files: %s: cannot read src %s as UTF-8 text: %s'
                                  % (item.get('dest'), src, to_text(exc)))
                    return result
                finally:
                    if path is not None:
                        self._loader.cleanup_tmp_file(path)
            files.append(item)
        args['files'] = files
        result.update(self._execute_module(module_name='cslr.platform.project_files', module_args=args,
                                           task_vars=task_vars))
        return result
