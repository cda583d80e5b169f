# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the cslr.platform collection. Not a public API: names and return
# shapes may change in any release without notice. Import it only from this
# collection's own plugins (currently cslr.platform.host_preflight).
#
# Read-only host probes for the preflight checks: clock discipline (adjtimex),
# NTP clients, container detection, IPv4 addresses (ip -j), TCP listeners
# (/proc/net/tcp*), NVIDIA GPUs on the PCI bus, RDMA devices and memory.
# Every function takes its inputs (file contents, directory roots) explicitly,
# so each one is unit testable with a fake tree and without root. Standard
# library only; no 3.10+ syntax (targets may run Python 3.9).

from __future__ import annotations

import ipaddress
import json
import os
import platform
import re
import struct

try:
    import ctypes
    import ctypes.util
except ImportError:  # a Python built without ctypes: read_adjtimex() reports it
    ctypes = None

# ---------------------------------------------------------------------------
# Clock: adjtimex(2) with modes=0 reads the kernel's clock discipline state.

# adjtimex() return values (clock state); TIME_ERROR means "clock not synchronised".
TIME_OK = 0
TIME_ERROR = 5
# struct timex .status bit: the clock is not synchronised (set by the kernel
# when no NTP daemon disciplines it, cleared by chronyd/ntpd/timesyncd).
STA_UNSYNC = 0x0040

# struct timex on LP64 Linux (x86_64, aarch64):
#   int modes (4 bytes + 4 padding), long offset, long freq, long maxerror,
#   long esterror, int status, ... (the kernel struct is ~208 bytes).
TIMEX_FORMAT = '=i4xqqqqi'
TIMEX_SIZE = 512
TIMEX_ARCHES = ('x86_64', 'amd64', 'aarch64', 'arm64')


def clock_state(timex_status, adjtimex_rc, maxerror_us, esterror_us):
    """The clock dict from adjtimex()'s return value and struct timex fields.

    Synchronised means the kernel does not report TIME_ERROR and STA_UNSYNC is clear.
    """
    synchronized = adjtimex_rc != TIME_ERROR and not (timex_status & STA_UNSYNC)
    return {
        'synchronized': bool(synchronized),
        'state': int(adjtimex_rc),
        'maxerror_us': int(maxerror_us),
        'esterror_us': int(esterror_us),
    }


def parse_timex(buf):
    """(status, maxerror_us, esterror_us) from a raw struct timex buffer (LP64 layout)."""
    dummy_modes, dummy_offset, dummy_freq, maxerror, esterror, status = struct.unpack_from(TIMEX_FORMAT, bytes(buf), 0)
    return status, maxerror, esterror


def _clock_error(message):
    return {'synchronized': None, 'state': None, 'maxerror_us': None, 'esterror_us': None, 'error': message}


def _libc_adjtimex():
    name = ctypes.util.find_library('c')
    libc = ctypes.CDLL(name, use_errno=True) if name else ctypes.CDLL(None, use_errno=True)
    func = libc.adjtimex
    func.argtypes = [ctypes.c_void_p]
    func.restype = ctypes.c_int
    return func


def read_adjtimex(adjtimex=None, machine=None):
    """Read the kernel clock state with adjtimex(2), modes=0 (read only; nothing is ever set).

    adjtimex: the C function to call (a callable taking a pointer to the buffer); libc's by default.
    machine: platform.machine() by default. Only LP64 Linux layouts (x86_64, aarch64) are decoded.
    Returns clock_state()'s dict, or synchronized None with an 'error' string when it cannot be read.
    """
    if ctypes is None:
        return _clock_error('adjtimex unavailable: this Python has no ctypes')
    machine = machine if machine is not None else platform.machine()
    if machine.lower() not in TIMEX_ARCHES or struct.calcsize('l') != 8:
        return _clock_error('adjtimex: struct timex layout of %s is not known' % (machine or 'this platform'))
    try:
        func = adjtimex if adjtimex is not None else _libc_adjtimex()
    except (OSError, AttributeError, TypeError) as exc:
        return _clock_error('adjtimex unavailable: %s' % exc)
    buf = ctypes.create_string_buffer(TIMEX_SIZE)  # zero-filled: modes = 0, a pure read
    try:
        ctypes.set_errno(0)
        rc = func(ctypes.cast(buf, ctypes.c_void_p))
    except (OSError, TypeError, ctypes.ArgumentError) as exc:
        return _clock_error('adjtimex failed: %s' % exc)
    if rc < 0:
        err = ctypes.get_errno()
        return _clock_error('adjtimex failed: %s' % (os.strerror(err) if err else 'rc %d' % rc))
    status, maxerror, esterror = parse_timex(buf.raw)
    return clock_state(status, rc, maxerror, esterror)


# ---------------------------------------------------------------------------
# NTP clients.

TIME_DAEMON_UNITS = ('chrony', 'chronyd', 'systemd-timesyncd', 'ntp', 'ntpd', 'ntpsec', 'openntpd')


