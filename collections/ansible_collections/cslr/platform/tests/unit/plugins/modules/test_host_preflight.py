# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests for cslr.platform.host_preflight and its module_utils: fake /proc, /sys and /dev trees in tmp_path,
run_command and get_bin_path replaced, adjtimex answered by a fake C function."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import struct
from unittest import mock

import pytest

from ansible.module_utils import basic

from ansible_collections.cslr.platform.plugins.module_utils import _host_preflight as hp
from ansible_collections.cslr.platform.plugins.modules import host_preflight
from ansible_collections.cslr.platform.tests.unit.plugins.modules.utils import (
    AnsibleExitJson, AnsibleFailJson, exit_json, fail_json, patch_module_args)


# ---------------------------------------------------------------------------
# Clock

def fake_adjtimex(rc, status, maxerror, esterror, seen=None):
    """A stand-in for libc's adjtimex: fills the struct timex it is given, returns rc."""
    def adjtimex(pointer):
        address = pointer.value if isinstance(pointer, ctypes.c_void_p) else pointer
        if seen is not None:
            seen.append(ctypes.string_at(address, hp.TIMEX_SIZE))
        data = struct.pack(hp.TIMEX_FORMAT, 0, 123, 456, maxerror, esterror, status)
        ctypes.memmove(address, data, len(data))
        return rc
    return adjtimex


def test_timex_layout_matches_lp64_offsets():
    # int modes + 4 padding, then offset 8, freq 16, maxerror 24, esterror 32, status 40.
    buf = bytearray(hp.TIMEX_SIZE)
    struct.pack_into('=q', buf, 24, 8250)
    struct.pack_into('=q', buf, 32, 312)
    struct.pack_into('=i', buf, 40, 0x2001)
    assert hp.parse_timex(bytes(buf)) == (0x2001, 8250, 312)


def test_adjtimex_synchronized():
    seen = []
    clock = hp.read_adjtimex(fake_adjtimex(0, 0x2001, 8250, 312, seen), machine='x86_64')  # STA_PLL | STA_NANO
    assert clock == {'synchronized': True, 'state': 0, 'maxerror_us': 8250, 'esterror_us': 312}
    assert seen == [b'\0' * hp.TIMEX_SIZE]  # modes = 0: a pure read, nothing set


def test_adjtimex_sta_unsync():
    clock = hp.read_adjtimex(fake_adjtimex(0, 0x0040 | 0x0001, 16000000, 16000000), machine='aarch64')
    assert clock['synchronized'] is False and clock['state'] == 0 and clock['maxerror_us'] == 16000000


def test_adjtimex_time_error():
    clock = hp.read_adjtimex(fake_adjtimex(5, 0x0001, 500, 10), machine='x86_64')
    assert clock == {'synchronized': False, 'state': 5, 'maxerror_us': 500, 'esterror_us': 10}


@pytest.mark.parametrize('rc, status, synced', [
    (0, 0, True), (1, 0, True), (4, 0x2000, True), (5, 0, False), (0, 0x40, False), (5, 0x40, False)])
def test_clock_state(rc, status, synced):
    assert hp.clock_state(status, rc, 1, 2) == {'synchronized': synced, 'state': rc, 'maxerror_us': 1, 'esterror_us': 2}


def test_adjtimex_unknown_layout():
    clock = hp.read_adjtimex(fake_adjtimex(0, 0, 0, 0), machine='ppc64le')
    assert clock['synchronized'] is None and 'ppc64le' in clock['error']


def test_adjtimex_failure_is_reported():
    def failing(pointer):
        ctypes.set_errno(errno.EPERM)
        return -1
    clock = hp.read_adjtimex(failing, machine='x86_64')
    assert clock['synchronized'] is None and clock['error'].startswith('adjtimex failed: ')


def test_adjtimex_missing_from_libc():
    with mock.patch.object(hp, '_libc_adjtimex', side_effect=AttributeError('undefined symbol: adjtimex')):
        clock = hp.read_adjtimex(machine='x86_64')
    assert clock['synchronized'] is None and 'adjtimex unavailable' in clock['error']


def test_adjtimex_without_ctypes():
    with mock.patch.object(hp, 'ctypes', None):
        clock = hp.read_adjtimex()
    assert clock['synchronized'] is None and 'ctypes' in clock['error']


