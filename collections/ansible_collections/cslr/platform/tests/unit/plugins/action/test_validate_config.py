# -*- coding: utf-8 -*-
"""Unit tests of the validate_config action plugin's hostvars collection (the rest runs in tests/validation)."""

from __future__ import annotations

from ansible_collections.cslr.platform.plugins.action import validate_config as action
from ansible_collections.cslr.platform.plugins.module_utils import _validate


class FakeHostVars(object):
    """Like HostVars: hostvars[host] templates on access; a bad template raises."""

    def __init__(self, data):
        self.data = data

    def __getitem__(self, host):
        return _FakeHost(self.data[host])


class _FakeHost(dict):
    def __getitem__(self, key):
        value = dict.__getitem__(self, key)
        if value == '{{ undefined }}':
            raise ValueError("'undefined' is undefined\nmore detail")
        return value


def test_plain_converts_containers_and_subclasses():
    class Tagged(str):
        pass

    value = action.plain({Tagged('a'): (1, Tagged('x'), None, True, 2.5), 'b': {'c': [Tagged('d')]}})
    assert value == {'a': [1, 'x', None, True, 2.5], 'b': {'c': ['d']}}
    assert type(list(value)[0]) is str  # pylint: disable=unidiomatic-typecheck


def test_host_values_keeps_only_platform_names_and_reports_templates():
    hostvars = FakeHostVars({'h': {'cslr_ray_memory': '8g', 'cslr_bad': '{{ undefined }}', 'ansible_host': 'x',
                                   'nodes': {'head_whitelist': []}, 'inventory_hostname': 'h'}})
    values = action.ActionModule._host_values(hostvars, 'h')
    assert sorted(values) == ['cslr_bad', 'cslr_ray_memory', 'nodes']
    assert isinstance(values['cslr_bad'], _validate.TemplateFailure)
    assert values['cslr_bad'].message == "'undefined' is undefined"
