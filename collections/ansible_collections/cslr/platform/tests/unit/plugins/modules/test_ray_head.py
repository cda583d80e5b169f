# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module tests for cslr.platform.ray_head: run_command answers like `ray health-check` / `ray status` would."""

from __future__ import annotations

from unittest import mock

import pytest

from ansible.module_utils import basic

from ansible_collections.cslr.platform.plugins.module_utils import _election
from ansible_collections.cslr.platform.plugins.modules import ray_head
from ansible_collections.cslr.platform.tests.unit.plugins.modules.utils import (
    AnsibleExitJson, AnsibleFailJson, exit_json, fail_json, patch_module_args)


CANDIDATES = [{'host': 'lab1', 'address': '10.0.0.11'}, {'host': 'lab2', 'address': '10.0.0.12'}]
HOSTS = CANDIDATES + [{'host': 'lab3', 'address': '10.0.0.13'}]
STATUS = 'Active:\n 1 node_a\n 1 node_b\n 1 node_c\nPending:\n (no pending nodes)\n'


class FakeRay(object):
    """run_command stand-in: live GCS addresses answer health-check with 0 and status with `nodes` nodes."""

    def __init__(self, live=None, rc_dead=1, timeout_bin=None):
        self.live = live or {}
        self.rc_dead = rc_dead
        self.timeout_bin = timeout_bin
        self.calls = []

    def as_method(self):
        """A function to patch in as AnsibleModule.run_command (gets the module as self)."""
        fake = self

        def run_command(module, args, **kwargs):
            return fake.run_command(module, args, **kwargs)
        return run_command

    def run_command(self, module, args, check_rc=False, **kwargs):  # pylint: disable=unused-argument
        self.calls.append(list(args))
        args = list(args)
        if self.timeout_bin:
            assert args[:4] == [self.timeout_bin, '-k', '5', '10']
            args = args[4:]
        address = args[args.index('--address') + 1].rsplit(':', 1)[0]
        if 'health-check' in args:
            if address in self.live:
                return 0, '', ''
            return self.rc_dead, '', 'ray.exceptions.RpcError: Timed out while waiting for GCS to become available.'
        if 'status' in args:
            nodes = self.live.get(address)
            if nodes is None:
                return 1, '', 'no cluster'
            return 0, 'Active:\n' + ''.join(' 1 node_%d\n' % i for i in range(nodes)) + 'Pending:\n', ''
        raise AssertionError('unexpected command %r' % (args,))


def run_module(args, fake, check_mode=False, timeout_bin=None):
    args = dict(args)
    if check_mode:
        args['_ansible_check_mode'] = True

    def get_bin_path(self, name, *a, **kw):  # pylint: disable=unused-argument
        return timeout_bin if name == 'timeout' else None

    with patch_module_args(args), \
            mock.patch.multiple(basic.AnsibleModule, exit_json=exit_json, fail_json=fail_json, get_bin_path=get_bin_path,
                                run_command=fake.as_method()), \
            mock.patch.object(_election, 'tcp_connect', lambda address, port, timeout: (True, 'open')):
        with pytest.raises((AnsibleExitJson, AnsibleFailJson)) as info:
            ray_head.main()
    return info.type is AnsibleExitJson, info.value.args[0]


BASE = {'candidates': CANDIDATES, 'hosts': HOSTS}


@pytest.mark.parametrize('check_mode', [False, True], ids=['apply', 'check'])
def test_fresh_cluster_elects_first_candidate(check_mode):
    ok, result = run_module(BASE, FakeRay(), check_mode=check_mode)
    assert ok
    assert result['changed'] is False
    assert result['head_host'] == 'lab1'
    assert result['head_gcs_address'] == '10.0.0.11:6379'
    assert result['roles'] == {'lab1': 'head', 'lab2': 'worker', 'lab3': 'worker'}
    assert result['action'] == 'elect'


@pytest.mark.parametrize('check_mode', [False, True], ids=['apply', 'check'])
def test_keeps_live_head(check_mode):
    ok, result = run_module(BASE, FakeRay(live={'10.0.0.12': 3}), check_mode=check_mode)
    assert ok and result['changed'] is False
    assert (result['head_host'], result['action']) == ('lab2', 'keep')
    assert result['live_heads'] == ['lab2']
    assert result['probes']['lab2']['live'] is True


def test_split_brain_fails_naming_heads():
    ok, result = run_module(BASE, FakeRay(live={'10.0.0.11': 1, '10.0.0.12': 3}))
    assert not ok
    assert 'split brain' in result['msg'] and 'lab1' in result['msg'] and 'lab2' in result['msg']
    assert 'resolve_split_brain' in result['msg']
    assert result['live_heads'] == ['lab1', 'lab2']
    assert result['changed'] is False


