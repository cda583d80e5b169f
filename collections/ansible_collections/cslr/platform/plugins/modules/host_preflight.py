#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_preflight
short_description: Gather the facts the platform's preflight checks need, in one read-only run per host
version_added: 0.1.0
description:
  - Reads, in one module run, what the preflight checks assert on before any host is changed, so that a playbook can stop
    with a clear message instead of failing halfway through a deployment.
  - The clock discipline state from C(adjtimex(2)) (read only, modes 0; nothing is ever set), the active NTP clients and
    whether the host is a container.
  - The IPv4 addresses of every interface (C(ip -j -4 addr show)), and which interface holds each address of O(addresses).
  - The TCP listeners on the ports of O(ports), with the owning process, from C(/proc/net/tcp), C(/proc/net/tcp6) and
    C(/proc/PID/fd).
  - The NVIDIA GPUs on the PCI bus (C(/sys/bus/pci/devices)) and the C(/dev/nvidiaN) device nodes, the RDMA HCAs
    (C(/sys/class/infiniband)) and C(/dev/infiniband) nodes, and the total memory.
  - Results are returned at the top level, not as facts. The module never changes anything and always reports
    RV(ignore:changed=false).
author:
  - cslr.platform maintainers (@cslr-platform)
options:
  addresses:
    description:
      - IPv4 addresses this host must hold. RV(addresses) says, for each one, which interface holds it.
      - The module fails when one of them is not an IPv4 address.
    type: list
    elements: str
    default: []
  ports:
    description:
      - TCP ports whose listeners to report in RV(listeners), on any address, IPv4 and IPv6.
      - The module fails for a port outside 1-65535.
    type: list
    elements: int
    default: []
  gpu_expected:
    description:
      - Whether the inventory puts this host in the group C(cslr_gpu_hosts).
      - When V(false) and NVIDIA GPUs are found on the PCI bus, the module adds a warning that Ray gives the host 0 GPUs
        and that the fix is to add the host to C(cslr_gpu_hosts). It never fails for it.
    type: bool
    default: false
notes:
  - Linux only. Needs the C(ip) command of iproute2 (with JSON output, iproute2 4.13 or later); C(systemctl) is optional
    (without it RV(clock.daemons) is empty).
  - Runs without root. Without root, the owning process of a socket of another user cannot be found; its RV(listeners)
    entry then has null RV(listeners.pid), RV(listeners.comm) and RV(listeners.cmdline).
  - The clock state is decoded for x86_64 and aarch64; elsewhere RV(clock.synchronized) is null and RV(clock.error) says why.
  - The listeners seen are those of the network namespace the module runs in.
seealso:
  - module: cslr.platform.gpu_facts
attributes:
  check_mode:
    support: full
    details: Read-only; gathers the same facts in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Gather the preflight facts
  cslr.platform.host_preflight:
    addresses: "{{ [cslr_cluster_address] }}"
    ports: [6379, 8265, 29500]
    gpu_expected: "{{ inventory_hostname in groups['cslr_gpu_hosts'] | default([]) }}"
  register: preflight

- name: The clock must be synchronised
  ansible.builtin.assert:
    that: preflight.clock.synchronized
    fail_msg: >-
      The clock of {{ inventory_hostname }} is not synchronised (active NTP clients:
      {{ preflight.clock.daemons | join(', ') or 'none' }}).

- name: The cluster address must be on this host
  ansible.builtin.assert:
    that: preflight.addresses[cslr_cluster_address] is not none
    fail_msg: "{{ cslr_cluster_address }} is not an address of {{ inventory_hostname }}."

- name: Port 29500 must be free
  ansible.builtin.assert:
    that: "'29500' not in preflight.listeners"
    fail_msg: "Port 29500 is taken by {{ preflight.listeners['29500'] | map(attribute='cmdline') | join(', ') }}."