@pytest.mark.skipif(not os.path.exists('/proc/self') or os.uname()[4] not in hp.TIMEX_ARCHES, reason='Linux x86_64/aarch64 only')
def test_real_adjtimex_reads():
    clock = hp.read_adjtimex()
    assert set(clock) >= {'synchronized', 'state', 'maxerror_us', 'esterror_us'}
    assert clock['synchronized'] in (True, False) and 0 <= clock['state'] <= 5


# ---------------------------------------------------------------------------
# Time daemons, container

def test_time_daemons_from_is_active_output():
    units = list(hp.TIME_DAEMON_UNITS)
    out = 'active\nactive\ninactive\ninactive\ninactive\ninactive\ninactive\n'
    assert hp.time_daemons(hp.parse_is_active(units, out)) == ['chrony', 'chronyd']
    out = 'inactive\ninactive\nactive\ninactive\nfailed\ninactive\ninactive\n'
    assert hp.time_daemons(hp.parse_is_active(units, out)) == ['systemd-timesyncd']


def test_time_daemons_picks_known_units_in_order():
    assert hp.time_daemons(['ntpd', 'sshd', 'openntpd', 'chrony']) == ['chrony', 'ntpd', 'openntpd']
    assert hp.time_daemons([]) == [] and hp.time_daemons({'ntpsec': 'activating'}) == []


def test_is_active_that_cannot_answer():
    # No systemd (a container): the line count does not match, nothing is trusted.
    assert hp.parse_is_active(list(hp.TIME_DAEMON_UNITS), 'System has not been booted with systemd.\n') == {}
    assert hp.parse_is_active(['chrony'], '') == {}


@pytest.mark.parametrize('text, dockerenv, kind', [
    ('podman\n', False, 'podman'), ('docker', True, 'docker'), (None, True, 'docker'), ('', True, 'docker'),
    ('  \n', False, None), (None, False, None), ('lxc\n', True, 'lxc')])
def test_container_kind(text, dockerenv, kind):
    assert hp.container_kind(text, dockerenv) == kind


# ---------------------------------------------------------------------------
# ip -j -4 addr show

IP_JSON = json.dumps([
    {'ifindex': 1, 'ifname': 'lo', 'flags': ['LOOPBACK', 'UP', 'LOWER_UP'], 'mtu': 65536, 'operstate': 'UNKNOWN',
     'addr_info': [{'family': 'inet', 'local': '127.0.0.1', 'prefixlen': 8, 'scope': 'host', 'label': 'lo',
                    'valid_life_time': 4294967295, 'preferred_life_time': 4294967295}]},
    {'ifindex': 2, 'ifname': 'eth0', 'flags': ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], 'mtu': 1500, 'operstate': 'UP',
     'addr_info': [{'family': 'inet', 'local': '10.213.1.11', 'prefixlen': 24, 'broadcast': '10.213.1.255',
                    'scope': 'global', 'label': 'eth0', 'valid_life_time': 4294967295, 'preferred_life_time': 4294967295}]},
    {'ifindex': 3, 'ifname': 'eth1', 'flags': ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], 'mtu': 9000, 'operstate': 'UP',
     'addr_info': [{'family': 'inet', 'local': '10.213.2.11', 'prefixlen': 24, 'broadcast': '10.213.2.255',
                    'scope': 'global', 'label': 'eth1', 'valid_life_time': 4294967295, 'preferred_life_time': 4294967295}]},
    {},  # ip -4 prints an empty object for an interface without IPv4 address
])

INTERFACES = {
    'lo': [{'address': '127.0.0.1', 'prefixlen': 8, 'network': '127.0.0.0/8'}],
    'eth0': [{'address': '10.213.1.11', 'prefixlen': 24, 'network': '10.213.1.0/24'}],
    'eth1': [{'address': '10.213.2.11', 'prefixlen': 24, 'network': '10.213.2.0/24'}],
}


def test_interface_addresses():
    assert hp.interface_addresses(IP_JSON) == INTERFACES


def test_interface_addresses_secondary_and_empty():
    text = json.dumps([
        {'ifname': 'bond0', 'addr_info': [
            {'family': 'inet', 'local': '192.168.7.20', 'prefixlen': 22},
            {'family': 'inet', 'local': '192.168.7.99', 'prefixlen': 32, 'label': 'bond0:vip'}]},
        {'ifname': 'ib0', 'addr_info': []},
    ])
    assert hp.interface_addresses(text) == {
        'bond0': [{'address': '192.168.7.20', 'prefixlen': 22, 'network': '192.168.4.0/22'},
                  {'address': '192.168.7.99', 'prefixlen': 32, 'network': '192.168.7.99/32'}],
        'ib0': []}
    assert hp.interface_addresses('[]') == {} and hp.interface_addresses('') == {}