def test_split_brain_resolved_by_node_count():
    fake = FakeRay(live={'10.0.0.11': 1, '10.0.0.12': 3})
    ok, result = run_module(dict(BASE, resolve_split_brain=True), fake)
    assert ok
    assert (result['head_host'], result['demote']) == ('lab2', ['lab1'])
    assert result['roles']['lab1'] == 'worker'
    assert result['probes']['lab2']['node_count'] == 3
    assert ['ray', 'status', '--address', '10.0.0.12:6379'] in fake.calls


def test_reachable_and_probe_command_and_timeout_wrapper():
    fake = FakeRay(timeout_bin='/usr/bin/timeout')
    args = dict(BASE, reachable=['lab2', 'lab3'], probe_command=['docker', 'exec', 'cslr-ray', 'ray'], gcs_port=6380)
    ok, result = run_module(args, fake, timeout_bin='/usr/bin/timeout')
    assert ok
    assert (result['head_host'], result['head_port'], result['unreachable_candidates']) == ('lab2', 6380, ['lab1'])
    assert fake.calls[0] == ['/usr/bin/timeout', '-k', '5', '10', 'docker', 'exec', 'cslr-ray', 'ray', 'health-check',
                             '--address', '10.0.0.11:6380', '--skip-version-check']


def test_timeout_means_not_live():
    fake = FakeRay(rc_dead=124, timeout_bin='/usr/bin/timeout')
    ok, result = run_module(BASE, fake, timeout_bin='/usr/bin/timeout')
    assert ok and result['head_host'] == 'lab1'
    assert 'timed out' in result['probes']['lab2']['detail']


def test_probe_tool_missing_fails_without_deciding():
    ok, result = run_module(BASE, FakeRay(rc_dead=127))
    assert not ok
    assert 'cannot tell whether a Ray head is live' in result['msg']
    assert result['probes']['lab1']['failed'] is True


def test_override_and_non_candidate_override():
    ok, result = run_module(dict(BASE, head_address='10.0.0.12'), FakeRay())
    assert ok and (result['head_host'], result['action']) == ('lab2', 'override')
    ok, result = run_module(dict(BASE, head_address='lab3'), FakeRay())
    assert not ok and 'not a head candidate' in result['msg']


def test_failures_name_the_option_in_the_callers_words():
    names = {'head_address': 'cslr_head_address', 'resolve_split_brain': 'cslr_ray_resolve_split_brain'}
    ok, result = run_module(dict(BASE, option_names=names), FakeRay(live={'10.0.0.11': 1, '10.0.0.12': 3}))
    assert not ok and result['option'] == 'resolve_split_brain'
    assert 'cslr_ray_resolve_split_brain enabled' in result['msg']
    ok, result = run_module(dict(BASE, head_address='lab3', option_names=names), FakeRay())
    assert not ok and result['option'] == 'head_address'
    assert result['msg'].startswith('cslr_head_address lab3 is host lab3')
    ok, result = run_module(BASE, FakeRay(rc_dead=127))
    assert not ok and result['option'] == 'probe_command' and '(probe_command)' in result['msg']
    ok, result = run_module({'candidates': [{'host': 'x'}]}, FakeRay())
    assert not ok and result['option'] is None
    # option_names given as null: refused by the argument spec, naming it (no traceback)
    ok, result = run_module(dict(BASE, head_address='lab3', option_names=None), FakeRay())
    assert not ok and result['msg'].startswith("argument 'option_names' is of type NoneType")


def test_none_reachable_fails():
    ok, result = run_module(dict(BASE, reachable=['lab3']), FakeRay())
    assert not ok and 'no head candidate is reachable' in result['msg']


@pytest.mark.parametrize('args, text', [
    (dict(BASE, gcs_port=0), 'gcs_port'),
    (dict(BASE, probe_timeout=0), 'probe_timeout'),
    (dict(BASE, probe_command=[]), 'probe_command'),
    ({'candidates': [{'host': 'x'}]}, 'has no address'),
])
def test_invalid_arguments(args, text):
    ok, result = run_module(args, FakeRay())
    assert not ok and text in result['msg']


def test_tcp_refused_skips_probe_command():
    fake = FakeRay()
    with mock.patch.object(_election, 'tcp_connect', lambda a, p, t: (False, 'refused')):
        # run_module patches tcp_connect itself; call main directly here
        with patch_module_args(BASE), \
                mock.patch.multiple(basic.AnsibleModule, exit_json=exit_json, fail_json=fail_json,
                                    get_bin_path=lambda self, name, *a, **kw: None,
                                    run_command=fake.as_method()):
            with pytest.raises(AnsibleExitJson) as info:
                ray_head.main()
    assert info.value.args[0]['head_host'] == 'lab1'
    assert fake.calls == []