"""

RETURN = r"""
clock:
  description: The kernel clock discipline state and the time services.
  returned: always
  type: dict
  contains:
    synchronized:
      description:
        - Whether the kernel considers the clock synchronised, that is C(adjtimex) did not return C(TIME_ERROR) (5) and
          the C(STA_UNSYNC) status bit is clear.
        - Null when the state could not be read; see RV(clock.error).
      type: bool
      sample: true
    state:
      description: The clock state C(adjtimex) returned (0 C(TIME_OK) ... 5 C(TIME_ERROR)); null when unknown.
      type: int
      sample: 0
    maxerror_us:
      description: Maximum error in microseconds; null when unknown.
      type: int
      sample: 8250
    esterror_us:
      description: Estimated error in microseconds; null when unknown.
      type: int
      sample: 312
    error:
      description: Why the clock state could not be read.
      returned: when RV(clock.synchronized) is null
      type: str
      sample: "adjtimex: struct timex layout of ppc64le is not known"
    daemons:
      description:
        - The active NTP client units, among C(chrony), C(chronyd), C(systemd-timesyncd), C(ntp), C(ntpd), C(ntpsec)
          and C(openntpd), as C(systemctl is-active) reports them. Aliases (C(chrony) and C(chronyd)) may both be listed.
        - Empty when none is active or C(systemctl) is missing or cannot answer.
      type: list
      elements: str
      sample: [chrony, chronyd]
    container:
      description:
        - The container manager, from C(/run/systemd/container) (for example V(docker), V(podman), V(lxc)), or V(docker)
          when C(/.dockerenv) exists; null on a host that is not a container.
        - A container usually cannot discipline the clock; its host does.
      type: str
      sample: null
interfaces:
  description:
    - The IPv4 addresses of each interface, from C(ip -j -4 addr show). Interfaces without an IPv4 address have an empty list.
  returned: always
  type: dict
  sample:
    lo: [{address: 127.0.0.1, prefixlen: 8, network: 127.0.0.0/8}]
    eth0: [{address: 10.213.1.11, prefixlen: 24, network: 10.213.1.0/24}]
  contains:
    address:
      description: The address.
      type: str
      sample: 10.213.1.11
    prefixlen:
      description: The prefix length.
      type: int
      sample: 24
    network:
      description: The network of the address, in CIDR notation.
      type: str
      sample: 10.213.1.0/24
addresses:
  description: For each address of O(addresses), the interface that holds it, or null when no interface does.
  returned: always
  type: dict
  sample:
    10.213.1.11: eth0
    10.213.9.9: null
