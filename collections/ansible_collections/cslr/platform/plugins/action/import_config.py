# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin of cslr.platform.import_config: controller-only file conversion."""

from __future__ import annotations

import os

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.action import ActionBase

from ansible_collections.cslr.platform.plugins.module_utils import _import_config


class ActionModule(ActionBase):
    """Read the original config.yaml on the controller, write the vars file on the controller."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(('config', 'dest'))

    def run(self, tmp=None, task_vars=None):
        import yaml

        result = super(ActionModule, self).run(tmp, task_vars)
        result['changed'] = False
        config = self._task.args.get('config')
        dest = self._task.args.get('dest')
        if not config or not dest:
            result.update(failed=True, msg='config and dest are required: '
                          '-e config=PATH/config.yaml -e dest=OUT.yml')
            return result
        config = os.path.abspath(os.path.expanduser(to_text(config)))
        dest = os.path.abspath(os.path.expanduser(to_text(dest)))
        if not os.path.isfile(config):
            result.update(failed=True, msg='%s: no such file' % config)
            return result
        nodes_yaml = os.path.join(os.path.dirname(config), 'nodes.yaml')
        try:
            with open(config, 'rb') as handle:
                data = yaml.safe_load(handle)
        except (OSError, yaml.YAMLError) as exc:
            result.update(failed=True, msg='%s: cannot be read as YAML: %s' % (config, to_text(exc)))
            return result
        try:
            variables, notes = _import_config.convert(data, os.path.exists(nodes_yaml))
        except _import_config.ImportRefused as exc:
            result.update(failed=True, errors=exc.errors,
                          msg='%s was not imported:\n%s' % (config, '\n'.join(exc.errors)))
            return result
        text = _import_config.render(variables, notes, os.path.basename(config))
        old = None
        if os.path.exists(dest):
            with open(dest, 'rb') as handle:
                old = to_text(handle.read())
        result['changed'] = old != text
        if result['changed'] and not self._task.check_mode:
            try:
                parent = os.path.dirname(dest)
                if parent and not os.path.isdir(parent):
                    os.makedirs(parent)
                tmp_path = dest + '.tmp'
                # The file may hold the database password: owner-only.
                fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, 'wb') as handle:
                    handle.write(to_bytes(text))
                os.rename(tmp_path, dest)
            except OSError as exc:
                raise AnsibleError('cannot write %s: %s' % (dest, to_text(exc)))
        result['dest'] = dest
        result['variables'] = list(variables)
        result['dropped'] = ['%s = %s: %s' % (note.path, note.shown, note.reason) for note in notes]
        checks = _import_config.warnings(notes)
        if checks:
            result['warnings'] = ['imported, but it fails this platform\'s checks (fix it before deploying): %s'
                                  % line for line in checks]
        result['msg'] = 'Wrote %d variables to %s (%d settings not imported or to set in the inventory, listed in ' \
            'the file header)' % (len(variables), dest, len(notes))
        return result
