# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the cslr.platform collection. Not a public API: names and return
# shapes may change in any release without notice. Import it only from this
# collection's own plugins (currently cslr.platform.gpu_facts).
#
# Pure functions that parse nvidia-smi output and reason about CUDA / driver
# compatibility. Nothing here runs commands or touches the file system, so
# every function can be unit tested with recorded outputs.

from __future__ import annotations

import re

# --query-gpu fields, in the order the CSV columns come back.
# mig.mode.current exists since driver R450 (CUDA 11.0); older drivers reject it
# with 'Field "mig.mode.current" is not a valid field to query.' and the module
# retries without it (see unsupported_query_field()).
QUERY_FIELDS = ('index', 'name', 'uuid', 'memory.total', 'pci.bus_id', 'mig.mode.current', 'driver_version')
OPTIONAL_QUERY_FIELDS = ('mig.mode.current',)

STATUS_OK = 'ok'
STATUS_NO_DRIVER = 'no_driver'
STATUS_REBOOT_REQUIRED = 'reboot_required'
STATUS_ERROR = 'error'
STATUSES = (STATUS_OK, STATUS_NO_DRIVER, STATUS_REBOOT_REQUIRED, STATUS_ERROR)

# Minimum Linux x86_64 driver for each CUDA major.minor: the "Toolkit Driver
# Version" of the minor's first (GA) release in Table 3 "CUDA Toolkit and
# Corresponding Driver Versions" of NVIDIA's CUDA Toolkit release notes
# (https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/). A driver at or above
# this version reports at least this "CUDA Version" in nvidia-smi, i.e. runs
# toolkits of that minor natively, with the full feature set.
#
# Reconciled with seed 000 (its compatibility matrix: 535.x -> 12.2, 545.x -> 12.3,
# 550.x -> 12.4): same branches, this table adds the exact minimum build.
#
# 11.0: the GA row is 450.51.05 (11.0.2 GA). 450.80.02, sometimes quoted for
# 11.0, is the floor of *minor version compatibility* for the whole 11.x family
# (MINOR_COMPAT_MIN_DRIVER below), not the native 11.0 minimum.
# Rows up to 13.2 checked against a copy of Table 3 from the CUDA 13.2 Update 2
# notes; the 13.3 row (610.43.02) is from secondary sources quoting the 13.3
# notes. R610 also renamed the banner ('KMD Version' / 'CUDA UMD Version').
# 12.7 was never released. Update releases need slightly newer builds of the
# same branch (e.g. 12.4 Update 1: 550.54.15) - the branch is what matters.
CUDA_MIN_DRIVER = (
    ((11, 0), '450.51.05'),
    ((11, 1), '455.23'),
    ((11, 2), '460.27.03'),
    ((11, 3), '465.19.01'),
    ((11, 4), '470.42.01'),
    ((11, 5), '495.29.05'),
    ((11, 6), '510.39.01'),
    ((11, 7), '515.43.04'),
    ((11, 8), '520.61.05'),
    ((12, 0), '525.60.13'),
    ((12, 1), '530.30.02'),
    ((12, 2), '535.54.03'),
    ((12, 3), '545.23.06'),
    ((12, 4), '550.54.14'),
    ((12, 5), '555.42.02'),
    ((12, 6), '560.28.03'),
    ((12, 8), '570.26'),
    ((12, 9), '575.51.03'),
    ((13, 0), '580.65.06'),
    ((13, 1), '590.44.01'),
    ((13, 2), '595.45.04'),
    ((13, 3), '610.43.02'),
)

# CUDA minor version compatibility (docs.nvidia.com/deploy/cuda-compatibility/):
# an application built with any 11.x / 12.x / 13.x toolkit *may* run on these
# older drivers of the same major family, with a limited feature set (no PTX JIT
# of newer PTX, APIs added later fail with cudaErrorCallRequiresNewerDriver).
# Informational only: required_cuda checks native support.
MINOR_COMPAT_MIN_DRIVER = {
    11: '450.80.02',
    12: '525.60.13',
    13: '580.65.06',
}

_VERSION_RE = re.compile(r'^\d+(?:\.\d+)*$')
# R610 and newer print 'KMD Version: 610.43.02     CUDA UMD Version: 13.3' where
# older drivers print 'Driver Version: 535.129.03   CUDA Version: 12.2'.
_CUDA_VERSION_RE = re.compile(r'CUDA(?:\s+UMD)?\s+Version\s*:\s*(\S+)', re.IGNORECASE)
_CUDA_NUMBER_RE = re.compile(r'^(\d+\.\d+)')
_DRIVER_VERSION_RE = re.compile(r'(?:Driver|KMD)\s+Version\s*:\s*(\d+\.\d+(?:\.\d+)?)', re.IGNORECASE)
_GPU_LINE_RE = re.compile(r'^GPU\s+(\d+):\s+(.*?)\s+\(UUID:\s*([^)\s]+)\)\s*$')
_MIG_LINE_RE = re.compile(r'^\s+MIG\s+(\S+)\s+Device\s+(\d+):\s+\(UUID:\s*([^)\s]+)\)\s*$')
_NVML_LIB_RE = re.compile(r'NVML library version:\s*(\d+(?:\.\d+)*)', re.IGNORECASE)
_PROC_VERSION_RE = re.compile(r'NVRM version:.*?Kernel Module(?:\s+for\s+\S+)?\s+(\d+\.\d+(?:\.\d+)?)')
_UNSUPPORTED_FIELD_RE = re.compile(r'Field "([^"]+)" is not a valid field to query')
_NA_VALUES = ('', 'n/a', '[n/a]', '[not supported]', '[unknown error]', '[gpu requires reset]', '[insufficient permissions]')


