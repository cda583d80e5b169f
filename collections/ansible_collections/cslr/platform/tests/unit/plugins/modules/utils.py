# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared harness for module tests: module arguments, and exit_json/fail_json turned into
exceptions that carry the result (the pattern of community.general's tests)."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from unittest import mock

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

try:  # ansible-core >= 2.19
    from ansible.module_utils.testing import patch_module_args  # pylint: disable=unused-import
except ImportError:  # older cores: feed the arguments the way the module wrapper does
    @contextlib.contextmanager
    def patch_module_args(args=None):
        payload = to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args or {}}))
        with mock.patch.object(basic, '_ANSIBLE_ARGS', payload):
            yield


class AnsibleExitJson(Exception):
    """Raised instead of exit_json; args[0] is the result."""


class AnsibleFailJson(Exception):
    """Raised instead of fail_json; args[0] is the result."""


def exit_json(self, **kwargs):  # pylint: disable=unused-argument
    kwargs.setdefault('changed', False)
    raise AnsibleExitJson(kwargs)


def fail_json(self, **kwargs):  # pylint: disable=unused-argument
    kwargs['failed'] = True
    raise AnsibleFailJson(kwargs)


def run_module(main, args):
    """Run a module's main() in-process with these arguments; its result (of exit_json or fail_json)."""
    with patch_module_args(args), mock.patch.multiple(basic.AnsibleModule, exit_json=exit_json, fail_json=fail_json):
        try:
            main()
        except (AnsibleExitJson, AnsibleFailJson) as exc:
            return exc.args[0]
    raise AssertionError('the module returned without calling exit_json or fail_json')


def file_mode(path):
    """The permission bits of a path as an octal string ('0644')."""
    return '%04o' % stat.S_IMODE(os.stat(str(path)).st_mode)