@pytest.mark.parametrize('text', ['Option "-j" is unknown, try "ip -help".', '{"ifname": "eth0"}'])
def test_interface_addresses_rejects_other_output(text):
    with pytest.raises(ValueError):
        hp.interface_addresses(text)


def test_holder():
    assert hp.holder(INTERFACES, '10.213.1.11') == 'eth0'
    assert hp.holder(INTERFACES, '10.213.2.11') == 'eth1'
    assert hp.holder(INTERFACES, '127.0.0.1') == 'lo'
    assert hp.holder(INTERFACES, '10.213.3.11') is None
    assert hp.holder(INTERFACES, 'not-an-ip') is None
    assert hp.holder({}, '10.213.1.11') is None


# ---------------------------------------------------------------------------
# /proc/net/tcp, tcp6 and socket owners

TCP_HEADER = ('  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n')
TCP = TCP_HEADER + (
    # 0.0.0.0:29500 LISTEN, inode 424242 (pid 1234)
    '   0: 00000000:733C 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 424242 1 0000000000000000 100 0 0 10 0\n'
    # 10.213.1.11:29500 -> 10.213.1.12:54321 ESTABLISHED: not a listener
    '   1: 0B01D50A:733C 0C01D50A:D431 01 00000000:00000000 02:000AFC4E 00000000  1000        0 424243 2 0000000000000000 20 4 30 10 -1\n'
    # 0.0.0.0:22 LISTEN: a port nobody asked about
    '   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0000000000000000 100 0 0 10 0\n'
    # 127.0.0.1:6379 LISTEN, socket of nobody we can see
    '   3: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 2222 1 0000000000000000 100 0 0 10 0\n'
)
TCP6 = TCP_HEADER + (
    # [::]:29400 LISTEN, inode 515151 (no process holds it in the fake tree)
    '   0: 00000000000000000000000000000000:72D8 00000000000000000000000000000000:0000 0A 00000000:00000000 '
    '00:00000000 00000000  1000        0 515151 1 0000000000000000 100 0 0 10 0\n'
    # [::1]:6379 LISTEN
    '   1: 00000000000000000000000001000000:18EB 00000000000000000000000000000000:0000 0A 00000000:00000000 '
    '00:00000000 00000000   999        0 3333 1 0000000000000000 100 0 0 10 0\n'
)


def make_proc(tmp_path):
    proc = tmp_path / 'proc'
    (proc / 'net').mkdir(parents=True)
    (proc / 'net' / 'tcp').write_text(TCP)
    (proc / 'net' / 'tcp6').write_text(TCP6)
    (proc / 'meminfo').write_text('MemTotal:       16318412 kB\nMemFree:         1234567 kB\n')
    (proc / 'sys' / 'net' / 'ipv4').mkdir(parents=True, exist_ok=True)
    (proc / 'sys' / 'net' / 'ipv4' / 'ip_local_port_range').write_text('32768\t60999\n')
    (proc / 'self').mkdir(exist_ok=True)
    (proc / 'self' / 'status').write_text('Name:\tpython3\nCapEff:\t0000003ffeffffff\nCapBnd:\t0000003ffeffffff\n')
    pid = proc / '1234'
    (pid / 'fd').mkdir(parents=True)
    os.symlink('/dev/null', str(pid / 'fd' / '0'))
    os.symlink('socket:[424242]', str(pid / 'fd' / '3'))
    os.symlink('socket:[424243]', str(pid / 'fd' / '4'))
    os.symlink('pipe:[777]', str(pid / 'fd' / '5'))
    (pid / 'comm').write_text('python3\n')
    (pid / 'cmdline').write_bytes(b'python3\0-m\0http.server\x0029500\0')
    (proc / '1' / 'fd').mkdir(parents=True)  # an fd directory we are not allowed to read (see locked_listdir)
    (proc / '4321').mkdir()  # a process that vanished: no fd directory any more
    (proc / 'self').mkdir(exist_ok=True)
    (proc / 'sys').mkdir(exist_ok=True)
    return str(proc)


