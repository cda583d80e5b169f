# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the cslr.platform collection. Not a public API: names and return shapes
# may change in any release without notice. Import it only from this collection's own
# plugins (cslr.platform.validate_config) and tests.
#
# The configuration rules, as pure functions over plain data:
#   hostvars: {host: {variable: value}}  -- what the inventory SETS (no defaults), already
#             templated; a value that failed to template is a TemplateFailure.
#   groups:   {group: [host, ...]}       -- the whole inventory, never limited.
# validate() applies the spec defaults, runs every rule and returns ALL errors, merged so
# that one mistake made in group_vars/all is reported once for "all hosts". Secrets are
# never part of an error: their values are shown as ********.

from __future__ import annotations

import difflib
import ipaddress
import json
import posixpath
import re

from ansible_collections.cslr.platform.plugins.module_utils import _config_spec as spec
from ansible_collections.cslr.platform.plugins.module_utils import _services as services

MASK = '********'
NOT_SET = '(not set)'
ALL_HOSTS = 'all hosts'
INVENTORY = 'inventory'

# Rules, in the order they run; docs/configuration.md lists them from here.
RULES = (
    ('names', 'Unknown `cslr_` variables are reported with a did-you-mean suggestion; removed variables and '
              'pasted sections of the original config.yaml (`services`, `nodes`, `network`) with their '
              'replacement.'),
    ('templating', 'A value whose template fails (undefined variable, syntax) is reported, not skipped.'),
    ('types', 'Each value has its documented type. Booleans and numbers written as strings (`"true"`, `"6379"`) '
              'and whole numbers written as floats (`4.0`) are refused.'),
    ('formats', 'CIDR (no host bits, prefix 0-32: "Invalid subnet format"), IPv4 addresses, ports 1024-65535, '
                'memory `^\\d+[gmGM]$` and > 0, sizes (`500g`, `2t`), absolute paths (the checkpoint directory), '
                'octal modes, S3 URIs, image references with a tag, versions, names, choices and numeric bounds '
                '(health and cluster timeouts, retries).'),
    ('required', 'Required values are set: `cslr_cluster_network`, each host\'s `cslr_cluster_address`, '
                 '`cslr_postgres_password` (and `cslr_mlflow_admin_password` with MLflow\'s authentication) when '
                 'MLflow is enabled, `cslr_redis_password` and `cslr_marimo_token` on hosts that enable those.'),
    ('scope', 'Cluster-wide (global) variables have the same value on every host.'),
    ('paths', 'Data and log directories the roles own or delete in (`cslr_base_dir`, `cslr_ray_log_dir`, '
              '`cslr_marimo_notebooks_dir`, `cslr_checkpoint_dir`, `cslr_images_host_dir`) are neither `/` nor a '
              'system directory (`/etc`, `/home`, `/usr`, `/var/log`, ...); values written unquoted into '
              '/etc/cslr/training.env (checkpoint directory and S3 settings) hold no character a shell interprets.'),
    ('host_names', 'Inventory host names of the cluster are plain names (letters, digits, `.`, `_`, `-`): they are '
                   'written into the Ray candidate list, etcd\'s initial cluster and /etc/hosts.'),
    ('mlflow_auth', 'With MLflow and its authentication enabled, the admin password is set, at least 12 characters, '
                    'not a well-known default, and the users\' database is not MLflow\'s own; '
                    '`cslr_mlflow_auth_enabled: false` is reported as a warning.'),
    ('ray_auth', 'A Ray token set by the user has at least 32 letters, digits, `-` or `_`; '
                 '`cslr_ray_auth_mode: disabled` is reported as a warning (it opens the cluster to code execution).'),
    ('secrets', 'Database and Redis passwords are not well-known defaults (including the original tool\'s '
                'example passwords), have at least 12 characters and hold no quote or line break (they reach the '
                'containers through a single-quoted Compose env file; the Redis password also no double quote, '
                'backslash or blank: it is written into redis.conf). The same applies to the Marimo token and the '
                'monitoring password.'),
    ('memory', 'Ray\'s `/dev/shm` (`cslr_ray_shm_size`) is smaller than the Ray container\'s memory limit.'),
    ('ports', 'Per host, the ports of the services enabled ON THAT HOST are distinct: health, Ray\'s pinned ports '
              'and its worker port range (min <= max), MLflow on the MLflow host, Redis and Marimo where enabled, '
              'SSH (`cslr_firewall_ssh_port`) where the firewall is managed, '
              'etcd\'s client and peer ports on rendezvous hosts, with monitoring the node exporter (and on GPU hosts '
              'the DCGM exporter) everywhere and Prometheus and Grafana on the monitoring host, and on training hosts torchrun\'s master and '
              'c10d ports and the training port range (min <= max), which must not overlap the Ray worker range.'),
    ('addresses', 'Cluster addresses are unique, inside `cslr_cluster_network`, and neither its network nor its '
                  'broadcast address.'),
    ('groups', '`cslr_cluster` has hosts; `cslr_ray_head_candidates` is not empty ("head_whitelist must not be '
               'empty") and its hosts are cluster hosts running Ray; exactly one host in `cslr_mlflow_hosts` when '
               'MLflow is enabled; `cslr_gpu_hosts` are cluster hosts; 1 or 3 cluster hosts in '
               '`cslr_rendezvous_hosts` when the rendezvous stack is enabled (an etcd cluster of 2 stops when either '
               'is lost); exactly one cluster host in `cslr_monitoring_hosts` when the monitoring stack is enabled.'),
    ('versions', 'One Ray version and one Python version across the cluster: every Ray image in use has a tag '
                 'starting with `cslr_ray_version`, and a `-pyXY` in the tag matches `cslr_ray_python_version`.'),
    ('docker', 'Docker address pools do not overlap the cluster network or an admin network.'),
    ('gpu', 'GPUs are given to services (Ray, Marimo) only on hosts of `cslr_gpu_hosts`.'),
    ('rendezvous', 'With `cslr_rendezvous_v2_api` (torch\'s etcd backends), the etcd image is not 3.6 or later '
                   '(etcd 3.6 removed the v2 API).'),
    ('training', 'S3 credentials of the checkpoint tier come in pairs (key id and secret key).'),
    ('registry', 'A registry login is `HOST[:PORT]` without a scheme or path, its user name and password come '
                 'together and with a registry, and a registry CA is a PEM certificate.'),
)


class TemplateFailure(object):
    """Stands for a value whose template could not be rendered."""

    def __init__(self, message):
        self.message = message


class ConfigError(object):
    """One configuration error: where, which variable, the (masked) value, what is wrong, the fix."""

    __slots__ = ('hosts', 'variable', 'value', 'message', 'fix')

    def __init__(self, hosts, variable, value, message, fix):
        self.hosts = tuple(hosts)
        self.variable = variable
        self.value = value      # already a display string, secrets masked
        self.message = message
        self.fix = fix

    def where(self, cluster):
        if not self.hosts:
            return INVENTORY
        if len(cluster) > 1 and set(self.hosts) == set(cluster):
            return ALL_HOSTS
        return ', '.join(self.hosts)

    def line(self, cluster):
        return '[%s] %s = %s: %s. Fix: %s' % (self.where(cluster), self.variable, self.value, self.message, self.fix)

    def as_dict(self, cluster):
        return dict(hosts=list(self.hosts), where=self.where(cluster), variable=self.variable, value=self.value,
                    message=self.message, fix=self.fix)


