#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gpu_facts
short_description: Gather NVIDIA GPU, driver and CUDA facts from nvidia-smi
version_added: 0.1.0
description:
  - Runs C(nvidia-smi) on the target and returns the GPUs (index, name, UUID, memory, PCI bus ID, MIG mode), MIG devices,
    the driver version and the highest CUDA version the driver supports, as the C(cslr_gpu) fact.
  - Hosts without an NVIDIA driver (no C(nvidia-smi)) are not an error; they report RV(ansible_facts.cslr_gpu.status=no_driver)
    and zero GPUs, so roles can skip GPU-only work with a condition on RV(ansible_facts.cslr_gpu.present).
  - An NVML C(Driver/library version mismatch) (driver upgraded, kernel module not reloaded) is reported as
    RV(ansible_facts.cslr_gpu.status=reboot_required) with an explanation, never as a stack trace.
  - Any other C(nvidia-smi) failure is reported as RV(ansible_facts.cslr_gpu.status=error) with its output. The module itself
    only fails for O(required_cuda), so a role decides what a non-V(ok) status means for it.
  - >-
    The CUDA version comes from the C(nvidia-smi) banner (C(CUDA Version: X.Y)), then from C(nvidia-smi -q). Only when both
    say C(N/A) is it derived from the driver version with NVIDIA's toolkit/driver table, and
    RV(ansible_facts.cslr_gpu.cuda_version_source) says so.
  - Read-only; it runs the same commands in check mode.
author:
  - cslr.platform maintainers (@cslr-platform)
options:
  required_cuda:
    description:
      - CUDA version (V(MAJOR.MINOR), for example V(12.4)) that the GPU workloads of this host need, typically the CUDA version
        of the GPU container image.
      - When the driver's highest supported CUDA version is lower, the module fails with a message naming the driver version,
        its highest CUDA version, the required one and the minimum Linux driver for the required CUDA version (from the
        CUDA Toolkit release notes, R450/CUDA 11.0 to R610/CUDA 13.3).
      - The check is for native support. CUDA minor version compatibility can let an image of the same major version start
        on an older driver with a limited feature set; the failure message mentions it, but the check does not rely on it.
      - Hosts with RV(ansible_facts.cslr_gpu.status=no_driver) or without GPUs pass. When the status is
        V(reboot_required) or V(error) the requirement cannot be verified and the module fails with the status message.
    type: str
  nvidia_smi_path:
    description:
      - Path of the C(nvidia-smi) executable.
      - By default it is searched on E(PATH) and the usual system directories.
      - A path that does not exist or is not executable gives RV(ansible_facts.cslr_gpu.status=no_driver), like a missing binary.
    type: path
notes:
  - Linux only. Needs no root privileges; C(nvidia-smi) can be run by any user that may open C(/dev/nvidiactl).
  - C(nvidia-smi -L) is run to list MIG devices; it lists them only when MIG mode is enabled and GPU/compute instances exist.
  - The kernel module version is read from C(/proc/driver/nvidia/version) when present, to explain a version mismatch.
seealso:
  - name: CUDA Toolkit release notes, CUDA Toolkit and Corresponding Driver Versions
    description: Source of the minimum driver table used for O(required_cuda).
    link: https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/
  - name: CUDA Compatibility
    description: Minor version and forward compatibility between CUDA toolkits and drivers.
    link: https://docs.nvidia.com/deploy/cuda-compatibility/
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same commands in check mode.
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Gather GPU facts
  cslr.platform.gpu_facts:

- name: Install the NVIDIA container runtime only where GPUs work
  ansible.builtin.include_tasks: runtime.yml
  when:
    - ansible_facts.cslr_gpu.status == 'ok'
    - ansible_facts.cslr_gpu.present

- name: Stop before deploying a CUDA 12.8 image on a driver that is too old
  cslr.platform.gpu_facts:
    required_cuda: "12.8"