@contextlib.contextmanager
def locked_listdir(proc):
    """os.listdir raising EACCES for <proc>/1/fd, like an unprivileged user reading init's fds."""
    real = os.listdir
    locked = os.path.join(proc, '1', 'fd')

    def listdir(path='.'):
        if os.path.normpath(str(path)) == locked:
            raise OSError(errno.EACCES, 'Permission denied', path)
        return real(path)
    with mock.patch.object(os, 'listdir', side_effect=listdir):
        yield


def test_parse_proc_net_tcp_addresses():
    assert hp.parse_proc_net_tcp(TCP) == [('0.0.0.0', 29500, 424242), ('0.0.0.0', 22, 1111), ('127.0.0.1', 6379, 2222)]
    assert hp.parse_proc_net_tcp(TCP6, ipv6=True) == [('::', 29400, 515151), ('::1', 6379, 3333)]
    assert hp.parse_proc_net_tcp('') == [] and hp.parse_proc_net_tcp(None) == []


def test_ipv6_words_are_little_endian():
    # fe80::1:2 -> words 000080FE 00000000 00000000 02000100
    line = ('   0: 000080FE000000000000000002000100:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 '
            '00:00000000 00000000     0        0 42 1 0000000000000000 100 0 0 10 0')
    assert hp.parse_proc_net_tcp(line, ipv6=True) == [('fe80::1:2', 8080, 42)]
    # ::ffff:10.213.1.11 (an IPv4-mapped listener)
    line = line.replace('000080FE000000000000000002000100', '0000000000000000FFFF00000B01D50A')
    assert hp.parse_proc_net_tcp(line, ipv6=True) == [('::ffff:10.213.1.11', 8080, 42)]


def test_tcp_listeners(tmp_path):
    proc = make_proc(tmp_path)
    with locked_listdir(proc):
        listeners = hp.tcp_listeners(proc, [29500, 29400, 8265])
    assert listeners == {
        29500: [{'pid': 1234, 'comm': 'python3', 'cmdline': 'python3 -m http.server 29500', 'address': '0.0.0.0'}],
        29400: [{'pid': None, 'comm': None, 'cmdline': None, 'address': '::'}],
    }


def test_tcp_listeners_both_families_and_no_ports(tmp_path):
    proc = make_proc(tmp_path)
    assert hp.tcp_listeners(proc, [6379]) == {6379: [
        {'pid': None, 'comm': None, 'cmdline': None, 'address': '127.0.0.1'},
        {'pid': None, 'comm': None, 'cmdline': None, 'address': '::1'}]}
    assert hp.tcp_listeners(proc, []) == {}


def test_tcp_listeners_forking_server_and_long_cmdline(tmp_path):
    proc = make_proc(tmp_path)
    for pid in ('2000', '2001'):  # parent and worker share the listening socket of port 22
        (tmp_path / 'proc' / pid / 'fd').mkdir(parents=True)
        os.symlink('socket:[1111]', str(tmp_path / 'proc' / pid / 'fd' / '3'))
        (tmp_path / 'proc' / pid / 'cmdline').write_bytes(b'sshd\0' + b'x' * 400 + b'\0')
    listeners = hp.tcp_listeners(proc, [22])
    assert [e['pid'] for e in listeners[22]] == [2000]
    assert listeners[22][0]['comm'] is None  # no comm file
    assert len(listeners[22][0]['cmdline']) == hp.CMDLINE_MAX and listeners[22][0]['cmdline'].startswith('sshd xxx')


def test_tcp_listeners_without_proc_net(tmp_path):
    assert hp.tcp_listeners(str(tmp_path), [22]) == {}


# ---------------------------------------------------------------------------
# PCI, device nodes, RDMA, memory