listeners:
  description:
    - The TCP listeners on the ports of O(ports). The keys are the port numbers as strings (V("29500")); only ports with at
      least one listener are keys, so a free port is not a key.
    - Each value is a list with one entry per listening address, IPv4 and IPv6. A socket held by several processes (a
      forking server) is listed once, with the lowest pid.
  returned: always
  type: dict
  sample:
    "29500": [{pid: 1234, comm: python3, cmdline: python3 -m http.server 29500, address: 0.0.0.0}]
  contains:
    pid:
      description: The process holding the socket; null when it could not be found (another user's process without root).
      type: int
      sample: 1234
    comm:
      description: The command name of the process (C(/proc/PID/comm)); null when unknown.
      type: str
      sample: python3
    cmdline:
      description: The command line of the process, arguments joined with spaces, cut to 300 characters; null when unknown.
      type: str
      sample: python3 -m http.server 29500
    address:
      description: The local address of the listening socket; V(0.0.0.0) or V(::) for all addresses.
      type: str
      sample: 0.0.0.0
gpus:
  description: The NVIDIA GPUs the kernel sees, whether or not a driver is installed.
  returned: always
  type: dict
  contains:
    pci:
      description: PCI addresses of the NVIDIA VGA and 3D controllers (PCI class 0x0300 and 0x0302), sorted.
      type: list
      elements: str
      sample: ["0000:07:00.0", "0000:0f:00.0"]
    device_nodes:
      description: The C(/dev/nvidiaN) device nodes, in number order; empty without a loaded driver.
      type: list
      elements: str
      sample: [nvidia0, nvidia1]
rdma:
  description: The RDMA (InfiniBand, RoCE) devices.
  returned: always
  type: dict
  contains:
    hcas:
      description: The HCAs in C(/sys/class/infiniband), sorted.
      type: list
      elements: str
      sample: [mlx5_0, mlx5_1]
    devices:
      description: Whether C(/dev/infiniband) exists.
      type: bool
      sample: true
    uverbs:
      description: The C(uverbsN) nodes in C(/dev/infiniband), in number order.
      type: list
      elements: str
      sample: [uverbs0, uverbs1]
mem_total_bytes:
  description: Total memory (C(MemTotal) of C(/proc/meminfo)) in bytes; null when it cannot be read.
  returned: always
  type: int
  sample: 540789948416
ip_local_port_range:
  description: The kernel's ephemeral port range (C(net.ipv4.ip_local_port_range)), as C(LOW HIGH); null when it cannot be read.
  returned: always
  type: str
  sample: 32768 60999
rlimits:
  description:
    - The hard resource limits of PID 1 (C(/proc/1/limits); the module's own where unreadable), by C(ulimit) name, -1 for
      unlimited. On a machine without C(CAP_SYS_RESOURCE) (see RV(cap_sys_resource)) no process, and no container, can be
      given more.
  returned: always
  type: dict
  sample: {memlock: 8388608, stack: -1, nofile: 1048576, core: -1, nproc: -1}
cap_sys_resource:
  description:
    - Whether C(CAP_SYS_RESOURCE) is in the capability bounding set (C(CapBnd) of C(/proc/self/status)), so the container
      runtime can raise limits above RV(rlimits); false in a container started without it. Null when it cannot be read.
  returned: always
  type: bool
  sample: true
"""

import ipaddress
import os
import re
import resource

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.cslr.platform.plugins.module_utils._host_preflight import (
    TIME_DAEMON_UNITS,
    container_kind,
    holder,
    interface_addresses,
    mem_total_bytes,
    nvidia_device_nodes,
    nvidia_gpus,
    parse_is_active,
    rdma,
    read_adjtimex,
    tcp_listeners,
    time_daemons,
)

PROC_ROOT = '/proc'
SYS_ROOT = '/sys'
DEV_ROOT = '/dev'
RUN_SYSTEMD_CONTAINER = '/run/systemd/container'
DOCKERENV = '/.dockerenv'
BIN_DIRS = ['/sbin', '/usr/sbin', '/bin', '/usr/bin']


def read_text(path):
    try:
        with open(path, 'rb') as handle:
            return to_text(handle.read(), errors='surrogate_or_replace')
    except (IOError, OSError):
        return None


def check_params(module):
    bad = []
    for address in module.params['addresses']:
        try:
            ipaddress.IPv4Address(to_text(address).strip())
        except ValueError:
            bad.append(address)
    if bad:
        module.fail_json(msg='addresses must be IPv4 addresses; not one: %s' % ', '.join(repr(a) for a in bad))
    bad = [port for port in module.params['ports'] if not 1 <= port <= 65535]
    if bad:
        module.fail_json(msg='ports must be TCP ports 1-65535; not one: %s' % ', '.join(str(p) for p in bad))


def gather_interfaces(module):
    ip = module.get_bin_path('ip', opt_dirs=BIN_DIRS)
    if not ip:
        module.fail_json(msg='The ip command was not found: host_preflight needs iproute2 (package iproute2 or iproute).')
    rc, out, err = module.run_command([ip, '-j', '-4', 'addr', 'show'], check_rc=False)
    out = to_text(out, errors='surrogate_or_replace')
    err = to_text(err, errors='surrogate_or_replace')
    if rc != 0:
        module.fail_json(msg='ip -j -4 addr show failed (rc %d): %s. host_preflight needs iproute2 4.13 or later (JSON output).'
                         % (rc, (err or out).strip()), rc=rc, stdout=out, stderr=err)
    try:
        return interface_addresses(out)
    except ValueError as exc:
        module.fail_json(msg='Cannot parse the output of ip -j -4 addr show: %s' % exc, stdout=out)


def gather_daemons(module):
    systemctl = module.get_bin_path('systemctl', opt_dirs=BIN_DIRS)
    if not systemctl:
        return []
    units = list(TIME_DAEMON_UNITS)
    # rc is non-zero when any unit is inactive; one line per unit comes back either way.
    dummy_rc, out, dummy_err = module.run_command([systemctl, 'is-active'] + units, check_rc=False)
    return time_daemons(parse_is_active(units, to_text(out, errors='surrogate_or_replace')))


RLIMITS = (('memlock', 'RLIMIT_MEMLOCK'), ('stack', 'RLIMIT_STACK'), ('nofile', 'RLIMIT_NOFILE'),
           ('core', 'RLIMIT_CORE'), ('nproc', 'RLIMIT_NPROC'))
CAP_SYS_RESOURCE = 24


LIMITS_ROWS = {'Max locked memory': 'memlock', 'Max stack size': 'stack', 'Max open files': 'nofile',
               'Max core file size': 'core', 'Max processes': 'nproc'}


def parse_limits(text):
    """Hard limits by ulimit name from a /proc/PID/limits text (-1: unlimited); {} when unreadable."""
    out = {}
    for line in (text or '').splitlines():
        cells = re.split(r'\s{2,}', line.strip())
        if len(cells) >= 3 and cells[0] in LIMITS_ROWS:
            hard = cells[2]
            if hard == 'unlimited':
                out[LIMITS_ROWS[cells[0]]] = -1
            elif hard.isdigit():
                out[LIMITS_ROWS[cells[0]]] = int(hard)
    return out


def hard_limits(init_limits_text):
    """The machine's ceiling: PID 1's hard limits (every process descends from it and, without
    CAP_SYS_RESOURCE, can only lower them), else this process's own."""
    out = parse_limits(init_limits_text)
    for name, attr in RLIMITS:
        if name not in out:
            hard = resource.getrlimit(getattr(resource, attr))[1]
            out[name] = -1 if hard == resource.RLIM_INFINITY else hard
    return out


def cap_in_bounding_set(status_text, cap):
    """Whether capability number `cap` is in CapBnd of a /proc/PID/status text; None when absent."""
    for line in (status_text or '').splitlines():
        if line.startswith('CapBnd:'):
            try:
                return bool(int(line.split(':', 1)[1].strip(), 16) >> cap & 1)
            except ValueError:
                return None
    return None


def gather_clock(module):
    clock = read_adjtimex()
    clock['daemons'] = gather_daemons(module)
    clock['container'] = container_kind(read_text(RUN_SYSTEMD_CONTAINER), os.path.exists(DOCKERENV))
    return clock


def main():
    module = AnsibleModule(
        argument_spec=dict(
            addresses=dict(type='list', elements='str', default=[]),
            ports=dict(type='list', elements='int', default=[]),
            gpu_expected=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    check_params(module)

    interfaces = gather_interfaces(module)
    listeners = tcp_listeners(PROC_ROOT, module.params['ports'])
    gpu_pci = nvidia_gpus(SYS_ROOT)
    result = dict(
        changed=False,
        clock=gather_clock(module),
        interfaces=interfaces,
        addresses=dict((address, holder(interfaces, address.strip())) for address in module.params['addresses']),
        # JSON object keys are strings: say so here rather than let the int keys turn into strings on the way.
        listeners=dict((str(port), entries) for port, entries in sorted(listeners.items())),
        gpus=dict(pci=gpu_pci, device_nodes=nvidia_device_nodes(DEV_ROOT)),
        rdma=rdma(SYS_ROOT, DEV_ROOT),
        mem_total_bytes=mem_total_bytes(read_text(os.path.join(PROC_ROOT, 'meminfo'))),
        rlimits=hard_limits(read_text(os.path.join(PROC_ROOT, '1/limits'))),
        cap_sys_resource=cap_in_bounding_set(read_text(os.path.join(PROC_ROOT, 'self/status')), CAP_SYS_RESOURCE),
        ip_local_port_range=' '.join((read_text(os.path.join(PROC_ROOT, 'sys/net/ipv4/ip_local_port_range')) or '').split()) or None,
    )

    if gpu_pci and not module.params['gpu_expected']:
        module.warn('This host has %d NVIDIA GPU(s) (PCI %s) but is not in the inventory group cslr_gpu_hosts, so Ray gives it '
                    '0 GPUs; fix: add it to cslr_gpu_hosts.' % (len(gpu_pci), ', '.join(gpu_pci)))

    module.exit_json(**result)


if __name__ == '__main__':
    main()