def show(value, secret=False):
    """The display form of a value: JSON, secrets masked."""
    if secret:
        return 'null' if value is None else MASK
    if isinstance(value, TemplateFailure):
        return '(template error)'
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return json.dumps(str(value), ensure_ascii=False)


_SECRET_NAME = re.compile(r'pass|secret|token|cred|key', re.I)


def looks_secret(name, known=None):
    var = (known or spec.BY_NAME).get(name)
    if var is not None:
        return var.secret
    return bool(_SECRET_NAME.search(name))


class _Collector(object):
    def __init__(self):
        self.errors = []
        self.warnings = []

    def warn(self, variable, message):
        """An explicit choice that opens something: reported, never refused."""
        line = '%s: %s' % (variable, message)
        if line not in self.warnings:
            self.warnings.append(line)

    def add(self, hosts, variable, value, message, fix, secret=False, raw=False):
        shown = value if raw else show(value, secret)
        self.errors.append(ConfigError(hosts, variable, shown, message, fix))


# ---------------------------------------------------------------------------- single values

_BOOL_STRINGS = ('true', 'false', 'yes', 'no', 'on', 'off', '1', '0', 'y', 'n')


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return (isinstance(value, (int, float))) and not isinstance(value, bool)


def check_type(vtype, value):
    """(message, fix) when value is not of vtype, else None. None values are handled by the caller."""
    if vtype == 'raw':
        return None
    if vtype == 'bool':
        if isinstance(value, bool):
            return None
        if isinstance(value, str) and value.strip().lower() in _BOOL_STRINGS:
            return ('is the string %s, not a boolean' % show(value),
                    'write %s without quotes' % ('true' if value.strip().lower() in ('true', 'yes', 'on', '1', 'y')
                                                 else 'false'))
        return 'must be a boolean (true or false)', 'write true or false without quotes'
    if vtype in ('int', 'float'):
        if isinstance(value, str) and re.match(r'^\s*-?\d+(\.\d+)?\s*$', value):
            return 'is the string %s, not a number' % show(value), 'write %s without quotes' % value.strip()
        if vtype == 'int':
            if _is_int(value):
                return None
            if isinstance(value, float) and value.is_integer():
                return 'is the float %s, not a whole number' % show(value), 'write %d' % int(value)
            return 'must be a whole number', 'write a whole number without quotes'
        if _is_number(value):
            return None
        return 'must be a number', 'write a number without quotes'
    if vtype == 'str':
        if isinstance(value, str):
            return None
        if _is_number(value):
            return 'is a number, not a string', 'quote it: "%s"' % value
        return 'must be a string', 'write a quoted string'
    if vtype == 'list':
        if isinstance(value, list):
            return None
        return 'must be a list', 'write a YAML list ([] for none)'
    if vtype == 'dict':
        if isinstance(value, dict):
            return None
        return 'must be a mapping', 'write a YAML mapping ({} for none)'
    raise ValueError('unknown type %r' % vtype)


def _cidr_problem(value):
    """(message, fix) for a bad CIDR string, else None."""
    if '/' not in value:
        return 'Invalid subnet format', 'add the prefix length, e.g. %s/24' % value
    addr, _sep, prefix = value.partition('/')
    if not prefix.isdigit() or int(prefix) > 32:
        return 'Invalid subnet format', 'the prefix length after / must be 0-32, e.g. %s/24' % addr
    try:
        ipaddress.IPv4Address(addr)
    except ValueError:
        return 'Invalid subnet format', 'write an IPv4 network address, e.g. 10.213.0.0/24'
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        net = ipaddress.IPv4Network(value, strict=False)
        return 'Invalid subnet format', 'clear the host bits: %s' % net
    return None


def check_format(fmt, value):
    """(message, fix) when the string/int value breaks fmt, else None."""
    if fmt == 'cidr':
        return _cidr_problem(value)
    if fmt == 'ipv4':
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            return 'is not an IPv4 address', 'write the host\'s address on the cluster LAN, e.g. 10.213.0.11'
        return None
    if fmt == 'port':
        if not 1024 <= value <= 65535:
            return 'Port must be between 1024 and 65535', 'choose a port in 1024-65535'
        return None
    if fmt == 'memory':
        if not re.match(spec.FORMAT_PATTERNS['memory'], value):
            return (r'Memory format must match pattern ^\d+[gmGM]$',
                    'write a whole number followed by g or m, e.g. "8g" or "8192m"')
        if int(value[:-1]) <= 0:
            return 'Memory must be greater than 0', 'write a size above 0, e.g. "8g"'
        return None
    if fmt == 'image':
        name = value.rsplit('/', 1)[-1]
        if not value or ' ' in value:
            return 'is not an image reference', 'write NAME:TAG, e.g. redis:7'
        if ':' not in name and '@' not in name:
            return 'image has no tag', 'pin a tag, e.g. %s:TAG' % value
        return None
    pattern = spec.FORMAT_PATTERNS.get(fmt)
    if pattern and not re.match(pattern, value):
        return 'must be %s' % spec.FORMATS[fmt], 'write %s' % spec.FORMATS[fmt]
    return None


def _bounds(var_like, value):
    lo, hi = var_like.get('minimum'), var_like.get('maximum')
    if lo is not None and hi is not None and not lo <= value <= hi:
        return 'must be between %s and %s' % (lo, hi), 'choose a value in %s-%s' % (lo, hi)
    if lo is not None and value < lo:
        return 'must be at least %s' % lo, 'choose a value of %s or more' % lo
    if hi is not None and value > hi:
        return 'must be at most %s' % hi, 'choose a value of %s or less' % hi
    return None


def _var_dict(var):
    return dict(type=var.type, minimum=var.minimum, maximum=var.maximum, fmt=var.fmt, choices=var.choices)


def check_scalar(var_like, value):
    """Type, format, choices and bounds of one non-null scalar. (message, fix) or None."""
    problem = check_type(var_like['type'], value)
    if problem:
        return problem
    if var_like.get('choices') and value not in var_like['choices']:
        return ('must be one of: %s' % ', '.join(var_like['choices']),
                'write one of %s' % ', '.join(var_like['choices']))
    if var_like.get('fmt') == 'port':
        return check_format('port', value)
    if _is_number(value):
        bad = _bounds(var_like, value)
        if bad:
            return bad
    if var_like.get('fmt') and isinstance(value, str):
        return check_format(var_like['fmt'], value)
    return None


def check_value(var, value, inventory_hosts):
    """All (message, fix) problems of one variable's value, null handling included."""
    if value is None or var.type == 'raw':
        return []
    if var.type == 'list':
        bad = check_type('list', value)
        if bad:
            return [bad]
        problems = []
        for index, item in enumerate(value, 1):
            if var.elements == 'dict':
                problems.extend(_check_item_keys(var, index, item))
            else:
                bad = check_scalar(dict(type=var.elements or 'str', fmt=var.fmt), item)
                if bad:
                    problems.append(('item %d %s: %s' % (index, show(item), bad[0]), bad[1]))
        return problems
    if var.type == 'dict':
        bad = check_type('dict', value)
        if bad:
            return [bad]
        problems = []
        if var.elements == 'list':  # {host: [names]}
            for key, names in value.items():
                if key not in inventory_hosts:
                    close = difflib.get_close_matches(str(key), sorted(inventory_hosts), n=1)
                    problems.append(('key %s names no inventory host' % show(key),
                                     'did you mean %s?' % close[0] if close else 'use inventory host names as keys'))
                if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
                    problems.append(('value of %s must be a list of names' % show(key),
                                     'write a YAML list of host names'))
        return problems
    bad = check_scalar(_var_dict(var), value)
    return [bad] if bad else []