def make_sys_dev(tmp_path, gpus=True):
    sys_root = tmp_path / 'sys'
    dev_root = tmp_path / 'dev'
    devices = sys_root / 'bus' / 'pci' / 'devices'
    pci = [
        ('0000:00:02.0', '0x8086', '0x030000'),  # Intel VGA: not NVIDIA
        ('0000:00:1f.3', '0x8086', '0x040300'),  # Intel audio
        ('0000:3b:00.0', '0x15b3', '0x020700'),  # Mellanox ConnectX (InfiniBand controller)
    ]
    if gpus:
        pci += [
            ('0000:07:00.0', '0x10de', '0x030200'),  # NVIDIA 3D controller
            ('0000:07:00.1', '0x10de', '0x040300'),  # NVIDIA HDMI audio: ignored
        ]
    for address, vendor, pci_class in pci:
        (devices / address).mkdir(parents=True)
        (devices / address / 'vendor').write_text(vendor + '\n')
        (devices / address / 'class').write_text(pci_class + '\n')
    (devices / '0000:00:00.0').mkdir()  # no vendor file: skipped
    for hca in ('mlx5_1', 'mlx5_0'):
        (sys_root / 'class' / 'infiniband' / hca).mkdir(parents=True)
    (dev_root / 'infiniband').mkdir(parents=True)
    for name in ('uverbs1', 'uverbs0', 'rdma_cm', 'umad0'):
        (dev_root / 'infiniband' / name).write_text('')
    if gpus:
        for name in ('nvidia0', 'nvidia10', 'nvidia2', 'nvidiactl', 'nvidia-uvm', 'nvidia-caps'):
            (dev_root / name).write_text('')
    return str(sys_root), str(dev_root)


def test_nvidia_gpus(tmp_path):
    sys_root, dummy = make_sys_dev(tmp_path)
    assert hp.nvidia_gpus(sys_root) == ['0000:07:00.0']
    assert hp.nvidia_gpus(str(tmp_path / 'missing')) == []


def test_nvidia_vga_counts(tmp_path):
    sys_root, dummy = make_sys_dev(tmp_path, gpus=False)
    device = tmp_path / 'sys' / 'bus' / 'pci' / 'devices' / '0000:65:00.0'
    device.mkdir()
    (device / 'vendor').write_text('0x10DE\n')
    (device / 'class').write_text('0x030000\n')
    assert hp.nvidia_gpus(sys_root) == ['0000:65:00.0']


def test_nvidia_device_nodes(tmp_path):
    dummy, dev_root = make_sys_dev(tmp_path)
    assert hp.nvidia_device_nodes(dev_root) == ['nvidia0', 'nvidia2', 'nvidia10']
    assert hp.nvidia_device_nodes(str(tmp_path / 'missing')) == []


def test_rdma(tmp_path):
    sys_root, dev_root = make_sys_dev(tmp_path)
    assert hp.rdma(sys_root, dev_root) == {'hcas': ['mlx5_0', 'mlx5_1'], 'devices': True, 'uverbs': ['uverbs0', 'uverbs1']}
    empty = str(tmp_path / 'empty')
    assert hp.rdma(empty, empty) == {'hcas': [], 'devices': False, 'uverbs': []}


def test_mem_total_bytes():
    assert hp.mem_total_bytes('MemTotal:       16318412 kB\nMemFree:         1234567 kB\n') == 16318412 * 1024
    assert hp.mem_total_bytes('MemFree: 1 kB\n') is None and hp.mem_total_bytes(None) is None


# ---------------------------------------------------------------------------
# The module, end to end

IP = '/usr/sbin/ip'
SYSTEMCTL = '/usr/bin/systemctl'
IS_ACTIVE = 'active\nactive\ninactive\ninactive\ninactive\ninactive\ninactive\n'
SYNCED = {'synchronized': True, 'state': 0, 'maxerror_us': 8250, 'esterror_us': 312}


class Commands(object):
    """run_command stand-in: answers ip and systemctl, records every call."""

    def __init__(self, ip_answer=(0, IP_JSON, ''), is_active=(3, IS_ACTIVE, '')):
        self.answers = {IP: ip_answer, SYSTEMCTL: is_active}
        self.calls = []

    def __call__(self, module, args, check_rc=False, **kwargs):  # bound like the real method
        assert isinstance(args, list), 'commands must be argument lists, never shell strings'
        self.calls.append(list(args))
        if args == [IP, '-j', '-4', 'addr', 'show']:
            return self.answers[IP]
        if args == [SYSTEMCTL, 'is-active'] + list(hp.TIME_DAEMON_UNITS):
            return self.answers[SYSTEMCTL]
        raise AssertionError('unexpected command %r' % (args,))


