# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin of cslr.platform.validate_config: controller-only, never contacts a host."""

from __future__ import annotations

import json
import os
import re

from ansible import context
from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.parsing.splitter import parse_kv
from ansible.plugins.action import ActionBase

from ansible_collections.cslr.platform.plugins.module_utils import _config_spec as spec
from ansible_collections.cslr.platform.plugins.module_utils import _validate

# Variables read besides cslr_*: the original config.yaml sections pasted as variables.
_EXTRA_NAMES = tuple(spec.ORIGINAL_SECTIONS)


def plain(value):
    """Ansible's templated/tagged values as plain Python (bool, int, float, str, list, dict, None)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict) or hasattr(value, 'items'):
        return dict((str(k) if isinstance(k, str) else to_text(k), plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)) or hasattr(value, '__iter__'):
        return [plain(v) for v in value]
    # Vault-encrypted strings and other text-like objects.
    return to_text(value)


def key_value_extra_vars():
    """Names given on the command line as `-e NAME=VALUE`: Ansible passes those as strings."""
    names = set()
    for opt in (context.CLIARGS.get('extra_vars') or ()):
        opt = to_text(opt).strip()
        if not opt or opt[0] in ('@', '/', '.', '[', '{'):
            continue  # a vars file or YAML/JSON: typed values
        names.update(parse_kv(opt))
    return names


def retarget_fix(error, names):
    """A number or boolean given as -e NAME=VALUE: say how to pass it typed instead of 'without quotes'."""
    if error.variable not in names or not error.message.startswith('is the string'):
        return
    typed = re.match(r'^write (\S+) without quotes', error.fix or '')
    if typed:
        error.fix = ("-e %s=... always passes a string: give it as -e '%s'"
                     % (error.variable, json.dumps({error.variable: json.loads(typed.group(1))})))


class ActionModule(ActionBase):
    """Collect every host of cslr_cluster (and the other cslr_ groups) from hostvars, validate, report."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset()

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        result['changed'] = False

        groups = dict((k, list(v)) for k, v in task_vars.get('groups', {}).items())
        hostvars = task_vars.get('hostvars')
        if hostvars is None:
            raise AnsibleError('validate_config needs hostvars')

        names = set()
        for group in (spec.GROUP_CLUSTER, spec.GROUP_HEAD_CANDIDATES, spec.GROUP_GPU, spec.GROUP_MLFLOW,
                      spec.GROUP_RENDEZVOUS):
            names.update(groups.get(group, []))

        collected = {}
        for host in sorted(names):
            collected[host] = self._host_values(hostvars, host)

        roles_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                 'roles')
        _generated, external = spec.role_layout(roles_dir)
        errors, warnings, cluster = _validate.validate_all(collected, groups,
                                                           [v for vs in external.values() for v in vs],
                                                           job_vars=task_vars)
        kv_names = key_value_extra_vars()
        for error in errors:
            retarget_fix(error, kv_names)
        lines = _validate.report(errors, cluster)
        result['errors'] = [e.as_dict(cluster) for e in errors]
        result['error_lines'] = lines
        result['hosts'] = cluster
        result['warning_lines'] = warnings
        if errors:
            result['failed'] = True
            result['msg'] = ('The platform configuration has %d error(s); no host was contacted or changed:\n%s'
                             % (len(lines), '\n'.join(lines)))
        else:
            result['msg'] = 'The platform configuration of %d host(s) is valid' % len(cluster)
            if warnings:
                result['msg'] += (', with %d warning(s):\n%s'
                                  % (len(warnings), '\n'.join('[WARNING] ' + w for w in warnings)))
        return result

    @staticmethod
    def _host_values(hostvars, host):
        """What the inventory sets for host: cslr_* (and original section) variables, templated."""
        host_vars = hostvars[host]
        values = {}
        try:
            keys = list(host_vars.keys())
        except Exception:  # pylint: disable=broad-except
            keys = list(hostvars.raw_get(host).keys())
        for key in keys:
            key = to_text(key)
            if not (key.startswith('cslr_') or key in _EXTRA_NAMES):
                continue
            try:
                values[key] = plain(host_vars[key])
            except Exception as exc:  # pylint: disable=broad-except
                # One bad template must not hide the other errors.
                values[key] = _validate.TemplateFailure(to_text(exc).splitlines()[0][:200])
        return values