def parse_is_active(units, stdout):
    """{unit: state} from `systemctl is-active u1 u2 ...` (one line per unit, in order).

    A line count that does not match the units (systemctl could not answer) gives {}.
    """
    lines = [line.strip() for line in (stdout or '').splitlines() if line.strip()]
    if len(lines) != len(units):
        return {}
    return dict(zip(units, lines))


def time_daemons(active_units):
    """The known NTP units that are active, in TIME_DAEMON_UNITS order.

    active_units: a mapping {unit: state} (parse_is_active()) or an iterable of active unit names.
    """
    if isinstance(active_units, dict):
        active = set(unit for unit, state in active_units.items() if state == 'active')
    else:
        active = set(active_units or ())
    return [unit for unit in TIME_DAEMON_UNITS if unit in active]


# ---------------------------------------------------------------------------
# Container detection.

def container_kind(run_systemd_container_text, dockerenv_exists):
    """The container manager: /run/systemd/container's content, 'docker' for /.dockerenv, else None."""
    text = (run_systemd_container_text or '').strip()
    if text:
        return text
    if dockerenv_exists:
        return 'docker'
    return None


# ---------------------------------------------------------------------------
# IPv4 addresses.

def interface_addresses(ip_json_text):
    """{ifname: [{address, prefixlen, network}]} from `ip -j -4 addr show` output.

    Interfaces without an IPv4 address have an empty list; the empty objects ip prints for
    interfaces filtered out by -4 are skipped. Raises ValueError for output that is not ip's JSON.
    """
    try:
        data = json.loads(ip_json_text or '[]')
    except ValueError as exc:
        raise ValueError('ip -j -4 addr show: not JSON: %s' % exc)
    if not isinstance(data, list):
        raise ValueError('ip -j -4 addr show: expected a JSON list, got %s' % type(data).__name__)
    result = {}
    for link in data:
        if not isinstance(link, dict) or not link.get('ifname'):
            continue
        addresses = result.setdefault(link['ifname'], [])
        for info in link.get('addr_info') or []:
            if not isinstance(info, dict) or info.get('family', 'inet') != 'inet' or not info.get('local'):
                continue
            prefixlen = int(info.get('prefixlen', 32))
            iface = ipaddress.ip_interface(u'%s/%d' % (info['local'], prefixlen))
            addresses.append({
                'address': str(iface.ip),
                'prefixlen': prefixlen,
                'network': str(iface.network),
            })
    return result


def holder(addresses_by_iface, address):
    """The name of the interface holding address (first in name order), or None."""
    try:
        wanted = ipaddress.ip_address(u'%s' % address)
    except ValueError:
        return None
    for ifname in sorted(addresses_by_iface):
        for entry in addresses_by_iface[ifname]:
            try:
                if ipaddress.ip_address(u'%s' % entry['address']) == wanted:
                    return ifname
            except ValueError:
                continue
    return None


# ---------------------------------------------------------------------------
# TCP listeners.

TCP_LISTEN = '0A'
CMDLINE_MAX = 300
SOCKET_LINK = re.compile(r'^socket:\[(\d+)\]$')


def _hex_ipv4(text):
    return str(ipaddress.IPv4Address(bytes(bytearray(reversed(bytearray.fromhex(text))))))


def _hex_ipv6(text):
    raw = bytearray.fromhex(text)
    ordered = bytearray()
    for word in range(4):
        ordered.extend(reversed(raw[word * 4:word * 4 + 4]))
    address = ipaddress.IPv6Address(bytes(ordered))
    if address.ipv4_mapped is not None:  # one spelling on every Python version
        return '::ffff:%s' % address.ipv4_mapped
    return str(address)


def parse_proc_net_tcp(text, ipv6=False):
    """[(address, port, inode)] of the LISTEN sockets in a /proc/net/tcp or tcp6 text."""
    listening = []
    for line in (text or '').splitlines():
        fields = line.split()
        if len(fields) < 10 or not fields[0].endswith(':') or fields[3].upper() != TCP_LISTEN:
            continue
        try:
            hex_addr, hex_port = fields[1].split(':')
            address = _hex_ipv6(hex_addr) if ipv6 else _hex_ipv4(hex_addr)
            listening.append((address, int(hex_port, 16), int(fields[9])))
        except ValueError:
            continue
    return listening


