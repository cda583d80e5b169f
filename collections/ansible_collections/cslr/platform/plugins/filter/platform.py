# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters the roles share: missed_hosts (hosts of a delegated loop that were down or failed),
setting (a platform variable as another host has it, else its default), dpkg_missing (the
packages of a list that dpkg does not report as installed), interface_of (the interface that holds
an address), size_bytes (500g -> bytes), training_host (whether a host is prepared for training),
sources_cover (an address inside firewall sources), mask_secrets (secret values hidden in a text) and
secret_values (the values of a host's secret platform variables), status_table (the lines of
playbooks/status.yml's table), undeletable (why a path must not be deleted by teardown) and
bcrypt_hash (a password as the bcrypt hash of a web login, Prometheus's) and scrape_configs
(Prometheus's scrape jobs from the inventory)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import posixpath
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_sequence
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.cslr.platform.plugins.module_utils._config_spec import BY_NAME
from ansible_collections.cslr.platform.plugins.module_utils._validate import SYSTEM_DIRS


def missed_hosts(results):
    """Hosts of a delegated loop's results (``register`` of a loop whose items are host names,
    or lists whose first element is one) that were unreachable or failed, in loop order, once."""
    if isinstance(results, dict):
        results = results.get('results', [])
    if not is_sequence(results):
        raise AnsibleFilterError('missed_hosts expects the registered result of a loop, got %s' % type(results).__name__)
    out = []
    for res in results:
        if not isinstance(res, dict) or not (res.get('unreachable') or res.get('failed')):
            continue
        item = res.get('item')
        host = item[0] if is_sequence(item) else item
        if host not in out:
            out.append(host)
    return out


def setting(host_vars, name):
    """``hostvars[host] | cslr.platform.setting('cslr_x')``: the host's own value of a platform
    variable (inventory, group or extra vars), else the platform default. Never the value of the
    host running the task: roles acting on peers (a --limit run) must not borrow their own."""
    if name not in BY_NAME:
        raise AnsibleFilterError('setting: %s is not a cslr.platform variable (see docs/configuration.md)' % name)
    try:
        if name in host_vars:
            return host_vars[name]
    except TypeError:
        raise AnsibleFilterError('setting expects hostvars[HOST], got %s' % type(host_vars).__name__)
    return BY_NAME[name].default


def dpkg_missing(dpkg_output, packages):
    """``__dpkg.stdout | cslr.platform.dpkg_missing(packages)``: the packages, in their order, that
    ``dpkg-query -W -f '${db:Status-Abbrev} ${Package}\\n' PACKAGES`` does not list as installed
    ("ii"); a package dpkg does not know is missing too."""
    if not is_sequence(packages):
        raise AnsibleFilterError('dpkg_missing expects a list of package names, got %s' % type(packages).__name__)
    installed = set()
    for line in (dpkg_output or '').splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == 'ii':
            installed.add(fields[-1])
    return [p for p in packages if p not in installed]


def interface_of(facts, address):
    """``ansible_facts | cslr.platform.interface_of(address)``: the name of the network interface
    that holds the IPv4 ``address`` (primary or secondary address), from facts gathered with the
    ``network`` subset; None when no interface holds it."""
    if not isinstance(facts, dict):
        raise AnsibleFilterError('interface_of expects ansible_facts, got %s' % type(facts).__name__)
    if 'interfaces' not in facts:
        raise AnsibleFilterError('interface_of needs network facts (gather_subset: network)')
    for name in sorted(facts['interfaces']):
        data = facts.get(name.replace('-', '_').replace('.', '_').replace(':', '_')) or facts.get(name) or {}
        if not isinstance(data, dict):
            continue
        ipv4 = [data.get('ipv4') or {}] + list(data.get('ipv4_secondaries') or [])
        if any(isinstance(a, dict) and a.get('address') == address for a in ipv4):
            return data.get('device') or name
    return None


_SIZE_UNITS = {'k': 1024, 'm': 1024 ** 2, 'g': 1024 ** 3, 't': 1024 ** 4}


def size_bytes(value):
    """``'10g' | cslr.platform.size_bytes``: a size written as a whole number and a unit (k, m, g, t;
    powers of 1024) in bytes."""
    text = str(value).strip()
    if len(text) < 2 or not text[:-1].isdigit() or text[-1].lower() not in _SIZE_UNITS:
        raise AnsibleFilterError('size_bytes expects a size such as 500g or 2t, got %r' % (value,))
    return int(text[:-1]) * _SIZE_UNITS[text[-1].lower()]


def training_host(enabled, host, gpu_hosts):
    """``cslr_training_enabled | cslr.platform.training_host(HOST, groups['cslr_gpu_hosts'])``: whether
    HOST is a training host. The rule of the setting in one place: null means the GPU hosts."""
    if not is_sequence(gpu_hosts):
        raise AnsibleFilterError('training_host expects the list of GPU hosts, got %s' % type(gpu_hosts).__name__)
    if enabled is None:
        return host in gpu_hosts
    return boolean(enabled, strict=False)


def sources_cover(sources, address):
    """True when `address` (an IP, v4 or v6) is inside one of `sources`: ufw sources such as 'any',
    a host address or a network in CIDR notation. Unparsable entries cover nothing."""
    import ipaddress

    try:
        ip = ipaddress.ip_address(str(address).strip())
    except ValueError:
        return False
    for source in sources or []:
        source = str(source).strip()
        if source == 'any':
            return True
        try:
            if ip in ipaddress.ip_network(source, strict=False):
                return True
        except ValueError:
            continue
    return False


MASK = '********'


def mask_secrets(text, secrets):
    """`text` with every occurrence of each secret value replaced by ********. `secrets`: a list of
    values, or a dict whose values (or whose nested dicts' values) are the secrets. Empty values and
    non-strings are skipped; longer secrets are masked first, so one that contains another goes whole."""
    values = []

    def collect(item):
        if isinstance(item, dict):
            for value in item.values():
                collect(value)
        elif is_sequence(item):
            for value in item:
                collect(value)
        elif isinstance(item, str) and item:
            values.append(item)

    collect(secrets)
    text = '' if text is None else str(text)
    for value in sorted(set(values), key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


def secret_values(host_vars):
    """``hostvars[host] | cslr.platform.secret_values``: the values of the platform's secret
    variables (``secret=True`` in the variable table) that the host has, for mask_secrets. A secret
    that is unset, null or cannot be resolved on this host is skipped."""
    out = []
    for name, var in sorted(BY_NAME.items()):
        if not var.secret:
            continue
        try:
            value = host_vars[name] if name in host_vars else None
        except Exception:  # pylint: disable=broad-except  # an undefined vault value: nothing to mask
            value = None
        if isinstance(value, str) and value:
            out.append(value)
    return out


def _stack_cell(stacks, prefix):
    """'health ray mlflow' for a host's stacks; a stack with a container not running or not healthy
    is written NAME!(container state/health, ...)."""
    cells = []
    for project in sorted(stacks or {}):
        name = project[len(prefix):] if project.startswith(prefix) else project
        bad = ['%s %s/%s' % (m.get('container'), m.get('state'), m.get('health')) for m in stacks[project]
               if m.get('state') != 'running' or m.get('health') not in ('healthy', 'none', None)]
        cells.append('%s!(%s)' % (name, ', '.join(bad)) if bad else name)
    return ' '.join(cells) or '-'


def status_table(records, prefix):
    """``records | cslr.platform.status_table(prefix)``: the lines of playbooks/status.yml's table.

    records: one dict per host of the run: host, address, reachable (bool), health (the health
    service's JSON or None), health_error, ray_expected (bool: Ray is enabled there), ray_version
    (what the running container reports, '' when none runs), nodes (the head's `ray list nodes`,
    only on a head), mlflow (None: not asked from there, else bool), mlflow_error. prefix: the
    compose project prefix (cslr_project_name + '-'). Problems are written in capitals."""
    rows = [('HOST', 'ADDRESS', 'HEALTH', 'RAY ROLE', 'RAY VERSION', 'GPUS', 'MLFLOW', 'STACKS')]
    heads = []
    problems = 0
    for rec in records:
        health = rec.get('health') or None
        if not rec.get('reachable', True):
            rows.append((rec['host'], rec.get('address') or '-', 'UNREACHABLE', '?', '?', '?', '?', '?'))
            problems += 1
            continue
        if health is None:
            rows.append((rec['host'], rec.get('address') or '-', 'NOT ANSWERING', '?', rec.get('ray_version') or '-',
                         '?', '-', '?'))
            problems += 1
            continue
        stacks = _stack_cell(health.get('stacks'), prefix)
        state = 'ok' if health.get('docker') == 'ok' else 'DOCKER ' + str(health.get('docker'))
        if '!' in stacks:
            state = 'DEGRADED'
        role = health.get('ray_role') or 'none'
        if role == 'head':
            heads.append(rec)
        if rec.get('ray_expected') and role == 'none':
            role = 'NONE (expected)'
        mlflow = rec.get('mlflow')
        mlflow_cell = '-' if mlflow is None else ('ok' if mlflow else 'NOT REACHABLE')
        if state != 'ok' or role.startswith('NONE') or mlflow is False:
            problems += 1
        rows.append((rec['host'], rec.get('address') or health.get('cluster_address') or '-', state, role,
                     rec.get('ray_version') or '-', str(health.get('gpu_count', 0)), mlflow_cell, stacks))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ['  '.join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])) + '  ' + row[-1] for row in rows]

    expected = [rec for rec in records if rec.get('ray_expected')]
    if not heads:
        lines.append('Ray cluster: NO HEAD among the hosts of this run (%d Ray host(s) expected)' % len(expected))
        problems += 1 if expected else 0
    for head in heads:
        nodes = head.get('nodes')
        if nodes is None:
            lines.append('Ray cluster of %s: the head did not answer `ray list nodes`' % head['host'])
            problems += 1
            continue
        alive = sorted(n.get('node_ip', '?') for n in nodes if n.get('state') == 'ALIVE')
        dead = sorted(n.get('node_ip', '?') for n in nodes if n.get('state') != 'ALIVE')
        gpus = sum(int(float((n.get('resources_total') or {}).get('GPU', 0) or 0)) for n in nodes
                   if n.get('state') == 'ALIVE')
        cpus = sum(float((n.get('resources_total') or {}).get('CPU', 0) or 0) for n in nodes if n.get('state') == 'ALIVE')
        missing = sorted(rec.get('address') for rec in expected if rec.get('address') not in alive)
        lines.append('Ray cluster: head %s (%s), %d node(s) alive of %d expected, %g CPU, %d GPU%s%s' % (
            head['host'], head.get('address'), len(alive), len(expected), cpus, gpus,
            '; NOT ALIVE: ' + ', '.join(missing) if missing else '',
            '; dead records: %d' % len(dead) if dead else ''))
        problems += 1 if missing else 0
    if len(heads) > 1:
        lines.append('SPLIT BRAIN: %d heads (%s). Fix: rerun site.yml (-e cslr_ray_resolve_split_brain=true keeps '
                     'the head with the most nodes)' % (len(heads), ', '.join(h['host'] for h in heads)))
    versions = sorted(set(rec.get('ray_version') for rec in records if rec.get('ray_version')))
    if len(versions) > 1:
        lines.append('RAY VERSIONS DIFFER: %s (a rolling update in progress? playbooks/rolling_update.yml)'
                     % ', '.join(versions))
        problems += 1
    lines.append('%d problem(s)' % problems if problems else 'no problem found')
    return lines


# Trees of which nothing is the platform's to delete, and directories whose entries are users'
# homes or mount points (teardown, undeletable).
SYSTEM_TREES = ('/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/libx32', '/proc', '/run', '/sbin',
                '/sys', '/usr', '/var/lib/docker', '/var/run')
HOME_DIRS = frozenset(('/home', '/root', '/media', '/mnt'))
# Directories whose entries belong to one program each (/var/lib/dpkg, /var/log/journal): the
# platform's own are one level further down (/var/lib/cslr-platform/ray).
PROGRAM_DIRS = frozenset(('/var/lib', '/var/cache', '/var/log', '/var/spool', '/var/opt', '/usr/local'))


def undeletable(path):
    """Why teardown must not delete ``path`` ('' when it may): not absolute, not written in its
    normal form (``..``, ``//``, a trailing ``/``), the root, a directory of the system, a
    directory directly under / (one level deep), anything inside a system tree (/etc/ssh,
    /usr/local/lib, /var/lib/docker/volumes), a directory directly in /home, /root, /media or
    /mnt (a user's home, a mount point), or one directly in /var/lib, /var/cache, /var/log,
    /var/spool or /var/opt (one program's own, such as /var/lib/dpkg)."""
    text = str(path or '')
    if not text.startswith('/'):
        return 'is not an absolute path'
    norm = posixpath.normpath(text)
    if norm != text or text.startswith('//'):
        return 'is not written in its normal form (%s)' % norm
    if norm in SYSTEM_DIRS:
        return 'is %s, a directory of the system' % ('the root directory' if norm == '/' else norm)
    if norm.count('/') < 2:
        return 'is directly under /'
    for tree in SYSTEM_TREES:
        if norm.startswith(tree + '/'):
            return 'is inside %s, which belongs to the system' % tree
    if posixpath.dirname(norm) in HOME_DIRS:
        return 'is directly under %s (a home directory or a mount point)' % posixpath.dirname(norm)
    if posixpath.dirname(norm) in PROGRAM_DIRS:
        return 'is directly under %s (a directory of a program of its own)' % posixpath.dirname(norm)
    return ''


def postgres_major(image):
    """The PostgreSQL major version a postgres image reference names by its tag (the official
    images' tags start with it: 17, 17.2, 17-bookworm, 18.1-alpine3.22), or None when the tag does
    not say (latest, a digest, a tag of letters): the image's PG_MAJOR then decides."""
    ref = str(image or '')
    if '@' in ref:
        return None
    name, sep, tag = ref.rpartition(':')
    if not sep or '/' in tag:
        return None
    m = re.match(r'^([0-9]+)(?:$|[.-])', tag)
    if not m:
        return None
    return int(m.group(1))


_BCRYPT_B64 = bytes.maketrans(
    b'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/',
    b'./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789')


def bcrypt_hash(password, context, rounds=10):
    """``password | cslr.platform.bcrypt_hash(context)``: the bcrypt hash ($2b$) of password, for a
    login file (Prometheus's web.yml). The salt is derived from password and context (HMAC-SHA256),
    so the same password gives the same hash on every run (idempotent, no change without a new
    password) and different contexts (clusters) give different hashes."""
    if not isinstance(password, str) or not password:
        raise AnsibleFilterError('bcrypt_hash expects a non-empty password string')
    try:
        import bcrypt
    except ImportError:
        raise AnsibleFilterError('bcrypt_hash needs the Python package bcrypt on the controller: '
                                 'pip install -r requirements.txt (bcrypt is pinned there)')
    raw = hmac.new(password.encode('utf-8'), ('cslr-bcrypt-salt:%s' % context).encode('utf-8'),
                   hashlib.sha256).digest()[:16]
    salt = base64.b64encode(raw).rstrip(b'=').translate(_BCRYPT_B64)
    return bcrypt.hashpw(password.encode('utf-8'), b'$2b$%02d$' % int(rounds) + salt).decode('ascii')


def scrape_configs(hostvars, groups, password_file):
    """``hostvars | cslr.platform.scrape_configs(groups, PASSWORD_FILE)``: Prometheus's scrape jobs
    for the cluster of the INVENTORY (every host of cslr_cluster, also outside a --limit run), each
    target labelled with its inventory host name (``host``): ``node`` (node exporter, every host),
    ``ray`` (each Ray node's metrics export port), ``cslr-health`` (the health service's
    /metrics), ``etcd`` (the rendezvous members), ``dcgm`` (GPU hosts) and ``prometheus`` itself (its login read from
    PASSWORD_FILE). Each host's own settings count (setting()), never the caller's."""
    cluster = list(groups.get('cslr_cluster') or [])
    gpu = set(groups.get('cslr_gpu_hosts') or [])
    monitoring = list(groups.get('cslr_monitoring_hosts') or [])
    names = ('node', 'ray', 'cslr-health', 'etcd', 'dcgm', 'prometheus')
    rendezvous = set(groups.get('cslr_rendezvous_hosts') or [])
    jobs = dict((name, []) for name in names)
    for host in cluster:
        hv = hostvars[host]
        address = setting(hv, 'cslr_cluster_address')
        if not address:
            raise AnsibleFilterError('scrape_configs: %s has no cslr_cluster_address' % host)

        def target(job, port_var):
            jobs[job].append({'targets': ['%s:%s' % (address, setting(hv, port_var))], 'labels': {'host': host}})

        target('node', 'cslr_node_exporter_port')
        if boolean(setting(hv, 'cslr_ray_enabled'), strict=False):
            target('ray', 'cslr_ray_metrics_export_port')
        if boolean(setting(hv, 'cslr_health_enabled'), strict=False):
            target('cslr-health', 'cslr_health_port')
        if host in rendezvous and boolean(setting(hv, 'cslr_rendezvous_enabled'), strict=False):
            target('etcd', 'cslr_rendezvous_client_port')
        if host in gpu:
            target('dcgm', 'cslr_dcgm_exporter_port')
        if host in monitoring[:1]:
            target('prometheus', 'cslr_prometheus_port')
    out = []
    for job in names:
        if not jobs[job]:
            continue
        entry = {'job_name': job, 'static_configs': jobs[job]}
        if job == 'prometheus':
            user = setting(hostvars[monitoring[0]], 'cslr_monitoring_user')
            entry['basic_auth'] = {'username': user, 'password_file': password_file}
        out.append(entry)
    return out


class FilterModule(object):
    def filters(self):
        return {'missed_hosts': missed_hosts, 'setting': setting, 'dpkg_missing': dpkg_missing,
                'interface_of': interface_of, 'size_bytes': size_bytes, 'training_host': training_host,
                'sources_cover': sources_cover, 'mask_secrets': mask_secrets,
                'secret_values': secret_values, 'status_table': status_table, 'undeletable': undeletable,
                'postgres_major': postgres_major, 'bcrypt_hash': bcrypt_hash,
                'scrape_configs': scrape_configs}