def run_module(tmp_path, args=None, bins=None, commands=None, clock=None, check_mode=False, gpus=True,
               container_text=None, dockerenv=False):
    """Run main() against fake trees; returns (result, failed, commands, warnings)."""
    proc = make_proc(tmp_path)
    sys_root, dev_root = make_sys_dev(tmp_path, gpus=gpus)
    run = tmp_path / 'run-systemd-container'
    if container_text is not None:
        run.write_text(container_text)
    dockerenv_path = tmp_path / 'dockerenv'
    if dockerenv:
        dockerenv_path.write_text('')
    bins = {'ip': IP, 'systemctl': SYSTEMCTL} if bins is None else bins
    commands = commands or Commands()
    warnings = []
    module_args = dict(args or {})
    if check_mode:
        module_args['_ansible_check_mode'] = True

    def run_command(module, cmd, **kwargs):
        return commands(module, cmd, **kwargs)

    def get_bin_path(module, name, required=False, opt_dirs=None):
        return bins.get(name)

    def warn(module, warning):
        warnings.append(warning)

    with contextlib.ExitStack() as stack:
        stack.enter_context(patch_module_args(module_args))
        stack.enter_context(mock.patch.multiple(basic.AnsibleModule, exit_json=exit_json, fail_json=fail_json))
        stack.enter_context(mock.patch.object(basic.AnsibleModule, 'run_command', new=run_command))
        stack.enter_context(mock.patch.object(basic.AnsibleModule, 'get_bin_path', new=get_bin_path))
        stack.enter_context(mock.patch.object(basic.AnsibleModule, 'warn', new=warn))
        stack.enter_context(mock.patch.multiple(
            host_preflight, PROC_ROOT=proc, SYS_ROOT=sys_root, DEV_ROOT=dev_root,
            RUN_SYSTEMD_CONTAINER=str(run), DOCKERENV=str(dockerenv_path)))
        stack.enter_context(mock.patch.object(host_preflight, 'read_adjtimex', return_value=dict(clock or SYNCED)))
        stack.enter_context(locked_listdir(proc))
        try:
            host_preflight.main()
        except AnsibleExitJson as exc:
            return exc.args[0], False, commands, warnings
        except AnsibleFailJson as exc:
            return exc.args[0], True, commands, warnings
    raise AssertionError('module neither exited nor failed')


def test_module_end_to_end(tmp_path):
    result, failed, commands, warnings = run_module(tmp_path, args={
        'addresses': ['10.213.1.11', '10.213.2.11', '10.213.9.9'], 'ports': [29500, 29400, 8265], 'gpu_expected': True})
    assert not failed and result['changed'] is False and warnings == []
    assert result['clock'] == dict(SYNCED, daemons=['chrony', 'chronyd'], container=None)
    assert result['interfaces'] == INTERFACES
    assert result['addresses'] == {'10.213.1.11': 'eth0', '10.213.2.11': 'eth1', '10.213.9.9': None}
    assert result['listeners'] == {
        '29500': [{'pid': 1234, 'comm': 'python3', 'cmdline': 'python3 -m http.server 29500', 'address': '0.0.0.0'}],
        '29400': [{'pid': None, 'comm': None, 'cmdline': None, 'address': '::'}],
    }
    assert result['gpus'] == {'pci': ['0000:07:00.0'], 'device_nodes': ['nvidia0', 'nvidia2', 'nvidia10']}
    assert result['rdma'] == {'hcas': ['mlx5_0', 'mlx5_1'], 'devices': True, 'uverbs': ['uverbs0', 'uverbs1']}
    assert result['mem_total_bytes'] == 16318412 * 1024
    assert commands.calls == [[IP, '-j', '-4', 'addr', 'show'], [SYSTEMCTL, 'is-active'] + list(hp.TIME_DAEMON_UNITS)]
    assert result['ip_local_port_range'] == '32768 60999'
    assert set(result['rlimits']) == {'memlock', 'stack', 'nofile', 'core', 'nproc'}
    assert all(isinstance(v, int) and v >= -1 for v in result['rlimits'].values())
    assert result['cap_sys_resource'] is False  # CapBnd of the fake /proc/self/status lacks bit 24
    assert set(result) == {'changed', 'clock', 'interfaces', 'addresses', 'listeners', 'gpus', 'rdma', 'mem_total_bytes',
                           'ip_local_port_range', 'rlimits', 'cap_sys_resource'}
    json.dumps(result)  # what the module returns must be JSON as is


def test_module_warns_for_unexpected_gpus(tmp_path):
    result, failed, dummy, warnings = run_module(tmp_path)
    assert not failed and result['changed'] is False
    assert warnings == [
        'This host has 1 NVIDIA GPU(s) (PCI 0000:07:00.0) but is not in the inventory group cslr_gpu_hosts, so Ray gives '
        'it 0 GPUs; fix: add it to cslr_gpu_hosts.']
    assert result['addresses'] == {} and result['listeners'] == {}