def version_tuple(version):
    """Turn '535.129.03' or '12.4' into a tuple of ints; ValueError when malformed."""
    text = str(version).strip()
    if not _VERSION_RE.match(text):
        raise ValueError('not a dotted numeric version: %r' % (version,))
    return tuple(int(part) for part in text.split('.'))


def normalize_cuda_version(version):
    """'12' -> '12.0', '12.4' -> '12.4', '12.4.1' -> '12.4'; ValueError when malformed."""
    parts = version_tuple(version)
    if len(parts) == 1:
        parts = parts + (0,)
    return '%d.%d' % parts[:2]


def _clean(value):
    value = value.strip()
    return None if value.lower() in _NA_VALUES else value


def _to_int(value):
    value = _clean(value) if value is not None else None
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def query_gpu_args(fields=QUERY_FIELDS):
    """Arguments (after the nvidia-smi path) for the CSV inventory query."""
    return ['--query-gpu=%s' % ','.join(fields), '--format=csv,noheader,nounits']


def unsupported_query_field(text):
    """Name of the field an older nvidia-smi rejected, or None."""
    match = _UNSUPPORTED_FIELD_RE.search(text or '')
    return match.group(1) if match else None


def parse_query_gpu(text, fields=QUERY_FIELDS):
    """Parse `--query-gpu=<fields> --format=csv,noheader,nounits` output.

    nvidia-smi separates columns with ", " and does not quote; only the product
    name is free text, so surplus columns are folded back into the name.
    Returns (gpus, unparsed_lines).
    """
    fields = list(fields)
    gpus = []
    unparsed = []
    for line in (text or '').splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(',')]
        if len(parts) < len(fields):
            unparsed.append(line.strip())
            continue
        if len(parts) > len(fields) and 'name' in fields:
            extra = len(parts) - len(fields)
            pos = fields.index('name')
            parts[pos:pos + extra + 1] = [', '.join(parts[pos:pos + extra + 1])]
        elif len(parts) > len(fields):
            unparsed.append(line.strip())
            continue
        row = dict(zip(fields, parts))
        index = _to_int(row.get('index'))
        if index is None:
            unparsed.append(line.strip())
            continue
        mig = _clean(row.get('mig.mode.current', '') or '')
        gpus.append({
            'index': index,
            'name': _clean(row.get('name', '')),
            'uuid': _clean(row.get('uuid', '')),
            'memory_total_mib': _to_int(row.get('memory.total')),
            'pci_bus_id': _clean(row.get('pci.bus_id', '')),
            'mig_mode': mig.lower() if mig else None,
            'driver_version': _clean(row.get('driver_version', '')),
        })
    return gpus, unparsed


def parse_cuda_version(text):
    """Highest CUDA version the driver supports, from the plain `nvidia-smi`
    banner ('... CUDA Version: 12.2 |', R610+: 'CUDA UMD Version: 13.3') or
    `nvidia-smi -q` ('CUDA Version : 12.2'). None when absent, 'N/A' or 'Not Found'."""
    match = _CUDA_VERSION_RE.search(text or '')
    number = _CUDA_NUMBER_RE.match(match.group(1)) if match else None
    return number.group(1) if number else None


def parse_driver_version(text):
    """Driver version from the `nvidia-smi` banner or `nvidia-smi -q` header."""
    match = _DRIVER_VERSION_RE.search(text or '')
    return match.group(1) if match else None


def parse_gpu_list(text):
    """Parse `nvidia-smi -L`.

    Returns a list of {'index', 'name', 'uuid', 'mig_devices': [...]}, each MIG
    device {'index', 'profile', 'uuid'}. Handles the current MIG UUID form
    (MIG-<uuid>) and the R450/R460 form (MIG-GPU-<uuid>/<gi>/<ci>).
    """
    gpus = []
    for line in (text or '').splitlines():
        gpu = _GPU_LINE_RE.match(line)
        if gpu:
            gpus.append({'index': int(gpu.group(1)), 'name': gpu.group(2), 'uuid': gpu.group(3), 'mig_devices': []})
            continue
        mig = _MIG_LINE_RE.match(line)
        if mig and gpus:
            gpus[-1]['mig_devices'].append({'index': int(mig.group(2)), 'profile': mig.group(1), 'uuid': mig.group(3)})
    return gpus


def parse_proc_driver_version(text):
    """Kernel module version from /proc/driver/nvidia/version (proprietary or open modules)."""
    match = _PROC_VERSION_RE.search(text or '')
    return match.group(1) if match else None