def _check_item_keys(var, index, item):
    if not isinstance(item, dict):
        return [('item %d must be a mapping with keys %s' % (index, ', '.join(var.keys)),
                 'write {%s}' % ', '.join('%s: ...' % k for k in var.keys))]
    problems = []
    for key in item:
        if key not in var.keys:
            close = difflib.get_close_matches(str(key), list(var.keys), n=1)
            problems.append(('item %d has the unknown key %s' % (index, show(key)),
                             'did you mean %s?' % close[0] if close else 'use only %s' % ', '.join(var.keys)))
    for key, kspec in var.keys.items():
        if key not in item or item[key] is None:
            if kspec.get('required'):
                fix = 'add %s: (%s)' % (key, kspec['description'])
                problems.append(('item %d lacks the key %s' % (index, key), fix))
            continue
        bad = check_scalar(kspec, item[key])
        if bad:
            problems.append(('item %d %s %s: %s' % (index, key, show(item[key]), bad[0]), bad[1]))
    return problems


# ---------------------------------------------------------------------------- helpers

def _groups(groups, name):
    return list(groups.get(name) or [])


def _enabled(value):
    return value is True


class _Config(object):
    """Effective values per host (defaults + what the inventory sets), and what is known valid."""

    def __init__(self, hostvars, groups, external=()):
        self.external = list(external)
        self.known = dict(spec.BY_NAME)
        self.known.update((v.name, v) for v in self.external)
        self.groups = groups
        self.cluster = _groups(groups, spec.GROUP_CLUSTER)
        extra = []
        for group in (spec.GROUP_HEAD_CANDIDATES, spec.GROUP_GPU, spec.GROUP_MLFLOW, spec.GROUP_RENDEZVOUS,
                      spec.GROUP_MONITORING):
            extra.extend(h for h in _groups(groups, group) if h not in self.cluster and h not in extra)
        self.hosts = self.cluster + extra
        self.inventory_hosts = set(hostvars) | set(self.hosts)
        self.set = dict((h, dict(hostvars.get(h) or {})) for h in self.hosts)
        self.invalid = set()  # (host, variable) whose value broke a single-value rule

    def is_set(self, host, name):
        return name in self.set[host]

    def raw(self, host, name):
        if name in self.set[host]:
            return self.set[host][name]
        return self.known[name].default

    def get(self, host, name):
        """The effective value, or None when it is invalid (so cross checks skip it)."""
        if (host, name) in self.invalid:
            return None
        return self.raw(host, name)

    def global_value(self, name):
        """The value of a cluster-wide variable on the first cluster host (consistency is checked apart)."""
        if not self.cluster:
            return spec.BY_NAME[name].default
        return self.get(self.cluster[0], name)


# ---------------------------------------------------------------------------- rules

def check_names(cfg, out):
    for host in cfg.hosts:
        for name, value in cfg.set[host].items():
            secret = looks_secret(name, cfg.known)
            if name in spec.ORIGINAL_SECTIONS and isinstance(value, dict):
                out.add([host], name, '{...}', 'is a section of the original config.yaml, which is not read',
                        'replace it with ' + spec.ORIGINAL_SECTIONS[name], raw=True)
                continue
            if not name.startswith('cslr_') or name in cfg.known or name in spec.NOT_CONFIG:
                continue
            if name in spec.REMOVED:
                out.add([host], name, value, 'was removed', 'use ' + spec.REMOVED[name], secret=secret)
                continue
            close = difflib.get_close_matches(name, list(cfg.known), n=1, cutoff=0.75)
            if close:
                fix = 'did you mean %s?' % close[0]
                secret = secret or cfg.known[close[0]].secret
            else:
                fix = 'remove it; docs/configuration.md lists every cslr_ variable'
            out.add([host], name, value, 'unknown variable', fix, secret=secret)


def check_values(cfg, out):
    for var in list(spec.VARIABLES) + cfg.external:
        for host in cfg.hosts:
            if not cfg.is_set(host, var.name):
                continue
            value = cfg.set[host][var.name]
            if isinstance(value, TemplateFailure):
                cfg.invalid.add((host, var.name))
                out.add([host], var.name, value, 'could not be templated: %s' % value.message,
                        'fix the template or the variables it uses', secret=var.secret)
                continue
            if value is None and not var.nullable:
                cfg.invalid.add((host, var.name))
                out.add([host], var.name, value, 'must not be null', 'set a value or remove the line to get the '
                        'default %s' % show(var.default, var.secret))
                continue
            problems = check_value(var, value, cfg.inventory_hosts)
            if problems:
                cfg.invalid.add((host, var.name))
            for message, fix in problems:
                out.add([host], var.name, value, message, fix, secret=var.secret)


def check_required(cfg, out):
    mlflow = _enabled(cfg.global_value('cslr_mlflow_enabled'))
    for host in cfg.cluster:
        for name in ('cslr_cluster_network', 'cslr_cluster_address'):
            if cfg.raw(host, name) is None and (host, name) not in cfg.invalid:
                var = spec.BY_NAME[name]
                value = None if cfg.is_set(host, name) else NOT_SET
                fix = ('set it in group_vars/all.yml, e.g. %s: %s' % (name, var.example) if var.scope == 'global'
                       else 'set it in the host\'s inventory entry or host_vars, e.g. %s: %s' % (name, var.example))
                out.add([host], name, value, 'is required', fix, raw=value == NOT_SET)
        if mlflow and _enabled(cfg.global_value('cslr_mlflow_auth_enabled')) and \
                cfg.raw(host, 'cslr_mlflow_admin_password') is None and \
                (host, 'cslr_mlflow_admin_password') not in cfg.invalid:
            out.add([host], 'cslr_mlflow_admin_password', NOT_SET, 'MLflow admin password is not set (MLflow and its '
                    'authentication are enabled)', 'set cslr_mlflow_admin_password in group_vars/all.yml, encrypted '
                    'with ansible-vault (or cslr_mlflow_auth_enabled: false to run MLflow open)', raw=True)
        for flag, name, what in (('cslr_redis_enabled', 'cslr_redis_password', 'Redis password'),
                                 ('cslr_marimo_enabled', 'cslr_marimo_token', 'Marimo token')):
            if _enabled(cfg.get(host, flag)) and cfg.raw(host, name) is None and (host, name) not in cfg.invalid:
                out.add([host], name, NOT_SET, '%s is not set (%s is true on this host)' % (what, flag),
                        'set %s in group_vars/all.yml, encrypted with ansible-vault: an enabled service always '
                        'authenticates' % name, raw=True)
        if mlflow and cfg.raw(host, 'cslr_postgres_password') is None and \
                (host, 'cslr_postgres_password') not in cfg.invalid:
            out.add([host], 'cslr_postgres_password', NOT_SET, 'database password is not set (MLflow is enabled)',
                    'set cslr_postgres_password in group_vars/all.yml, encrypted with ansible-vault', raw=True)


