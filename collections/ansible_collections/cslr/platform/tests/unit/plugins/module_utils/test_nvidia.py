# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Table tests for the pure nvidia-smi parsing and CUDA/driver logic in _nvidia."""

from __future__ import annotations

import os

import pytest

from ansible_collections.cslr.platform.plugins.module_utils import _nvidia

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'nvidia-smi')


def fixture(scenario, name):
    with open(os.path.join(FIXTURES, scenario, name)) as handle:
        return handle.read()


@pytest.mark.parametrize('text, expected', [
    ('535.129.03', (535, 129, 3)),
    ('570.26', (570, 26)),
    (' 12.4 ', (12, 4)),
    ('13', (13,)),
])
def test_version_tuple(text, expected):
    assert _nvidia.version_tuple(text) == expected


@pytest.mark.parametrize('text', ['', 'abc', '12.x', '12.4-1', '12..4', None])
def test_version_tuple_rejects(text):
    with pytest.raises(ValueError):
        _nvidia.version_tuple(text)


@pytest.mark.parametrize('text, expected', [('12', '12.0'), ('12.4', '12.4'), ('12.4.1', '12.4'), ('11.8.0', '11.8')])
def test_normalize_cuda_version(text, expected):
    assert _nvidia.normalize_cuda_version(text) == expected


@pytest.mark.parametrize('text, expected', [
    ('| NVIDIA-SMI 535.129.03             Driver Version: 535.129.03   CUDA Version: 12.2     |', '12.2'),
    ('| NVIDIA-SMI 470.82.01    Driver Version: 470.82.01    CUDA Version: 11.4     |', '11.4'),
    ('| NVIDIA-SMI 580.126.09             Driver Version: 580.126.09     CUDA Version: 13.0     |', '13.0'),
    ('| NVIDIA-SMI 610.57.04              KMD Version: 610.57.04     CUDA UMD Version: 13.3     |', '13.3'),
    ('Driver Version                            : 470.103.01\nCUDA Version                              : 11.4\n', '11.4'),
    ('| NVIDIA-SMI 525.147.05             Driver Version: 525.147.05   CUDA Version: N/A      |', None),
    ('CUDA Version                              : Not Found\n', None),
    ('Failed to initialize NVML: Driver/library version mismatch\n', None),
    ('', None),
    (None, None),
])
def test_parse_cuda_version(text, expected):
    assert _nvidia.parse_cuda_version(text) == expected


@pytest.mark.parametrize('scenario, expected', [
    ('a100x8', '12.2'), ('mixed2', '12.4'), ('mig', '12.8'), ('v100-r418', '10.1'), ('h100-r610', '13.3'), ('t4-cuda-na', None),
])
def test_parse_cuda_version_fixtures(scenario, expected):
    assert _nvidia.parse_cuda_version(fixture(scenario, 'nvidia-smi.txt')) == expected


@pytest.mark.parametrize('text, expected', [
    ('| NVIDIA-SMI 535.129.03             Driver Version: 535.129.03   CUDA Version: 12.2     |', '535.129.03'),
    ('| NVIDIA-SMI 610.57.04              KMD Version: 610.57.04     CUDA UMD Version: 13.3     |', '610.57.04'),
    ('Driver Version                            : 525.147.05\n', '525.147.05'),
    ('No devices were found', None),
])
def test_parse_driver_version(text, expected):
    assert _nvidia.parse_driver_version(text) == expected


GPU_A = 'GPU-aa73bbad-28aa-5001-9327-2808437029f3'