- name: Refuse hosts that need a reboot after a driver upgrade
  ansible.builtin.assert:
    that: ansible_facts.cslr_gpu.status != 'reboot_required'
    fail_msg: "{{ ansible_facts.cslr_gpu.msg }}"

- name: Use an nvidia-smi outside PATH
  cslr.platform.gpu_facts:
    nvidia_smi_path: /usr/local/nvidia/bin/nvidia-smi
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    cslr_gpu:
      description: NVIDIA GPU inventory of the host.
      returned: always
      type: dict
      contains:
        status:
          description:
            - V(ok) nvidia-smi answered (possibly with zero GPUs, see RV(ansible_facts.cslr_gpu.msg)).
            - V(no_driver) nvidia-smi is not installed; zero GPUs.
            - V(reboot_required) NVML driver/library version mismatch, or a GPU fell off the bus.
            - V(error) any other nvidia-smi failure; see RV(ansible_facts.cslr_gpu.msg) and RV(ansible_facts.cslr_gpu.stderr).
          type: str
          choices: [ok, no_driver, reboot_required, error]
          sample: ok
        msg:
          description: Human-readable explanation of the status; empty when GPUs were found.
          type: str
          sample: ""
        present:
          description: Whether at least one usable GPU was found.
          type: bool
          sample: true
        count:
          description: Number of GPUs (physical GPUs; MIG devices are listed separately).
          type: int
          sample: 8
        gpus:
          description: One entry per GPU, ordered by index.
          type: list
          elements: dict
          contains:
            index:
              description: nvidia-smi index of the GPU.
              type: int
              sample: 0
            name:
              description: Product name.
              type: str
              sample: NVIDIA A100-SXM4-80GB
            uuid:
              description: GPU UUID, as used by E(NVIDIA_VISIBLE_DEVICES).
              type: str
              sample: GPU-4f2a7c1e-8b3d-5e6f-9a0b-1c2d3e4f5a6b
            memory_total_mib:
              description: Total framebuffer memory in MiB; null when nvidia-smi does not report it.
              type: int
              sample: 81920
            pci_bus_id:
              description: PCI bus ID.
              type: str
              sample: "00000000:07:00.0"
            mig_mode:
              description: Current MIG mode, V(enabled) or V(disabled); null when the GPU or driver does not support MIG.
              type: str
              sample: disabled
            mig_device_count:
              description: Number of MIG devices of this GPU listed by C(nvidia-smi -L).
              type: int
              sample: 0
        mig_devices:
          description: MIG devices listed by C(nvidia-smi -L); empty when MIG is off or no instances exist.
          type: list
          elements: dict
          contains:
            gpu_index:
              description: Index of the parent GPU.
              type: int
            gpu_uuid:
              description: UUID of the parent GPU.
              type: str
            index:
              description: MIG device index within the parent GPU.
              type: int
            profile:
              description: MIG profile.
              type: str
              sample: 1g.10gb
            uuid:
              description: MIG device UUID (V(MIG-...)).
              type: str
          sample:
            - gpu_index: 0
              gpu_uuid: GPU-4f2a7c1e-8b3d-5e6f-9a0b-1c2d3e4f5a6b
              index: 0
              profile: 3g.40gb
              uuid: MIG-6d1f0c2a-7e4b-5c9d-8a3f-2b1e0d9c8f7a
        driver_version:
          description: NVIDIA driver version (user space, as nvidia-smi reports it); null when unknown.
          type: str
          sample: 535.129.03
        cuda_version:
          description: Highest CUDA version the driver supports (V(MAJOR.MINOR)); not the installed CUDA toolkit. Null when unknown.
          type: str
          sample: "12.2"
        cuda_version_source:
          description: Where RV(ansible_facts.cslr_gpu.cuda_version) came from; null when unknown.
          type: str
          choices: [nvidia-smi, nvidia-smi -q, driver_table]
          sample: nvidia-smi
        kernel_module_version:
          description: Version of the loaded kernel module from C(/proc/driver/nvidia/version); null when not loaded.
          type: str
          sample: 535.129.03
        nvml_library_version:
          description: User-space NVML version printed by nvidia-smi on a version mismatch; null otherwise.
          type: str
          sample: "550.127"
        nvidia_smi_path:
          description: The nvidia-smi that was run; null when none was found.
          type: str
          sample: /usr/bin/nvidia-smi
        stderr:
          description: Output of the failing nvidia-smi run when RV(ansible_facts.cslr_gpu.status) is not V(ok); empty otherwise.
          type: str
          sample: ""