def check_scope(cfg, out):
    for var in spec.VARIABLES:
        if var.scope != 'global' or len(cfg.cluster) < 2:
            continue
        seen = {}  # shown value -> hosts, in cluster order (dicts keep insertion order)
        for host in cfg.cluster:
            value = cfg.raw(host, var.name)
            key = 'template error' if isinstance(value, TemplateFailure) else show(value)
            seen.setdefault(key, []).append(host)
        if len(seen) > 1:
            parts = '; '.join('%s: %s' % (', '.join(hosts), MASK if var.secret else key)
                              for key, hosts in seen.items())
            for host in cfg.cluster:
                cfg.invalid.add((host, var.name))
            out.add(cfg.cluster, var.name, '(differs: %s)' % parts, 'must be the same on every host (cluster-wide '
                    'setting)', 'set it once in group_vars/all.yml and remove host-level overrides', raw=True)


# Secrets reach the containers through a Compose env file, each value single-quoted (taken
# literally: no `$` interpolation); these characters cannot be expressed there.
SECRET_FORBIDDEN = ("'", '\n', '\r', '\x00')


def password_problem(value, what):
    """(message, fix) for an insecure password string, else None."""
    if any(c in value for c in SECRET_FORBIDDEN):
        return ('%s password contains a single quote, a line break or a NUL character' % (what[0].upper() + what[1:]),
                'choose a password without them (e.g. `openssl rand -base64 24`): secrets reach the containers '
                'through a single-quoted Compose env file')
    if value.strip().lower() in spec.INSECURE_PASSWORDS or len(set(value)) <= 2:
        return ('Insecure %s password' % what,
                'choose a long random password (e.g. `openssl rand -base64 24`) and keep it in ansible-vault')
    if len(value) < spec.MIN_PASSWORD_LENGTH:
        return ('%s password is too short (%d characters, at least %d)'
                % (what[0].upper() + what[1:], len(value), spec.MIN_PASSWORD_LENGTH),
                'choose a long random password (e.g. `openssl rand -base64 24`) and keep it in ansible-vault')
    return None


RAY_TOKEN_RE = re.compile(r'^[A-Za-z0-9_-]{32,}$')


def check_awx_ray_token(cfg, out, job_vars):
    """An AWX/Tower job (awx_job_id or tower_job_id among job_vars) must not have to generate the
    Ray token or the monitoring password: the job's files are thrown away, so every job would
    rotate them."""
    if not any((job_vars or {}).get(k) not in (None, '') for k in ('awx_job_id', 'tower_job_id')):
        return
    if _enabled(cfg.global_value('cslr_monitoring_enabled')) and not cfg.global_value('cslr_monitoring_password'):
        out.add([], 'cslr_monitoring_password', 'null', 'is not set, and this AWX job would generate a new '
                'monitoring password on every run (its files are thrown away): Prometheus\'s login would change '
                'each time and Grafana would keep the first one', 'put cslr_monitoring_password (e.g. '
                '`openssl rand -base64 24`) in the inventory\'s vault or an AWX credential', raw=True)
    ray_hosts = [h for h in cfg.cluster if _enabled(cfg.get(h, 'cslr_ray_enabled'))]
    if not ray_hosts or cfg.global_value('cslr_ray_auth_mode') == 'disabled' or cfg.global_value('cslr_ray_auth_token'):
        return
    out.add(ray_hosts if len(ray_hosts) < len(cfg.cluster) else cfg.cluster, 'cslr_ray_auth_token', 'null',
            'is not set, and this AWX job would generate a new Ray token on every run (its files are thrown away), '
            'restarting the cluster each time',
            'put cslr_ray_auth_token (e.g. `openssl rand -hex 24`) in the inventory\'s vault or an AWX credential',
            raw=True)


def check_ray_auth(cfg, out):
    ray_hosts = [h for h in cfg.cluster if _enabled(cfg.get(h, 'cslr_ray_enabled'))]
    if not ray_hosts:
        return
    if cfg.global_value('cslr_ray_auth_mode') == 'disabled':
        out.warn('cslr_ray_auth_mode', 'Ray token authentication is off: anyone who reaches the Ray dashboard, its '
                 'Jobs API or the client server (every process on every cluster host, the admin networks) runs code '
                 'as root on the Ray hosts. Remove cslr_ray_auth_mode: disabled to turn it back on')
        return
    value = cfg.global_value('cslr_ray_auth_token')
    if isinstance(value, str) and not RAY_TOKEN_RE.match(value):
        out.add(ray_hosts, 'cslr_ray_auth_token', value, 'Ray token is not at least 32 letters, digits, - or _',
                'set a random one (e.g. `openssl rand -hex 24`) in ansible-vault, or remove it: the platform then '
                'generates one on the controller (cslr_secrets_dir)', secret=True)


# Directories the roles own, chmod or delete (teardown with data deletion, the checkpoint
# retention job): never the root or a directory of the system itself.
DATA_DIRS = ('cslr_base_dir', 'cslr_ray_log_dir', 'cslr_marimo_notebooks_dir', 'cslr_checkpoint_dir',
             'cslr_images_host_dir', 'cslr_mlflow_backup_host_dir')
SYSTEM_DIRS = frozenset((
    '/', '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/lib32', '/lib64', '/libx32', '/media', '/mnt', '/opt',
    '/proc', '/root', '/run', '/sbin', '/srv', '/sys', '/tmp', '/usr', '/usr/bin', '/usr/lib', '/usr/local',
    '/usr/sbin', '/usr/share', '/var', '/var/cache', '/var/lib', '/var/lib/docker', '/var/log', '/var/tmp',
    '/var/spool', '/var/mail', '/var/backups', '/var/opt', '/var/run', '/etc/cslr',
))
# Values written unquoted into /etc/cslr/training.env, which users source (`set -a; . FILE`):
# characters a shell would interpret there are refused.
SOURCED_VALUES = ('cslr_checkpoint_dir', 'cslr_checkpoint_s3_uri', 'cslr_checkpoint_s3_endpoint_url',
                  'cslr_checkpoint_s3_region')
SHELL_SAFE_RE = re.compile(r'^[A-Za-z0-9_./:@%+=,~-]*$')
# Inventory host names end up in the candidate list (NAME=ADDRESS,...), etcd's initial cluster
# and /etc/hosts.
HOST_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$')


def check_paths(cfg, out):
    for host in cfg.cluster:
        for name in DATA_DIRS:
            value = cfg.get(host, name)
            if not isinstance(value, str) or not value.startswith('/'):
                continue
            norm = posixpath.normpath(value)
            norm = '/' if norm.startswith('//') and norm.strip('/') == '' else norm
            if norm in SYSTEM_DIRS:
                out.add([host], name, value, 'is %s, a directory of the system: the platform changes its owner '
                        'and mode, and teardown (cslr_teardown_delete_data) or a retention job deletes in it'
                        % ('the root directory' if norm == '/' else norm),
                        'use a directory of its own, e.g. %s' % spec.BY_NAME[name].default)
    for host in cfg.cluster:
        for name in SOURCED_VALUES:
            value = cfg.get(host, name)
            if isinstance(value, str) and not SHELL_SAFE_RE.match(value):
                out.add([host], name, value, 'holds a character a shell interprets (quote, blank, $, `, ;, &, |, '
                        '<, >, (, ), a line break...): it is written into /etc/cslr/training.env, which jobs and '
                        'login shells source', 'use letters, digits and _ . / : @ % + = , ~ - only')


def check_host_names(cfg, out):
    for host in cfg.cluster:
        if not HOST_NAME_RE.match(host):
            out.add([host], 'inventory_hostname', host, 'is not a plain host name (letters, digits, ., _ and -, '
                    'starting with a letter or digit, at most 63 characters): it is written into the Ray candidate '
                    'list, etcd\'s initial cluster and /etc/hosts', 'rename the host in the inventory and set its '
                    'connection address with ansible_host')