def parse_nvml_library_version(text):
    """User-space NVML version printed by newer nvidia-smi on a version mismatch."""
    match = _NVML_LIB_RE.search(text or '')
    return match.group(1) if match else None


def classify_failure(rc, stdout, stderr, kernel_module_version=None):
    """Map a failed nvidia-smi run to (status, msg, details).

    Returns None for 'No devices were found' (the driver works, the host simply
    has no visible GPU), which callers treat as status ok with zero GPUs.
    """
    output = '\n'.join(part for part in (stdout, stderr) if part).strip()
    lowered = output.lower()
    details = {}
    if 'no devices were found' in lowered:
        return None
    if 'driver/library version mismatch' in lowered:
        library = parse_nvml_library_version(output)
        details['nvml_library_version'] = library
        loaded = ('kernel module %s is loaded' % kernel_module_version) if kernel_module_version else 'the loaded kernel module is older'
        installed = ('user-space NVML library is %s' % library) if library else 'the user-space driver libraries were replaced'
        msg = ('NVIDIA driver/library version mismatch (nvidia-smi: "Failed to initialize NVML: Driver/library version mismatch"): '
               '%s but the %s. The driver was upgraded or reinstalled without reloading the kernel module. '
               'Reboot the host (or, with no process using the GPU, unload and reload the nvidia kernel modules) '
               'before using the GPUs.' % (loaded, installed))
        return STATUS_REBOOT_REQUIRED, msg, details
    if 'gpu is lost' in lowered or 'fallen off the bus' in lowered:
        msg = ('A GPU has fallen off the bus ("GPU is lost"); the NVIDIA driver cannot use it until the host is rebooted. '
               'If it recurs, check power, cooling and the PCIe slot. nvidia-smi said: %s' % output)
        return STATUS_REBOOT_REQUIRED, msg, details
    if "couldn't communicate with the nvidia driver" in lowered:
        msg = ('nvidia-smi is installed but cannot talk to the NVIDIA kernel driver (module not loaded). Typical causes: '
               'the kernel was upgraded and the driver module was not rebuilt for it (DKMS), Secure Boot rejected the '
               'unsigned module, or nouveau is bound to the GPU. Check `lsmod | grep nvidia` and `dmesg | grep -i nvrm`.')
        return STATUS_ERROR, msg, details
    msg = 'nvidia-smi failed with rc=%s: %s' % (rc, output or '(no output)')
    return STATUS_ERROR, msg, details


def min_driver_for_cuda(cuda_version):
    """Minimum Linux driver for a CUDA major.minor, or None when newer than the table.

    For an unlisted minor inside the table's range (12.7) the next listed minor's
    driver is returned, since that is the first driver supporting it.
    """
    wanted = version_tuple(normalize_cuda_version(cuda_version))
    for cuda, driver in CUDA_MIN_DRIVER:
        if cuda >= wanted:
            return driver
    return None


def max_cuda_for_driver(driver_version):
    """Highest CUDA major.minor a driver supports according to CUDA_MIN_DRIVER,
    or None for drivers older than R450. Fallback only: the driver's own
    report (nvidia-smi banner) is authoritative."""
    have = version_tuple(driver_version)
    best = None
    for cuda, driver in CUDA_MIN_DRIVER:
        if have >= version_tuple(driver):
            best = cuda
    return '%d.%d' % best if best else None


def check_required_cuda(required_cuda, cuda_version, driver_version):
    """None when the driver supports required_cuda, else a failure message.

    required_cuda and cuda_version are major.minor strings; cuda_version is the
    driver's maximum as nvidia-smi reports it.
    """
    required = normalize_cuda_version(required_cuda)
    if cuda_version and version_tuple(normalize_cuda_version(cuda_version)) >= version_tuple(required):
        return None
    minimum = min_driver_for_cuda(required)
    if minimum:
        fix = ('Upgrade the NVIDIA driver to >= %s (the minimum Linux driver for CUDA %s per the CUDA Toolkit release notes; '
               'any newer branch also works), then reboot.' % (minimum, required))
    else:
        fix = ('Upgrade the NVIDIA driver to a branch that supports CUDA %s (newer than this module\'s table, which ends at '
               'CUDA %d.%d; see https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/), then reboot.' % ((required,) + CUDA_MIN_DRIVER[-1][0]))
    parts = ['CUDA %s is required but NVIDIA driver %s supports at most CUDA %s.' % (required, driver_version or '(unknown)', cuda_version or '(unknown)'), fix]
    if cuda_version:
        parts.append('Alternatively use an image built for CUDA <= %s.' % cuda_version)
    major = version_tuple(required)[0]
    compat = MINOR_COMPAT_MIN_DRIVER.get(major)
    if compat and driver_version and version_tuple(driver_version) >= version_tuple(compat):
        parts.append('Note: CUDA %d.x minor version compatibility may let such an image start on this driver (>= %s) '
                     'with a limited feature set; this check requires native support.' % (major, compat))
    return ' '.join(parts)