@pytest.mark.parametrize('text, fields, expected', [
    pytest.param(
        '0, NVIDIA A100-SXM4-80GB, %s, 81920, 00000000:07:00.0, Disabled, 535.129.03\n' % GPU_A, _nvidia.QUERY_FIELDS,
        [{'index': 0, 'name': 'NVIDIA A100-SXM4-80GB', 'uuid': GPU_A, 'memory_total_mib': 81920, 'pci_bus_id': '00000000:07:00.0',
          'mig_mode': 'disabled', 'driver_version': '535.129.03'}],
        id='a100'),
    pytest.param(
        '1, NVIDIA GeForce RTX 3090, GPU-1, 24576, 00000000:65:00.0, [N/A], 550.54.15\n', _nvidia.QUERY_FIELDS,
        [{'index': 1, 'name': 'NVIDIA GeForce RTX 3090', 'uuid': 'GPU-1', 'memory_total_mib': 24576, 'pci_bus_id': '00000000:65:00.0',
          'mig_mode': None, 'driver_version': '550.54.15'}],
        id='mig-not-applicable'),
    pytest.param(
        '0, NVIDIA A100-SXM4-80GB, GPU-2, 81920, 00000000:4E:00.0, Enabled, 570.133.20\n\n', _nvidia.QUERY_FIELDS,
        [{'index': 0, 'name': 'NVIDIA A100-SXM4-80GB', 'uuid': 'GPU-2', 'memory_total_mib': 81920, 'pci_bus_id': '00000000:4E:00.0',
          'mig_mode': 'enabled', 'driver_version': '570.133.20'}],
        id='mig-enabled-trailing-blank'),
    pytest.param(
        '0, Some Board, Rev 2, GPU-3, [Not Supported], 00000000:01:00.0, [N/A], 540.4.0\n', _nvidia.QUERY_FIELDS,
        [{'index': 0, 'name': 'Some Board, Rev 2', 'uuid': 'GPU-3', 'memory_total_mib': None, 'pci_bus_id': '00000000:01:00.0',
          'mig_mode': None, 'driver_version': '540.4.0'}],
        id='comma-in-name-and-unsupported-memory'),
    pytest.param(
        '0, Tesla V100-SXM2-16GB, GPU-4, 16130, 00000000:1A:00.0, 418.87.01\n',
        tuple(f for f in _nvidia.QUERY_FIELDS if f != 'mig.mode.current'),
        [{'index': 0, 'name': 'Tesla V100-SXM2-16GB', 'uuid': 'GPU-4', 'memory_total_mib': 16130, 'pci_bus_id': '00000000:1A:00.0',
          'mig_mode': None, 'driver_version': '418.87.01'}],
        id='r418-without-mig-field'),
    pytest.param('', _nvidia.QUERY_FIELDS, [], id='empty'),
])
def test_parse_query_gpu(text, fields, expected):
    gpus, unparsed = _nvidia.parse_query_gpu(text, fields)
    assert gpus == expected
    assert unparsed == []


@pytest.mark.parametrize('text', [
    'No devices were found',
    'Unable to determine the device handle for GPU0000:3B:00.0: Unknown Error',
    'x, NVIDIA A100, GPU-5, 81920, 00000000:07:00.0, Disabled, 535.129.03',
])
def test_parse_query_gpu_keeps_unparsed_lines(text):
    gpus, unparsed = _nvidia.parse_query_gpu(text)
    assert gpus == []
    assert unparsed == [text]


@pytest.mark.parametrize('scenario, count, names', [
    ('a100x8', 8, {'NVIDIA A100-SXM4-80GB'}),
    ('mixed2', 2, {'NVIDIA RTX A6000', 'NVIDIA GeForce RTX 3090'}),
    ('mig', 2, {'NVIDIA A100-SXM4-80GB'}),
    ('h100-r610', 2, {'NVIDIA H100 80GB HBM3'}),
])
def test_parse_query_gpu_fixtures(scenario, count, names):
    gpus, unparsed = _nvidia.parse_query_gpu(fixture(scenario, 'query-gpu.csv'))
    assert unparsed == []
    assert len(gpus) == count
    assert {g['name'] for g in gpus} == names
    assert [g['index'] for g in gpus] == list(range(count))
    listed = _nvidia.parse_gpu_list(fixture(scenario, 'nvidia-smi-L.txt'))
    assert [g['uuid'] for g in gpus] == [g['uuid'] for g in listed]


@pytest.mark.parametrize('text, expected', [
    pytest.param(
        'GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-7fdaf0a5-179b-f636-d15d-daf243e3ff16)\n'
        '  MIG 1g.10gb     Device  0: (UUID: MIG-feb88891-0321-5fef-9c87-d4af3b54259e)\n'
        '  MIG 1g.10gb     Device  1: (UUID: MIG-a25704ba-3a06-5299-a795-fd7cf4d13973)\n'
        'GPU 1: NVIDIA A100-SXM4-80GB (UUID: GPU-d8594bd4-0fc3-8595-e355-7c98138f3b95)\n',
        [{'index': 0, 'name': 'NVIDIA A100-SXM4-80GB', 'uuid': 'GPU-7fdaf0a5-179b-f636-d15d-daf243e3ff16', 'mig_devices': [
            {'index': 0, 'profile': '1g.10gb', 'uuid': 'MIG-feb88891-0321-5fef-9c87-d4af3b54259e'},
            {'index': 1, 'profile': '1g.10gb', 'uuid': 'MIG-a25704ba-3a06-5299-a795-fd7cf4d13973'}]},
         {'index': 1, 'name': 'NVIDIA A100-SXM4-80GB', 'uuid': 'GPU-d8594bd4-0fc3-8595-e355-7c98138f3b95', 'mig_devices': []}],
        id='mig-current-uuid-form'),
    pytest.param(
        'GPU 0: A100-SXM4-40GB (UUID: GPU-e91edf3b-b297-37c1-a2a7-7601c3238fa2)\n'
        '  MIG 3g.20gb Device 0: (UUID: MIG-GPU-e91edf3b-b297-37c1-a2a7-7601c3238fa2/1/0)\n',
        [{'index': 0, 'name': 'A100-SXM4-40GB', 'uuid': 'GPU-e91edf3b-b297-37c1-a2a7-7601c3238fa2', 'mig_devices': [
            {'index': 0, 'profile': '3g.20gb', 'uuid': 'MIG-GPU-e91edf3b-b297-37c1-a2a7-7601c3238fa2/1/0'}]}],
        id='mig-r450-uuid-form'),
    pytest.param(
        'GPU 0: Quadro RTX 4000 (UUID: GPU-c7b57be0-94ff-d352-a59b-d0ee00aeed43)\n',
        [{'index': 0, 'name': 'Quadro RTX 4000', 'uuid': 'GPU-c7b57be0-94ff-d352-a59b-d0ee00aeed43', 'mig_devices': []}],
        id='no-mig'),
    pytest.param('No devices were found\n', [], id='no-devices'),
])
def test_parse_gpu_list(text, expected):
    assert _nvidia.parse_gpu_list(text) == expected