def check_mlflow_auth(cfg, out):
    if not _enabled(cfg.global_value('cslr_mlflow_enabled')):
        return
    if not _enabled(cfg.global_value('cslr_mlflow_auth_enabled')):
        out.warn('cslr_mlflow_auth_enabled', 'MLflow authentication is off: anyone who reaches MLflow\'s port (every '
                 'process on every cluster host, the admin networks) reads, changes and deletes every experiment, '
                 'run and artifact. Remove cslr_mlflow_auth_enabled: false to turn it back on')
        return
    for host in cfg.cluster:
        value = cfg.get(host, 'cslr_mlflow_admin_password')
        if isinstance(value, str):
            bad = password_problem(value, 'MLflow admin')
            if bad:
                out.add([host], 'cslr_mlflow_admin_password', value, bad[0], bad[1], secret=True)
        if cfg.get(host, 'cslr_mlflow_auth_db') == cfg.get(host, 'cslr_postgres_db'):
            out.add([host], 'cslr_mlflow_auth_db', cfg.get(host, 'cslr_mlflow_auth_db'), 'is MLflow\'s own database '
                    '(cslr_postgres_db)', 'give the users their own database, e.g. mlflow_auth')


def check_secrets(cfg, out):
    mlflow = _enabled(cfg.global_value('cslr_mlflow_enabled'))
    for host in cfg.cluster:
        value = cfg.get(host, 'cslr_postgres_password')
        if mlflow and isinstance(value, str):
            bad = password_problem(value, 'database')
            if bad:
                out.add([host], 'cslr_postgres_password', value, bad[0], bad[1], secret=True)
        value = cfg.get(host, 'cslr_redis_password')
        if _enabled(cfg.get(host, 'cslr_redis_enabled')) and isinstance(value, str):
            bad = password_problem(value, 'Redis')
            if not bad and any(c in value for c in '"\\ \t'):
                bad = ('Redis password contains a double quote, a backslash or a blank',
                       'choose one without them (e.g. `openssl rand -base64 24`): it is written into redis.conf')
            if bad:
                out.add([host], 'cslr_redis_password', value, bad[0], bad[1], secret=True)
        value = cfg.get(host, 'cslr_monitoring_password')
        if _enabled(cfg.get(host, 'cslr_monitoring_enabled')) and isinstance(value, str):
            bad = password_problem(value, 'monitoring')
            if bad:
                out.add([host], 'cslr_monitoring_password', value, bad[0], bad[1], secret=True)
        value = cfg.get(host, 'cslr_marimo_token')
        if _enabled(cfg.get(host, 'cslr_marimo_enabled')) and isinstance(value, str):
            bad = password_problem(value, 'Marimo token')
            if bad:
                out.add([host], 'cslr_marimo_token', value, bad[0], bad[1], secret=True)


def _port_range(cfg, host, names):
    lo, hi = (cfg.get(host, n) for n in names)
    if _is_int(lo) and _is_int(hi) and lo <= hi:
        return (lo, hi)
    return None


def host_ports(cfg, host):
    """[(port, variable)] and {range variables: (lo, hi)} of the services that run on host: the
    services catalog's plan of the host (module_utils/_services.py, which the firewall reads too),
    with the SSH port where the firewall manages it."""
    member_of = [name for name, hosts in cfg.groups.items() if isinstance(hosts, (list, tuple)) and host in hosts]
    plan = services.host_plan(lambda name: cfg.get(host, name), member_of, _enabled)
    ports = [(value, name) for value, name in plan['ports'] if _is_int(value)]
    ssh = cfg.get(host, 'cslr_firewall_ssh_port')
    if _enabled(cfg.get(host, 'cslr_firewall_enabled')) and _is_int(ssh):
        ports.append((ssh, 'cslr_firewall_ssh_port'))
    ranges = {}
    for dummy, names in plan['ranges']:
        found = _port_range(cfg, host, names)
        if found:
            ranges['%s..%s' % names] = found
    return ports, ranges


def check_ports(cfg, out):
    for host in cfg.cluster:
        for (lo_name, hi_name), example in ((spec.RAY_WORKER_RANGE, '11000..11999'),
                                            (spec.TRAINING_RANGE, '40000..49999')):
            lo, hi = cfg.get(host, lo_name), cfg.get(host, hi_name)
            if _is_int(lo) and _is_int(hi) and lo > hi:
                out.add([host], '%s, %s' % (lo_name, hi_name), '%d, %d' % (lo, hi),
                        '%s must not be greater than %s' % (lo_name, hi_name),
                        'make the range low..high, e.g. %s' % example, raw=True)
        ports, ranges = host_ports(cfg, host)
        users = {}
        for port, name in ports:
            users.setdefault(port, []).append(name)
        for port in sorted(users):
            names = users[port]
            if len(names) > 1:
                out.add([host], ', '.join(names), port, 'Port %d is used multiple times' % port,
                        'give each service on the host its own port')
        for range_name, (lo, hi) in sorted(ranges.items()):
            what = 'the Ray worker port range' if range_name.startswith('cslr_ray') else 'the training port range'
            for port in sorted(users):
                if lo <= port <= hi:
                    out.add([host], '%s, %s' % (', '.join(users[port]), range_name), port,
                            'Port %d is used multiple times: it is inside %s %d-%d' % (port, what, lo, hi),
                            'move the port or the range so they do not overlap' if what.startswith('the training') else
                            'move the port or the worker range so they do not overlap')
        if len(ranges) == 2:
            (name_a, (lo_a, hi_a)), (name_b, (lo_b, hi_b)) = sorted(ranges.items())
            if lo_a <= hi_b and lo_b <= hi_a:
                out.add([host], '%s, %s' % (name_a, name_b), '%d-%d, %d-%d' % (lo_a, hi_a, lo_b, hi_b),
                        'the Ray worker port range and the training port range overlap',
                        'move one of them, e.g. cslr_training_min_port..max_port 40000..49999', raw=True)


def check_addresses(cfg, out):
    network = cfg.global_value('cslr_cluster_network')
    net = ipaddress.IPv4Network(network) if isinstance(network, str) else None
    by_address = {}
    for host in cfg.cluster:
        value = cfg.get(host, 'cslr_cluster_address')
        if not isinstance(value, str):
            continue
        addr = ipaddress.IPv4Address(value)
        by_address.setdefault(addr, []).append(host)
        if net is None:
            continue
        if addr not in net:
            out.add([host], 'cslr_cluster_address', value, 'is outside cslr_cluster_network %s' % network,
                    'use the host\'s address on the cluster LAN, or correct cslr_cluster_network')
        elif net.prefixlen < 31 and addr in (net.network_address, net.broadcast_address):
            out.add([host], 'cslr_cluster_address', value, 'is the network or broadcast address of %s' % network,
                    'use the host\'s own address on the cluster LAN')
    for addr, hosts in by_address.items():
        if len(hosts) > 1:
            out.add(hosts, 'cslr_cluster_address', str(addr),
                    'is used by %d hosts: %s' % (len(hosts), ', '.join(hosts)),
                    'give each host its own cluster address')


def _group_display(members):
    return show(list(members))