required_cuda:
  description: The normalised O(required_cuda), when given.
  returned: when O(required_cuda) is set
  type: str
  sample: "12.4"
minimum_driver:
  description: Minimum Linux driver for O(required_cuda) per the CUDA Toolkit release notes; null when newer than the table.
  returned: when O(required_cuda) is set
  type: str
  sample: 550.54.14
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.cslr.platform.plugins.module_utils import _nvidia

PROC_DRIVER_VERSION = '/proc/driver/nvidia/version'


class GpuFacts(object):
    """Runs nvidia-smi through module.run_command and assembles the cslr_gpu fact."""

    def __init__(self, module):
        self.module = module
        self.smi = None

    def _run(self, args):
        rc, out, err = self.module.run_command([self.smi] + list(args), check_rc=False)
        return rc, to_text(out, errors='surrogate_or_replace'), to_text(err, errors='surrogate_or_replace')

    def _find_smi(self):
        path = self.module.params['nvidia_smi_path']
        if path:
            return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
        return self.module.get_bin_path('nvidia-smi', opt_dirs=['/usr/bin', '/usr/local/nvidia/bin', '/usr/local/bin'])

    @staticmethod
    def _kernel_module_version():
        try:
            with open(PROC_DRIVER_VERSION, 'r') as handle:
                return _nvidia.parse_proc_driver_version(handle.read())
        except (IOError, OSError):
            return None

    @staticmethod
    def _empty(status, msg):
        return {
            'status': status,
            'msg': msg,
            'present': False,
            'count': 0,
            'gpus': [],
            'mig_devices': [],
            'driver_version': None,
            'cuda_version': None,
            'cuda_version_source': None,
            'kernel_module_version': None,
            'nvml_library_version': None,
            'nvidia_smi_path': None,
            'stderr': '',
        }

    def _query(self):
        """Run the CSV inventory query, dropping fields an old driver rejects."""
        fields = list(_nvidia.QUERY_FIELDS)
        while True:
            rc, out, err = self._run(_nvidia.query_gpu_args(fields))
            rejected = _nvidia.unsupported_query_field(out + '\n' + err) if rc != 0 else None
            if rejected in _nvidia.OPTIONAL_QUERY_FIELDS and rejected in fields:
                fields.remove(rejected)
                continue
            return rc, out, err, fields

    def _cuda_version(self, driver_version):
        rc, out, dummy = self._run([])
        version = _nvidia.parse_cuda_version(out) if rc == 0 else None
        if version:
            return version, 'nvidia-smi', _nvidia.parse_driver_version(out)
        rc, out, dummy = self._run(['-q', '-d', 'COMPUTE'])
        version = _nvidia.parse_cuda_version(out) if rc == 0 else None
        if version:
            return version, 'nvidia-smi -q', _nvidia.parse_driver_version(out)
        if driver_version:
            try:
                version = _nvidia.max_cuda_for_driver(driver_version)
            except ValueError:
                version = None
            if version:
                return version, 'driver_table', None
        return None, None, None

    def gather(self):
        self.smi = self._find_smi()
        if not self.smi:
            where = self.module.params['nvidia_smi_path'] or 'nvidia-smi on PATH'
            return self._empty(_nvidia.STATUS_NO_DRIVER, 'No NVIDIA driver: %s not found or not executable; the host has no usable GPU.' % where)

        facts = self._empty(_nvidia.STATUS_OK, '')
        facts['nvidia_smi_path'] = self.smi
        facts['kernel_module_version'] = self._kernel_module_version()

        rc, out, err, fields = self._query()
        if rc != 0:
            failure = _nvidia.classify_failure(rc, out, err, facts['kernel_module_version'])
            if failure is None:
                # The driver works but sees no GPU (container without --gpus, failed passthrough, unbound device).
                facts['driver_version'] = facts['kernel_module_version']
                facts['msg'] = 'The NVIDIA driver is loaded but nvidia-smi found no GPU ("No devices were found").'
                return facts
            facts['status'], facts['msg'], details = failure
            facts.update(details)
            facts['stderr'] = '\n'.join(part for part in (out.strip(), err.strip()) if part)
            return facts

        gpus, unparsed = _nvidia.parse_query_gpu(out, fields)
        if unparsed and not gpus:
            facts['status'] = _nvidia.STATUS_ERROR
            facts['msg'] = 'Could not parse nvidia-smi --query-gpu output: %s' % '; '.join(unparsed)
            facts['stderr'] = err.strip()
            return facts

        # One driver serves all GPUs; the column repeats it per GPU.
        driver_versions = [gpu.pop('driver_version', None) for gpu in gpus]
        driver_version = next((v for v in driver_versions if v), None)
        cuda_version, source, banner_driver = self._cuda_version(driver_version)
        facts['driver_version'] = driver_version or banner_driver or facts['kernel_module_version']
        facts['cuda_version'] = cuda_version
        facts['cuda_version_source'] = source

        by_uuid = {}
        if gpus:
            rc, out, dummy = self._run(['-L'])
            if rc == 0:
                for listed in _nvidia.parse_gpu_list(out):
                    by_uuid[listed['uuid']] = listed
        for gpu in gpus:
            mig_devices = by_uuid.get(gpu['uuid'], {}).get('mig_devices', [])
            gpu['mig_device_count'] = len(mig_devices)
            for dev in mig_devices:
                facts['mig_devices'].append(dict(gpu_index=gpu['index'], gpu_uuid=gpu['uuid'], **dev))

        facts['gpus'] = sorted(gpus, key=lambda g: g['index'])
        facts['count'] = len(gpus)
        facts['present'] = bool(gpus)
        if not gpus:
            facts['msg'] = 'nvidia-smi reported no GPU.'
        if unparsed:
            facts['msg'] = 'Some nvidia-smi --query-gpu lines could not be parsed: %s' % '; '.join(unparsed)
        return facts