def test_parse_gpu_list_mig_fixture():
    listed = _nvidia.parse_gpu_list(fixture('mig', 'nvidia-smi-L.txt'))
    assert [d['profile'] for d in listed[0]['mig_devices']] == ['3g.40gb', '2g.20gb', '1g.10gb', '1g.10gb']
    assert [d['index'] for d in listed[0]['mig_devices']] == [0, 1, 2, 3]
    assert listed[1]['mig_devices'] == []


@pytest.mark.parametrize('text, expected', [
    ('NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.129.03  Thu Oct 19 18:56:32 UTC 2023\nGCC version:  gcc version 11.4.0\n', '535.129.03'),
    ('NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.95.05  Release Build  (dvs-builder@U22-I3-B17-02-5)  Tue Sep 23 2025\n',
     '580.95.05'),
    ('NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  570.86.15  Release Build\n', '570.86.15'),
    ('NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.135  Fri Jan 10 20:00:00 UTC 2025\n', '550.135'),
    ('', None),
])
def test_parse_proc_driver_version(text, expected):
    assert _nvidia.parse_proc_driver_version(text) == expected


@pytest.mark.parametrize('text, expected', [
    ('Failed to initialize NVML: Driver/library version mismatch\nNVML library version: 550.127\n', '550.127'),
    ('Failed to initialize NVML: Driver/library version mismatch\nNVML library version: 570.124\n', '570.124'),
    ('Failed to initialize NVML: Driver/library version mismatch\n', None),
])
def test_parse_nvml_library_version(text, expected):
    assert _nvidia.parse_nvml_library_version(text) == expected


@pytest.mark.parametrize('text, expected', [
    ('Field "mig.mode.current" is not a valid field to query.\n\n', 'mig.mode.current'),
    ('Field "cuda_version" is not a valid field to query.', 'cuda_version'),
    ('No devices were found', None),
    ('', None),
])
def test_unsupported_query_field(text, expected):
    assert _nvidia.unsupported_query_field(text) == expected


@pytest.mark.parametrize('rc, stdout, stderr, kmod, status, fragments', [
    pytest.param(18, 'Failed to initialize NVML: Driver/library version mismatch\nNVML library version: 550.127\n', '', '535.183.01',
                 'reboot_required', ['kernel module 535.183.01 is loaded', 'NVML library is 550.127', 'Reboot the host'], id='mismatch'),
    pytest.param(18, 'Failed to initialize NVML: Driver/library version mismatch\n', '', None,
                 'reboot_required', ['version mismatch', 'Reboot the host'], id='mismatch-no-versions'),
    pytest.param(18, '', 'Failed to initialize NVML: Driver/library version mismatch\n', None,
                 'reboot_required', ['Reboot the host'], id='mismatch-on-stderr'),
    pytest.param(15, 'Unable to determine the device handle for gpu 0000:3B:00.0: GPU is lost.  Reboot the system to recover this GPU\n', '',
                 None, 'reboot_required', ['fallen off the bus', '0000:3B:00.0'], id='gpu-lost'),
    pytest.param(9, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver "
                 "is installed and running.\n", '', None, 'error', ['cannot talk to the NVIDIA kernel driver', 'DKMS'], id='no-kernel-module'),
    pytest.param(4, '', 'Insufficient Permissions\n', None, 'error', ['rc=4', 'Insufficient Permissions'], id='other'),
    pytest.param(255, '', '', None, 'error', ['rc=255', '(no output)'], id='silent'),
])
def test_classify_failure(rc, stdout, stderr, kmod, status, fragments):
    got_status, msg, details = _nvidia.classify_failure(rc, stdout, stderr, kmod)
    assert got_status == status
    for fragment in fragments:
        assert fragment in msg
    assert 'Traceback' not in msg


def test_classify_failure_no_devices_is_not_a_failure():
    assert _nvidia.classify_failure(6, 'No devices were found\n', '') is None