def _members_in_cluster(cfg, out, group, what):
    """Each host of `group` (a stack's hosts) must be a cluster host."""
    for host in _groups(cfg.groups, group):
        if host not in cfg.cluster:
            out.add([host], group + ' (group)', host, '%s host %s is not in %s' % (what, host, spec.GROUP_CLUSTER),
                    'add %s to %s or choose a cluster host' % (host, spec.GROUP_CLUSTER))


def check_groups(cfg, out):
    if not cfg.cluster:
        out.add([], spec.GROUP_CLUSTER + ' (group)', [], 'has no hosts',
                'put every platform host in the group %s' % spec.GROUP_CLUSTER)
    candidates = _groups(cfg.groups, spec.GROUP_HEAD_CANDIDATES)
    if not candidates:
        out.add([], spec.GROUP_HEAD_CANDIDATES + ' (group)', [], 'head_whitelist must not be empty',
                'add the hosts that may become Ray head to the group %s, in priority order'
                % spec.GROUP_HEAD_CANDIDATES)
    for host in candidates:
        if host not in cfg.cluster:
            out.add([host], spec.GROUP_HEAD_CANDIDATES + ' (group)', host,
                    'head candidate %s is not in %s' % (host, spec.GROUP_CLUSTER),
                    'add %s to %s or remove it from %s' % (host, spec.GROUP_CLUSTER, spec.GROUP_HEAD_CANDIDATES))
        elif cfg.get(host, 'cslr_ray_enabled') is False:
            out.add([host], 'cslr_ray_enabled', False, 'head candidate %s does not run Ray' % host,
                    'set cslr_ray_enabled: true on it or remove it from %s' % spec.GROUP_HEAD_CANDIDATES)
    for host in _groups(cfg.groups, spec.GROUP_GPU):
        if host not in cfg.cluster:
            out.add([host], spec.GROUP_GPU + ' (group)', host,
                    'GPU host %s is not in %s' % (host, spec.GROUP_CLUSTER),
                    'add %s to %s or remove it from %s' % (host, spec.GROUP_CLUSTER, spec.GROUP_GPU))
    mlflow_hosts = _groups(cfg.groups, spec.GROUP_MLFLOW)
    if _enabled(cfg.global_value('cslr_mlflow_enabled')):
        if len(mlflow_hosts) != 1:
            out.add([], spec.GROUP_MLFLOW + ' (group)', _group_display(mlflow_hosts),
                    'MLflow is enabled, so exactly one host is needed (found %d)' % len(mlflow_hosts),
                    'put exactly one host in %s, or set cslr_mlflow_enabled: false' % spec.GROUP_MLFLOW, raw=True)
        _members_in_cluster(cfg, out, spec.GROUP_MLFLOW, 'MLflow')
    monitoring_hosts = _groups(cfg.groups, spec.GROUP_MONITORING)
    if _enabled(cfg.global_value('cslr_monitoring_enabled')):
        if len(monitoring_hosts) != 1:
            out.add([], spec.GROUP_MONITORING + ' (group)', _group_display(monitoring_hosts),
                    'the monitoring stack is enabled, so exactly one host is needed to run Prometheus (found %d)'
                    % len(monitoring_hosts), 'put exactly one host in %s, or set cslr_monitoring_enabled: false'
                    % spec.GROUP_MONITORING, raw=True)
        _members_in_cluster(cfg, out, spec.GROUP_MONITORING, 'monitoring')
    members = _groups(cfg.groups, spec.GROUP_RENDEZVOUS)
    if _enabled(cfg.global_value('cslr_rendezvous_enabled')):
        if len(members) not in (1, 3):
            out.add([], spec.GROUP_RENDEZVOUS + ' (group)', _group_display(members),
                    'the rendezvous stack is enabled, so etcd needs 1 or 3 hosts (found %d): 1 member, or 3 that '
                    'keep a quorum when one is lost (2 would stop when either is lost)' % len(members),
                    'put 1 or 3 hosts in %s, or set cslr_rendezvous_enabled: false' % spec.GROUP_RENDEZVOUS,
                    raw=True)
        _members_in_cluster(cfg, out, spec.GROUP_RENDEZVOUS, 'rendezvous')


_TAG_VERSION = re.compile(r'^v?(\d+\.\d+\.\d+)(?=$|[-_.+])')
_TAG_PYTHON = re.compile(r'(?:^|[-_.])py(3)(\d+)(?=$|[-_.])')


def image_tag(image):
    name = image.rsplit('/', 1)[-1]
    if '@' in name:
        name = name.split('@', 1)[0]
    return name.split(':', 1)[1] if ':' in name else None


def ray_image_versions(image):
    """(ray_version or None, python_version or None) read from an image tag."""
    tag = image_tag(image) or ''
    match = _TAG_VERSION.match(tag)
    py = _TAG_PYTHON.search(tag)
    return (match.group(1) if match else None), ('%s.%s' % py.groups() if py else None)


def check_ray_versions(cfg, out):
    version = cfg.global_value('cslr_ray_version')
    python = cfg.global_value('cslr_ray_python_version')
    gpu_hosts = _groups(cfg.groups, spec.GROUP_GPU)
    for host in cfg.cluster:
        if not _enabled(cfg.get(host, 'cslr_ray_enabled')):
            continue
        name = 'cslr_ray_gpu_image' if host in gpu_hosts else 'cslr_ray_image'
        image = cfg.get(host, name)
        if not isinstance(image, str):
            continue
        tag_version, tag_python = ray_image_versions(image)
        if tag_version is None:
            example = '%s:%s%s%s' % (image.rsplit(':', 1)[0] if image_tag(image) else image, version,
                                     '-py' + python.replace('.', '') if isinstance(python, str) else '',
                                     '-gpu' if name == 'cslr_ray_gpu_image' else '')
            out.add([host], name, image, 'the tag of the Ray image does not start with a Ray version',
                    'pin the image to the cluster\'s Ray version, e.g. %s' % example)
        elif isinstance(version, str) and tag_version != version:
            out.add([host], name, image, 'the Ray image carries Ray %s but cslr_ray_version is %s (one Ray version '
                    'across hosts)' % (tag_version, version),
                    'use a Ray %s image on every host, or change cslr_ray_version' % version)
        if tag_python and isinstance(python, str) and tag_python != python:
            out.add([host], name, image, 'the Ray image carries Python %s but cslr_ray_python_version is %s (one '
                    'Python version across hosts)' % (tag_python, python),
                    'use a py%s image on every host, or change cslr_ray_python_version' % python.replace('.', ''))


_TAG_ETCD = re.compile(r'^v?(\d+)\.(\d+)(?=$|[-_.+])')


def check_rendezvous(cfg, out):
    if not _enabled(cfg.global_value('cslr_rendezvous_enabled')):
        return
    image = cfg.global_value('cslr_rendezvous_image')
    if not isinstance(image, str) or not _enabled(cfg.global_value('cslr_rendezvous_v2_api')):
        return
    match = _TAG_ETCD.match(image_tag(image) or '')
    if match and (int(match.group(1)), int(match.group(2))) >= (3, 6):
        out.add([], 'cslr_rendezvous_image', image, 'etcd %s.%s has no v2 API (etcd 3.6 removed it), which torch\'s '
                'etcd and etcd-v2 rendezvous backends need (cslr_rendezvous_v2_api is true)' % match.groups(),
                'use an etcd 3.5 image, e.g. quay.io/coreos/etcd:v3.5.21')


