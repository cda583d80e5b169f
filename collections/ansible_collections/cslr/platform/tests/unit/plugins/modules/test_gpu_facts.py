# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module tests for cslr.platform.gpu_facts: run_command is replaced by recorded nvidia-smi outputs."""

from __future__ import annotations

import contextlib
import json
import os
from unittest import mock

import pytest

from ansible.module_utils import basic

from ansible_collections.cslr.platform.plugins.modules import gpu_facts
from ansible_collections.cslr.platform.tests.unit.plugins.modules.utils import (
    AnsibleExitJson, AnsibleFailJson, exit_json, fail_json, patch_module_args)

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'nvidia-smi')
SMI = '/usr/bin/nvidia-smi'
NO_PROC = os.path.join(FIXTURES, 'does-not-exist')


class RecordedSmi(object):
    """Answers run_command from tests/unit/fixtures/nvidia-smi/<scenario>/commands.json."""

    def __init__(self, scenario):
        self.dir = os.path.join(FIXTURES, scenario)
        with open(os.path.join(self.dir, 'commands.json')) as handle:
            self.commands = json.load(handle)
        self.calls = []

    @staticmethod
    def key(args):
        rest = list(args[1:])
        if rest and rest[0].startswith('--query-gpu='):
            assert rest[1:] == ['--format=csv,noheader,nounits']
            return 'query-gpu' if 'mig.mode.current' in rest[0] else 'query-gpu-nomig'
        return {(): 'smi', ('-q', '-d', 'COMPUTE'): 'smi-q', ('-L',): 'smi-L'}[tuple(rest)]

    def _read(self, name):
        if not name:
            return ''
        with open(os.path.join(self.dir, name)) as handle:
            return handle.read()

    def __call__(self, module, args, check_rc=False, **kwargs):
        assert isinstance(args, list), 'commands must be argument lists, never shell strings'
        key = self.key(args)
        self.calls.append((args[0], key))
        assert key in self.commands, 'unexpected command %r for scenario %s' % (args, self.dir)
        answer = self.commands[key]
        return answer['rc'], self._read(answer['stdout']), self._read(answer['stderr'])


def run_module(scenario=None, args=None, bin_path=SMI, proc=None, check_mode=False):
    """Run main() against a recorded scenario; returns (result, failed, recorder)."""
    recorder = RecordedSmi(scenario) if scenario else None
    module_args = dict(args or {})
    if check_mode:
        module_args['_ansible_check_mode'] = True
    if proc is None and scenario and os.path.exists(os.path.join(FIXTURES, scenario, 'proc-driver-version.txt')):
        proc = os.path.join(FIXTURES, scenario, 'proc-driver-version.txt')

    def run_command(module, cmd, **kwargs):  # a plain function, so it binds to the module like the real method
        if recorder is None:
            raise AssertionError('nvidia-smi must not run here: %r' % (cmd,))
        return recorder(module, cmd, **kwargs)

    with contextlib.ExitStack() as stack:
        stack.enter_context(patch_module_args(module_args))
        stack.enter_context(mock.patch.multiple(basic.AnsibleModule, exit_json=exit_json, fail_json=fail_json))
        stack.enter_context(mock.patch.object(basic.AnsibleModule, 'run_command', new=run_command))
        stack.enter_context(mock.patch.object(basic.AnsibleModule, 'get_bin_path', return_value=bin_path))
        stack.enter_context(mock.patch.object(gpu_facts, 'PROC_DRIVER_VERSION', proc or NO_PROC))
        try:
            gpu_facts.main()
        except AnsibleExitJson as exc:
            return exc.args[0], False, recorder
        except AnsibleFailJson as exc:
            return exc.args[0], True, recorder
    raise AssertionError('module neither exited nor failed')


def facts_of(result):
    return result['ansible_facts']['cslr_gpu']