def test_classify_failure_mismatch_details():
    dummy, dummy2, details = _nvidia.classify_failure(18, fixture('mismatch', 'nvml-mismatch.txt'), '')
    assert details == {'nvml_library_version': '550.127'}


@pytest.mark.parametrize('cuda, expected', [
    ('11.0', '450.51.05'), ('11.4', '470.42.01'), ('11.8', '520.61.05'), ('12', '525.60.13'), ('12.2', '535.54.03'),
    ('12.3', '545.23.06'), ('12.4', '550.54.14'), ('12.4.1', '550.54.14'), ('12.7', '570.26'), ('12.8', '570.26'),
    ('12.9', '575.51.03'), ('13.0', '580.65.06'), ('13.2', '595.45.04'), ('13.3', '610.43.02'), ('14.0', None),
])
def test_min_driver_for_cuda(cuda, expected):
    assert _nvidia.min_driver_for_cuda(cuda) == expected


@pytest.mark.parametrize('driver, expected', [
    ('418.87.01', None), ('450.51.05', '11.0'), ('450.80.02', '11.0'), ('470.82.01', '11.4'), ('525.147.05', '12.0'),
    ('535.43.02', '12.1'), ('535.54.03', '12.2'), ('535.129.03', '12.2'), ('545.23.08', '12.3'), ('550.54.15', '12.4'),
    ('560.35.03', '12.6'), ('570.133.20', '12.8'), ('575.57.08', '12.9'), ('580.126.09', '13.0'), ('590.48.01', '13.1'),
    ('595.71.05', '13.2'), ('610.43.02', '13.3'),
])
def test_max_cuda_for_driver(driver, expected):
    assert _nvidia.max_cuda_for_driver(driver) == expected


def test_table_is_monotonic():
    cudas = [cuda for cuda, dummy in _nvidia.CUDA_MIN_DRIVER]
    drivers = [_nvidia.version_tuple(driver) for dummy, driver in _nvidia.CUDA_MIN_DRIVER]
    assert cudas == sorted(cudas) and len(set(cudas)) == len(cudas)
    assert drivers == sorted(drivers) and len(set(drivers)) == len(drivers)
    assert (12, 7) not in cudas


@pytest.mark.parametrize('branch_driver, cuda', [('535.x', '12.2'), ('545.x', '12.3'), ('550.x', '12.4')])
def test_table_agrees_with_seed_000_matrix(branch_driver, cuda):
    """Seed 000 lists 535.x -> 12.2, 545.x -> 12.3, 550.x -> 12.4; every released build of those branches
    is at or above the GA minimum, so the exact table must map the branch to the same CUDA version."""
    branch = int(branch_driver.split('.')[0])
    minimum = _nvidia.min_driver_for_cuda(cuda)
    assert _nvidia.version_tuple(minimum)[0] == branch
    assert _nvidia.max_cuda_for_driver('%d.999.99' % branch) == cuda


@pytest.mark.parametrize('required, cuda, driver', [('12.2', '12.2', '535.129.03'), ('12.0', '12.2', '535.129.03'), ('11.8', '13.0', '580.65.06'),
                                                    ('12', '12.4', '550.54.15')])
def test_check_required_cuda_ok(required, cuda, driver):
    assert _nvidia.check_required_cuda(required, cuda, driver) is None


@pytest.mark.parametrize('required, cuda, driver, fragments, absent', [
    pytest.param('12.4', '12.2', '535.129.03',
                 ['CUDA 12.4 is required', 'driver 535.129.03 supports at most CUDA 12.2', '>= 550.54.14', 'CUDA <= 12.2',
                  'minor version compatibility'], [], id='seed-example'),
    pytest.param('13.0', '12.4', '550.54.15', ['>= 580.65.06', 'CUDA 13.0 is required'], ['minor version compatibility'], id='new-major'),
    pytest.param('12.8', '11.4', '470.82.01', ['>= 570.26'], ['minor version compatibility'], id='old-major'),
    pytest.param('14.0', '13.3', '610.43.02', ['newer than this module', 'ends at CUDA 13.3'], [], id='beyond-table'),
    pytest.param('12.4', None, '535.129.03', ['supports at most CUDA (unknown)', '>= 550.54.14'], ['CUDA <= '], id='unknown-cuda'),
])
def test_check_required_cuda_fails(required, cuda, driver, fragments, absent):
    msg = _nvidia.check_required_cuda(required, cuda, driver)
    for fragment in fragments:
        assert fragment in msg
    for fragment in absent:
        assert fragment not in msg


def test_query_gpu_args():
    assert _nvidia.query_gpu_args() == [
        '--query-gpu=index,name,uuid,memory.total,pci.bus_id,mig.mode.current,driver_version', '--format=csv,noheader,nounits']