def check_training(cfg, out):
    for host in cfg.cluster:
        key_id = cfg.get(host, 'cslr_checkpoint_s3_access_key_id')
        secret = cfg.get(host, 'cslr_checkpoint_s3_secret_access_key')
        if (not key_id) != (not secret):
            given, missing = (('cslr_checkpoint_s3_access_key_id', 'cslr_checkpoint_s3_secret_access_key')
                              if not secret else
                              ('cslr_checkpoint_s3_secret_access_key', 'cslr_checkpoint_s3_access_key_id'))
            out.add([host], missing, cfg.get(host, missing), 'is not set but %s is: S3 needs both' % given,
                    'set both S3 credentials (in Ansible Vault), or neither')


_ULIMITS = ('memlock', 'stack', 'nofile', 'core', 'nproc')
_JOB_ENV = re.compile(r'^(NCCL|GLOO|TORCH|TORCHELASTIC|CUDA|UCX)_[A-Z0-9_]+$')
_IFNAME = re.compile(r'^[A-Za-z0-9_.:@-]{1,15}$')
MIN_EPHEMERAL_PORTS = 4096


def _training_hosts(cfg):
    gpu = set(cfg.groups.get('cslr_gpu_hosts', ()))
    out = []
    for host in cfg.cluster:
        enabled = cfg.get(host, 'cslr_training_enabled')
        if (host in gpu) if enabled is None else _enabled(enabled):
            out.append(host)
    return out


def check_training_runtime(cfg, out):
    """The training hosts' container settings, fabric addresses and the kernel port range."""
    hosts = _training_hosts(cfg)
    seen = {}
    for host in hosts:
        limits = cfg.get(host, 'cslr_training_ulimits')
        if isinstance(limits, dict):
            for name, value in sorted(limits.items()):
                if name not in _ULIMITS:
                    close = difflib.get_close_matches(str(name), _ULIMITS, n=1)
                    out.add([host], 'cslr_training_ulimits', limits, 'names %s, not a limit Docker sets' % show(name),
                            'use %s' % (close[0] if close else ', '.join(_ULIMITS)))
                elif isinstance(value, bool) or not isinstance(value, int) or value < -1:
                    out.add([host], 'cslr_training_ulimits', limits, '%s = %s is not a whole number or -1' % (
                        name, show(value)), 'write e.g. %s: -1 (unlimited) or %s: 67108864' % (name, name))
                elif name == 'nofile' and value == -1:
                    out.add([host], 'cslr_training_ulimits', limits, 'nofile = -1: the kernel has no unlimited open '
                            'files (its ceiling is fs.nr_open), so no container with it would start',
                            'write a number, e.g. nofile: 1048576')
        env = cfg.get(host, 'cslr_training_nccl_env')
        if isinstance(env, dict):
            for name, value in sorted(env.items()):
                if not isinstance(name, str) or not _JOB_ENV.match(name):
                    out.add([host], 'cslr_training_nccl_env', env, '%s is not a NCCL_/GLOO_/TORCH_/TORCHELASTIC_/'
                            'CUDA_/UCX_ variable' % show(name), 'set other variables in the job itself')
                elif isinstance(value, (dict, list)) or value is None:
                    out.add([host], 'cslr_training_nccl_env', env, '%s = %s is not a single value' % (
                        name, show(value)), 'write a string or a number')
        iface = cfg.get(host, 'cslr_training_interface')
        if iface is not None and not (isinstance(iface, str) and _IFNAME.match(iface)):
            out.add([host], 'cslr_training_interface', iface, 'is not a network interface name (1-15 characters)',
                    'write the name `ip -br addr` shows, e.g. ens1f0, or null')
        address = cfg.get(host, 'cslr_training_address') or cfg.get(host, 'cslr_cluster_address')
        if isinstance(address, str) and address:
            seen.setdefault(address, []).append(host)
    for address, owners in sorted(seen.items()):
        if len(owners) > 1:
            out.add(owners, 'cslr_training_address', address, 'is the training address of %d hosts' % len(owners),
                    'give each training host its own address (cslr_training_address in host_vars)')
    if not hosts:
        return
    setting = cfg.global_value('cslr_training_set_port_range')
    narrow = _enabled(cfg.global_value('cslr_firewall_enabled')) if setting is None else _enabled(setting)
    low, high = cfg.global_value('cslr_training_min_port'), cfg.global_value('cslr_training_max_port')
    if narrow and isinstance(low, int) and isinstance(high, int) and 0 < high - low + 1 < MIN_EPHEMERAL_PORTS:
        out.add([], 'cslr_training_min_port', low, 'with cslr_training_max_port %d leaves %d ephemeral ports to '
                'every connection of the training hosts (the kernel range is set to it: '
                'cslr_training_set_port_range), fewer than %d' % (high, high - low + 1, MIN_EPHEMERAL_PORTS),
                'widen the range to at least %d ports, e.g. 40000-49999, or set cslr_training_set_port_range: false'
                % MIN_EPHEMERAL_PORTS)


_ON_CALENDAR = re.compile(r'^[A-Za-z0-9 *:,./~+-]{1,100}$')


def check_mlflow_backup(cfg, out):
    for host in cfg.groups.get('cslr_mlflow_hosts', ()):
        if host not in cfg.cluster:
            continue
        value = cfg.get(host, 'cslr_mlflow_backup_schedule')
        if isinstance(value, str) and not _ON_CALENDAR.match(value):
            out.add([host], 'cslr_mlflow_backup_schedule', value, 'is not a systemd calendar expression (it is '
                    'written into a timer unit: letters, digits, blanks and * : , . / ~ + - only, one line)',
                    'write e.g. daily, or *-*-* 03:00:00 (systemd-analyze calendar checks one)')


_REGISTRY = re.compile(r'^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$')


def check_registry(cfg, out):
    for host in cfg.cluster:
        url = cfg.get(host, 'cslr_images_registry_url')
        user = cfg.get(host, 'cslr_images_registry_username')
        password = cfg.get(host, 'cslr_images_registry_password')
        ca = cfg.get(host, 'cslr_images_registry_ca_cert')
        if isinstance(url, str) and url and not _REGISTRY.match(url):
            bare = re.sub(r'^[a-z]+://', '', url).split('/', 1)[0]
            out.add([host], 'cslr_images_registry_url', url,
                    'is not a registry host: Docker wants HOST[:PORT], the prefix of the image references',
                    'write %s' % (bare or 'registry.example.org:5000'))
        if (not user) != (not password):
            given, missing = (('cslr_images_registry_username', 'cslr_images_registry_password') if not password
                              else ('cslr_images_registry_password', 'cslr_images_registry_username'))
            out.add([host], missing, cfg.get(host, missing), 'is not set but %s is: a registry login needs both'
                    % given, 'set both (the password in Ansible Vault), or neither for public images')
        if user and not url:
            out.add([host], 'cslr_images_registry_url', url, 'is not set but cslr_images_registry_username is: '
                    'there is no registry to log in to', 'set cslr_images_registry_url to HOST[:PORT] of the '
                    'registry that serves your images')
        if isinstance(ca, str) and ca and 'BEGIN CERTIFICATE' not in ca:
            out.add([host], 'cslr_images_registry_ca_cert', '<%d characters>' % len(ca),
                    'is not a PEM certificate', 'paste the CA certificate, -----BEGIN CERTIFICATE----- ... '
                    '-----END CERTIFICATE----- (e.g. "{{ lookup(\'ansible.builtin.file\', \'files/registry-ca.crt\') }}")')
        if isinstance(ca, str) and ca and not url:
            out.add([host], 'cslr_images_registry_url', url, 'is not set but cslr_images_registry_ca_cert is',
                    'set cslr_images_registry_url to HOST[:PORT] of the registry that CA signed')