def main():
    module = AnsibleModule(
        argument_spec=dict(
            required_cuda=dict(type='str'),
            nvidia_smi_path=dict(type='path'),
        ),
        supports_check_mode=True,
    )

    result = dict(changed=False)
    required = module.params['required_cuda']
    if required is not None:
        try:
            required = _nvidia.normalize_cuda_version(required)
        except ValueError:
            module.fail_json(msg='required_cuda must be a CUDA version like "12.4", got %r' % module.params['required_cuda'], **result)
        result['required_cuda'] = required
        result['minimum_driver'] = _nvidia.min_driver_for_cuda(required)

    facts = GpuFacts(module).gather()
    result['ansible_facts'] = dict(cslr_gpu=facts)

    if required is not None:
        if facts['status'] in (_nvidia.STATUS_REBOOT_REQUIRED, _nvidia.STATUS_ERROR):
            module.fail_json(msg='Cannot check required_cuda %s: %s' % (required, facts['msg']), **result)
        if facts['present']:
            # Hosts without a driver or without GPUs run no CUDA workload: nothing to check.
            problem = _nvidia.check_required_cuda(required, facts['cuda_version'], facts['driver_version'])
            if problem:
                module.fail_json(msg=problem, **result)

    module.exit_json(**result)


if __name__ == '__main__':
    main()