def test_eight_a100():
    result, failed, smi = run_module('a100x8')
    assert not failed and result['changed'] is False
    facts = facts_of(result)
    assert facts['status'] == 'ok' and facts['present'] is True and facts['count'] == 8
    assert facts['msg'] == ''
    assert facts['driver_version'] == '535.129.03'
    assert facts['cuda_version'] == '12.2' and facts['cuda_version_source'] == 'nvidia-smi'
    assert facts['kernel_module_version'] == '535.129.03'
    assert facts['nvidia_smi_path'] == SMI
    assert [g['index'] for g in facts['gpus']] == list(range(8))
    assert {g['name'] for g in facts['gpus']} == {'NVIDIA A100-SXM4-80GB'}
    assert {g['memory_total_mib'] for g in facts['gpus']} == {81920}
    assert {g['mig_mode'] for g in facts['gpus']} == {'disabled'}
    assert facts['gpus'][0]['pci_bus_id'] == '00000000:07:00.0'
    assert facts['gpus'][0]['uuid'].startswith('GPU-')
    assert len({g['uuid'] for g in facts['gpus']}) == 8
    assert facts['mig_devices'] == [] and {g['mig_device_count'] for g in facts['gpus']} == {0}
    assert 'driver_version' not in facts['gpus'][0]
    assert [key for dummy, key in smi.calls] == ['query-gpu', 'smi', 'smi-L']
    assert {path for path, dummy in smi.calls} == {SMI}


def test_two_different_gpus():
    facts = facts_of(run_module('mixed2')[0])
    assert facts['status'] == 'ok' and facts['count'] == 2
    assert [(g['name'], g['memory_total_mib'], g['mig_mode']) for g in facts['gpus']] == [
        ('NVIDIA RTX A6000', 49140, None), ('NVIDIA GeForce RTX 3090', 24576, None)]
    assert facts['driver_version'] == '550.54.15' and facts['cuda_version'] == '12.4'


def test_mig_devices():
    facts = facts_of(run_module('mig')[0])
    assert facts['status'] == 'ok' and facts['count'] == 2
    assert [g['mig_mode'] for g in facts['gpus']] == ['enabled', 'disabled']
    assert [g['mig_device_count'] for g in facts['gpus']] == [4, 0]
    assert [(d['gpu_index'], d['index'], d['profile']) for d in facts['mig_devices']] == [
        (0, 0, '3g.40gb'), (0, 1, '2g.20gb'), (0, 2, '1g.10gb'), (0, 3, '1g.10gb')]
    assert {d['gpu_uuid'] for d in facts['mig_devices']} == {facts['gpus'][0]['uuid']}
    assert all(d['uuid'].startswith('MIG-') for d in facts['mig_devices'])
    assert facts['cuda_version'] == '12.8' and facts['kernel_module_version'] == '570.133.20'


def test_r610_banner():
    facts = facts_of(run_module('h100-r610')[0])
    assert facts['driver_version'] == '610.43.02'
    assert facts['cuda_version'] == '13.3' and facts['cuda_version_source'] == 'nvidia-smi'


def test_old_driver_without_mig_field_is_retried():
    result, failed, smi = run_module('v100-r418')
    facts = facts_of(result)
    assert not failed and facts['status'] == 'ok' and facts['count'] == 2
    assert {g['mig_mode'] for g in facts['gpus']} == {None}
    assert facts['cuda_version'] == '10.1' and facts['driver_version'] == '418.87.01'
    assert [key for dummy, key in smi.calls] == ['query-gpu', 'query-gpu-nomig', 'smi', 'smi-L']


def test_cuda_version_from_driver_table_when_not_reported():
    result, failed, smi = run_module('t4-cuda-na')
    facts = facts_of(result)
    assert facts['cuda_version'] == '12.0' and facts['cuda_version_source'] == 'driver_table'
    assert [key for dummy, key in smi.calls] == ['query-gpu', 'smi', 'smi-q', 'smi-L']


def test_no_driver_on_path():
    result, failed, smi = run_module(None, bin_path=None)
    facts = facts_of(result)
    assert not failed and result['changed'] is False
    assert facts['status'] == 'no_driver' and facts['present'] is False and facts['count'] == 0
    assert facts['gpus'] == [] and facts['nvidia_smi_path'] is None
    assert 'nvidia-smi on PATH not found' in facts['msg']


def test_no_driver_explicit_path_missing(tmp_path):
    missing = str(tmp_path / 'nvidia-smi')
    facts = facts_of(run_module(None, args={'nvidia_smi_path': missing})[0])
    assert facts['status'] == 'no_driver' and missing in facts['msg']


def test_explicit_path_not_executable(tmp_path):
    path = tmp_path / 'nvidia-smi'
    path.write_text('')
    path.chmod(0o644)
    facts = facts_of(run_module(None, args={'nvidia_smi_path': str(path)})[0])
    assert facts['status'] == 'no_driver'