def check_image_builds(cfg, out):
    """cslr_images_build: in pull mode each built image is pushed to cslr_images_registry_url, so its
    reference must name that registry; one reference is built once."""
    builds = cfg.global_value('cslr_images_build')
    if not isinstance(builds, list):
        return
    source = cfg.global_value('cslr_images_source')
    url = cfg.global_value('cslr_images_registry_url')
    seen = set()
    for index, item in enumerate(builds):
        image = item.get('image') if isinstance(item, dict) else None
        if not isinstance(image, str):
            continue  # the item's shape is checked with the variable's value
        if image in seen:
            out.add([], 'cslr_images_build', image, 'item %d builds %s a second time' % (index + 1, image),
                    'build each image once (one item per image)')
        seen.add(image)
        if source != 'pull':
            continue
        if not url:
            out.add([], 'cslr_images_registry_url', url, 'is not set but cslr_images_build builds %s and '
                    'cslr_images_source is pull: the hosts pull it from a registry' % image,
                    'set cslr_images_registry_url (the registry the image is pushed to), or use '
                    'cslr_images_source: archive')
        elif not image.startswith(url.rstrip('/') + '/'):
            out.add([], 'cslr_images_build', image, 'item %d: %s is pushed to the registry and pulled from there, '
                    'but it does not name cslr_images_registry_url (%s)' % (index + 1, image, url),
                    'name it %s/%s' % (url.rstrip('/'), image.split('/', 1)[-1] if '.' in image.split('/')[0]
                                       or ':' in image.split('/')[0] else image))


def _networks(cfg, host):
    nets = []
    network = cfg.get(host, 'cslr_cluster_network')
    if isinstance(network, str):
        nets.append(('cslr_cluster_network', ipaddress.IPv4Network(network)))
    for cidr in cfg.get(host, 'cslr_admin_networks') or []:
        nets.append(('cslr_admin_networks', ipaddress.IPv4Network(cidr)))
    return nets


def check_docker(cfg, out):
    for host in cfg.cluster:
        pools = cfg.get(host, 'cslr_docker_address_pools')
        if not isinstance(pools, list):
            continue
        nets = _networks(cfg, host)
        for index, pool in enumerate(pools, 1):
            base = ipaddress.IPv4Network(pool['base'])
            if pool['size'] < base.prefixlen:
                out.add([host], 'cslr_docker_address_pools', pools, 'item %d size %d is shorter than the prefix of '
                        'its base %s' % (index, pool['size'], base),
                        'use a size of at least %d (24 is usual)' % base.prefixlen)
            for name, net in nets:
                if base.overlaps(net):
                    out.add([host], 'cslr_docker_address_pools', pools, 'item %d base %s overlaps %s %s'
                            % (index, base, name, net),
                            'choose a base outside it, e.g. the default 172.24.0.0/14')


def check_gpu(cfg, out):
    gpu_hosts = _groups(cfg.groups, spec.GROUP_GPU)
    for host in cfg.cluster:
        if host in gpu_hosts:
            continue
        gpus = cfg.get(host, 'cslr_ray_num_gpus')
        if _enabled(cfg.get(host, 'cslr_ray_enabled')) and _is_int(gpus) and gpus > 0:
            out.add([host], 'cslr_ray_num_gpus', gpus, 'GPUs requested on a host that is not in %s' % spec.GROUP_GPU,
                    'add the host to %s or set cslr_ray_num_gpus to 0 or null' % spec.GROUP_GPU)
        gpus = cfg.get(host, 'cslr_marimo_gpus')
        if _enabled(cfg.get(host, 'cslr_marimo_enabled')) and _is_int(gpus) and gpus > 0:
            out.add([host], 'cslr_marimo_gpus', gpus, 'GPUs requested on a host that is not in %s' % spec.GROUP_GPU,
                    'add the host to %s or set cslr_marimo_gpus: 0' % spec.GROUP_GPU)


def memory_mib(value):
    """'8g' / '512m' -> MiB (int), else None."""
    if not isinstance(value, str) or not re.match(r'^\d+[gmGM]$', value):
        return None
    return int(value[:-1]) * (1024 if value[-1] in 'gG' else 1)


def check_memory(cfg, out):
    for host in cfg.cluster:
        if not _enabled(cfg.get(host, 'cslr_ray_enabled')):
            continue
        shm, mem = cfg.get(host, 'cslr_ray_shm_size'), cfg.get(host, 'cslr_ray_memory')
        if memory_mib(shm) and memory_mib(mem) and memory_mib(shm) >= memory_mib(mem):
            out.add([host], 'cslr_ray_shm_size', shm, 'is not smaller than cslr_ray_memory (%s): /dev/shm counts '
                    'against the container\'s memory limit, Ray\'s workers would have none left' % mem,
                    'leave cslr_ray_shm_size null (30%% of the memory) or set it below %s' % mem)


def merge(errors, cluster):
    """One error per (variable, value, message, fix), with the union of hosts, first-seen order."""
    merged = []
    index = {}
    order = dict((h, i) for i, h in enumerate(cluster))
    for error in errors:
        key = (error.variable, error.value, error.message, error.fix, not error.hosts)
        if key in index:
            target = merged[index[key]]
            hosts = list(target.hosts) + [h for h in error.hosts if h not in target.hosts]
            target.hosts = tuple(sorted(hosts, key=lambda h: (order.get(h, len(order)), h)))
        else:
            index[key] = len(merged)
            merged.append(ConfigError(error.hosts, error.variable, error.value, error.message, error.fix))
    return merged


def validate(hostvars, groups, external=()):
    """All configuration errors (merged ConfigError list) and the cluster host list.

    external: Vars of roles with hand-written defaults (_config_spec.role_layout), known by name and
    checked by type when their argument spec gives one.
    """
    errors, _warnings, cluster = validate_all(hostvars, groups, external)
    return errors, cluster


def validate_all(hostvars, groups, external=(), job_vars=None):
    """(errors, warning lines, cluster hosts): validate() plus the warnings about explicit insecure choices.
    job_vars: the play's variables, where an AWX/Tower job shows itself (awx_job_id)."""
    cfg = _Config(hostvars, groups, external)
    out = _Collector()
    check_groups(cfg, out)
    check_names(cfg, out)
    check_values(cfg, out)
    check_scope(cfg, out)
    check_required(cfg, out)
    check_secrets(cfg, out)
    check_ray_auth(cfg, out)
    check_awx_ray_token(cfg, out, job_vars)
    check_mlflow_auth(cfg, out)
    check_paths(cfg, out)
    check_host_names(cfg, out)
    check_memory(cfg, out)
    check_addresses(cfg, out)
    check_ports(cfg, out)
    check_ray_versions(cfg, out)
    check_rendezvous(cfg, out)
    check_training(cfg, out)
    check_training_runtime(cfg, out)
    check_mlflow_backup(cfg, out)
    check_registry(cfg, out)
    check_image_builds(cfg, out)
    check_docker(cfg, out)
    check_gpu(cfg, out)
    return merge(out.errors, cfg.cluster), out.warnings, cfg.cluster


def report(errors, cluster):
    """The lines printed for errors."""
    return [e.line(cluster) for e in errors]