def _read_text(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read().decode('utf-8', 'replace')
    except (IOError, OSError):
        return None


def socket_owners(proc_root, inodes):
    """{inode: [pid, ...]} for the wanted socket inodes, from the <proc_root>/<pid>/fd symlinks.

    Processes that vanish or whose fds may not be read (another user's, without root) are skipped.
    """
    wanted = set(inodes)
    owners = {}
    if not wanted:
        return owners
    try:
        entries = os.listdir(proc_root)
    except (IOError, OSError):
        return owners
    for entry in entries:
        if not entry.isdigit():
            continue
        fd_dir = os.path.join(proc_root, entry, 'fd')
        try:
            fds = os.listdir(fd_dir)
        except (IOError, OSError):
            continue
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except (IOError, OSError):
                continue
            match = SOCKET_LINK.match(target)
            if match and int(match.group(1)) in wanted:
                owners.setdefault(int(match.group(1)), set()).add(int(entry))
    return dict((inode, sorted(pids)) for inode, pids in owners.items())


def process_info(proc_root, pid):
    """(comm, cmdline) of a process, None for what cannot be read."""
    comm = _read_text(os.path.join(proc_root, str(pid), 'comm'))
    cmdline = _read_text(os.path.join(proc_root, str(pid), 'cmdline'))
    if comm is not None:
        comm = comm.strip()
    if cmdline is not None:
        cmdline = ' '.join(part for part in cmdline.split('\0') if part)[:CMDLINE_MAX]
    return comm, cmdline


def tcp_listeners(proc_root, ports):
    """{port: [{pid, comm, cmdline, address}]} of the TCP listeners on the given ports.

    Reads <proc_root>/net/tcp and tcp6; only ports with at least one listener are keys. A socket
    held by several processes (a forking server) is reported once, with the lowest pid (the parent,
    as a rule). pid, comm and cmdline are None when no process could be found for the socket.
    """
    wanted = set(int(port) for port in ports or ())
    sockets = []
    if not wanted:
        return {}
    for name, ipv6 in (('tcp', False), ('tcp6', True)):
        text = _read_text(os.path.join(proc_root, 'net', name))
        for address, port, inode in parse_proc_net_tcp(text, ipv6=ipv6):
            if port in wanted:
                sockets.append((port, address, inode))
    owners = socket_owners(proc_root, [inode for dummy, dummy2, inode in sockets if inode])
    result = {}
    for port, address, inode in sockets:
        pids = owners.get(inode) if inode else None
        pid = pids[0] if pids else None
        comm, cmdline = process_info(proc_root, pid) if pid is not None else (None, None)
        entry = {'pid': pid, 'comm': comm, 'cmdline': cmdline, 'address': address}
        entries = result.setdefault(port, [])
        if entry not in entries:  # SO_REUSEPORT: several sockets of one process on one address
            entries.append(entry)
    for entries in result.values():
        entries.sort(key=lambda e: (e['address'], e['pid'] if e['pid'] is not None else -1))
    return result


# ---------------------------------------------------------------------------
# NVIDIA GPUs, RDMA, memory.

NVIDIA_VENDOR = 0x10de
GPU_CLASSES = ('0x0300', '0x0302')  # display controller: VGA compatible, 3D controller
NVIDIA_NODE = re.compile(r'^nvidia([0-9]+)$')
UVERBS_NODE = re.compile(r'^uverbs([0-9]*)$')


def _listdir(path):
    try:
        return os.listdir(path)
    except (IOError, OSError):
        return []


def _numbered(names, pattern):
    """The names matching pattern, in the order of their number (group 1), so nvidia10 follows nvidia9."""
    matched = [(pattern.match(name), name) for name in names]
    keyed = [(int(match.group(1) or -1), name) for match, name in matched if match]
    return [name for dummy, name in sorted(keyed)]


def nvidia_gpus(sys_root):
    """Sorted PCI addresses of the NVIDIA display/3D controllers under <sys_root>/bus/pci/devices."""
    devices = os.path.join(sys_root, 'bus', 'pci', 'devices')
    found = []
    for address in _listdir(devices):
        vendor = (_read_text(os.path.join(devices, address, 'vendor')) or '').strip().lower()
        pci_class = (_read_text(os.path.join(devices, address, 'class')) or '').strip().lower()
        try:
            if int(vendor, 16) != NVIDIA_VENDOR:
                continue
        except ValueError:
            continue
        if pci_class.startswith(GPU_CLASSES):
            found.append(address)
    return sorted(found)


def nvidia_device_nodes(dev_root):
    """The nvidiaN device nodes under dev_root (nvidia0, nvidia1, ...), in number order."""
    return _numbered(_listdir(dev_root), NVIDIA_NODE)


def rdma(sys_root, dev_root):
    """RDMA state: HCAs in <sys_root>/class/infiniband, whether <dev_root>/infiniband exists, its uverbs nodes."""
    infiniband_dev = os.path.join(dev_root, 'infiniband')
    return {
        'hcas': sorted(_listdir(os.path.join(sys_root, 'class', 'infiniband'))),
        'devices': os.path.isdir(infiniband_dev),
        'uverbs': _numbered(_listdir(infiniband_dev), UVERBS_NODE),
    }


def mem_total_bytes(meminfo_text):
    """MemTotal of a /proc/meminfo text in bytes, or None when absent."""
    for line in (meminfo_text or '').splitlines():
        match = re.match(r'^MemTotal:\s+(\d+)\s*(kB)?\s*$', line.strip())
        if match:
            return int(match.group(1)) * (1024 if match.group(2) else 1)
    return None


__all__ = [
    'CMDLINE_MAX', 'STA_UNSYNC', 'TIME_DAEMON_UNITS', 'TIME_ERROR', 'TIME_OK',
    'clock_state', 'container_kind', 'holder', 'interface_addresses', 'mem_total_bytes', 'nvidia_device_nodes',
    'nvidia_gpus', 'parse_is_active', 'parse_proc_net_tcp', 'parse_timex', 'process_info', 'rdma', 'read_adjtimex',
    'socket_owners', 'tcp_listeners', 'time_daemons',
]