def test_module_no_warning_without_gpus(tmp_path):
    result, failed, dummy, warnings = run_module(tmp_path, gpus=False)
    assert not failed and warnings == []
    assert result['gpus'] == {'pci': [], 'device_nodes': []}


def test_module_check_mode_is_the_same(tmp_path):
    args = {'addresses': ['10.213.1.11'], 'ports': [29500]}
    normal = run_module(tmp_path / 'a', args=args)[0]
    checked = run_module(tmp_path / 'b', args=args, check_mode=True)[0]
    assert checked['changed'] is False
    for result in (normal, checked):
        result['listeners']['29500'][0].pop('cmdline')
    assert checked == normal


def test_module_container_and_unsynced_clock(tmp_path):
    clock = {'synchronized': False, 'state': 5, 'maxerror_us': 16000000, 'esterror_us': 16000000}
    commands = Commands(is_active=(1, 'System has not been booted with systemd as init system (PID 1). Can\'t operate.\n', ''))
    result = run_module(tmp_path, clock=clock, commands=commands, container_text='docker\n', gpus=False)[0]
    assert result['clock'] == dict(clock, daemons=[], container='docker')


def test_module_dockerenv(tmp_path):
    result = run_module(tmp_path, dockerenv=True, gpus=False)[0]
    assert result['clock']['container'] == 'docker'


def test_module_without_systemctl(tmp_path):
    result, failed, commands, dummy = run_module(tmp_path, bins={'ip': IP}, gpus=False)
    assert not failed and result['clock']['daemons'] == []
    assert commands.calls == [[IP, '-j', '-4', 'addr', 'show']]


def test_module_adjtimex_error_is_returned(tmp_path):
    clock = {'synchronized': None, 'state': None, 'maxerror_us': None, 'esterror_us': None, 'error': 'adjtimex unavailable: x'}
    result, failed, dummy, dummy2 = run_module(tmp_path, clock=clock, gpus=False)
    assert not failed and result['clock']['synchronized'] is None and result['clock']['error'] == 'adjtimex unavailable: x'


def test_module_fails_without_ip(tmp_path):
    result, failed, commands, dummy = run_module(tmp_path, bins={'systemctl': SYSTEMCTL})
    assert failed and 'iproute2' in result['msg'] and commands.calls == []


def test_module_fails_when_ip_has_no_json(tmp_path):
    commands = Commands(ip_answer=(255, '', 'Option "-j" is unknown, try "ip -help".\n'))
    result, failed, dummy, dummy2 = run_module(tmp_path, commands=commands)
    assert failed and 'Option "-j" is unknown' in result['msg'] and 'iproute2 4.13' in result['msg']


@pytest.mark.parametrize('args, text', [
    ({'addresses': ['10.213.1.11', 'eth0']}, "'eth0'"),
    ({'addresses': ['fe80::1']}, "'fe80::1'"),
    ({'ports': [22, 70000]}, '70000'),
    ({'ports': [0]}, ': 0'),
])
def test_module_rejects_bad_params(tmp_path, args, text):
    result, failed, commands, dummy = run_module(tmp_path, args=args)
    assert failed and text in result['msg'] and commands.calls == []


def test_cap_in_bounding_set():
    assert host_preflight.cap_in_bounding_set('CapBnd:\t000001ffffffffff\n', 24) is True
    assert host_preflight.cap_in_bounding_set('CapBnd:\t0000003ffeffffff\n', 24) is False
    assert host_preflight.cap_in_bounding_set('Name: x\n', 24) is None


LIMITS = """Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max stack size            8388608              unlimited            bytes
Max core file size        0                    unlimited            bytes
Max processes             96365                96365                processes
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
"""


def test_parse_limits():
    assert host_preflight.parse_limits(LIMITS) == {'stack': -1, 'core': -1, 'nproc': 96365, 'nofile': 524288,
                                                   'memlock': 8388608}
    assert host_preflight.parse_limits(None) == {}


def test_hard_limits_prefers_pid_1():
    assert host_preflight.hard_limits(LIMITS)['memlock'] == 8388608
    assert set(host_preflight.hard_limits('')) == {'memlock', 'stack', 'nofile', 'core', 'nproc'}