def test_explicit_path_is_used(tmp_path):
    path = tmp_path / 'nvidia-smi'
    path.write_text('#!/bin/sh\n')
    path.chmod(0o755)
    result, failed, smi = run_module('a100x8', args={'nvidia_smi_path': str(path)}, bin_path=None)
    assert facts_of(result)['nvidia_smi_path'] == str(path) and facts_of(result)['count'] == 8
    assert {p for p, dummy in smi.calls} == {str(path)}


def test_driver_library_mismatch_reports_reboot_required():
    result, failed, smi = run_module('mismatch')
    facts = facts_of(result)
    assert not failed
    assert facts['status'] == 'reboot_required' and facts['present'] is False and facts['count'] == 0
    assert facts['nvml_library_version'] == '550.127' and facts['kernel_module_version'] == '535.183.01'
    assert 'kernel module 535.183.01 is loaded' in facts['msg'] and '550.127' in facts['msg']
    assert 'Reboot the host' in facts['msg'] and 'Traceback' not in facts['msg']
    assert 'Driver/library version mismatch' in facts['stderr']
    assert [key for dummy, key in smi.calls] == ['query-gpu']


def test_driver_library_mismatch_old_nvidia_smi():
    facts = facts_of(run_module('mismatch-old')[0])
    assert facts['status'] == 'reboot_required' and facts['nvml_library_version'] is None
    assert 'Reboot the host' in facts['msg']


def test_no_devices_found():
    result, failed, smi = run_module('no-devices')
    facts = facts_of(result)
    assert not failed
    assert facts['status'] == 'ok' and facts['present'] is False and facts['count'] == 0
    assert 'No devices were found' in facts['msg']
    assert facts['driver_version'] == '550.54.15'
    assert [key for dummy, key in smi.calls] == ['query-gpu']


def test_kernel_module_not_loaded_is_error():
    facts = facts_of(run_module('no-communicate')[0])
    assert facts['status'] == 'error' and facts['count'] == 0
    assert 'cannot talk to the NVIDIA kernel driver' in facts['msg']
    assert "couldn't communicate" in facts['stderr']


def test_check_mode_returns_same_facts():
    normal = run_module('mig')[0]
    checked = run_module('mig', check_mode=True)[0]
    assert checked['changed'] is False
    assert facts_of(checked) == facts_of(normal)


def test_required_cuda_too_new_fails_with_fix():
    result, failed, dummy = run_module('a100x8', args={'required_cuda': '12.4'})
    assert failed
    msg = result['msg']
    assert msg.startswith('CUDA 12.4 is required but NVIDIA driver 535.129.03 supports at most CUDA 12.2.')
    assert 'Upgrade the NVIDIA driver to >= 550.54.14' in msg
    assert result['required_cuda'] == '12.4' and result['minimum_driver'] == '550.54.14'
    assert facts_of(result)['cuda_version'] == '12.2'


def test_required_cuda_new_major_fails():
    result, failed, dummy = run_module('mixed2', args={'required_cuda': '13.0'})
    assert failed and '>= 580.65.06' in result['msg'] and '550.54.15' in result['msg']


@pytest.mark.parametrize('required, normalized', [('12.2', '12.2'), ('12', '12.0'), ('11.8.0', '11.8')])
def test_required_cuda_satisfied(required, normalized):
    result, failed, dummy = run_module('a100x8', args={'required_cuda': required})
    assert not failed and result['required_cuda'] == normalized


def test_required_cuda_passes_without_driver():
    result, failed, dummy = run_module(None, args={'required_cuda': '12.4'}, bin_path=None)
    assert not failed and facts_of(result)['status'] == 'no_driver'


def test_required_cuda_passes_without_gpus():
    result, failed, dummy = run_module('no-devices', args={'required_cuda': '12.4'})
    assert not failed


@pytest.mark.parametrize('scenario', ['mismatch', 'no-communicate'])
def test_required_cuda_cannot_be_checked(scenario):
    result, failed, dummy = run_module(scenario, args={'required_cuda': '12.4'})
    assert failed and result['msg'].startswith('Cannot check required_cuda 12.4: ')
    assert facts_of(result)['status'] in ('reboot_required', 'error')


@pytest.mark.parametrize('bad', ['twelve', '12.x', ''])
def test_required_cuda_invalid(bad):
    result, failed, dummy = run_module(None, args={'required_cuda': bad}, bin_path=None)
    assert failed and 'required_cuda must be a CUDA version' in result['msg']
