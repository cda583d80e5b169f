# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the cslr.platform collection. Not a public API: names and return shapes
# may change in any release without notice. Import it only from this collection's own
# plugins (cslr.platform.import_config) and tests.
#
# Maps a config.yaml of the original single-host `ws` tool to this collection's variables.
# Pure functions over the parsed YAML (a dict). Rules:
#   * MODEL is the original's whole model (a pydantic-settings model: see the original tool's
#     source); every leaf of it is either mapped to a cslr_ variable (MAPPING) or reported in
#     the output's header with the reason or the per-host instruction (NOTES). The tests check
#     that no leaf is left out;
#   * values are parsed as the original did (pydantic's lax mode: "4" is 4, "yes" is true);
#     a value the original refused refuses the import, naming the original key, the cslr_
#     variable and the validator's message;
#   * a value the original accepted is never refused: when it breaks one of this platform's
#     own rules it is imported and listed in the header (and as a warning), and the validator
#     refuses it with its usual message;
#   * unknown top-level keys were an error of the original ("Extra inputs are not permitted"),
#     unknown keys inside a section were dropped silently: here they are listed as ignored;
#   * values that differ per host or per group of hosts are never written as variables (the
#     file is used as extra vars, which override host_vars and group_vars): the header says
#     where to set them.

from __future__ import annotations

import collections
import difflib
import math
import re

from ansible_collections.cslr.platform.plugins.module_utils import _config_spec as spec
from ansible_collections.cslr.platform.plugins.module_utils import _validate

NODES_YAML_MESSAGE = ('nodes.yaml is no longer supported.\n'
                      'Please move nodes settings into config.yaml > nodes section.')

# Leaf kinds of MODEL: str, bool, port (int 1024-65535), int (whole number), int>=N, num>=N,
# cpus (number > 0), memory (^\d+[gmGM]$, > 0), cidr (strict network address), names (list of
# strings), any (not looked into). Every leaf may be null (= not set: the original's default).
_BUILD = {'enabled': ('bool', False), 'dockerfile': ('str', 'Dockerfile'), 'target': ('str', ''),
          'context': ('str', '.')}


def _node(head, dashboard, client):
    return {
        'enabled': ('bool', True), 'image': ('str', None), 'build': dict(_BUILD),
        'cpus': ('cpus', None), 'memory': ('memory', None),
        'head_port': ('port', head), 'dashboard_port': ('port', dashboard), 'client_port': ('port', client),
        'node_ip_address': ('str', None), 'node_manager_port': ('int', None), 'object_manager_port': ('int', None),
        'min_worker_port': ('int', None), 'max_worker_port': ('int', None),
    }


# The original tool's whole config.yaml model: section -> {key: section or (kind, default)}.
MODEL = {
    'project': {'name': ('str', None), 'version': ('str', None)},
    'host': {'has_gpu': ('bool', False), 'gpu_type': ('str', None), 'hostname': ('str', 'localhost'),
             'ip_address': ('str', None)},
    'network': {'subnet': ('cidr', '172.28.0.0/16')},
    'volumes': {'mlflow_data': ('str', './data/mlflow'), 'postgres_data': ('str', './data/postgres'),
                'ray_data': ('str', None)},
    'services': {
        'health': {'enabled': ('bool', True), 'port': ('port', 8888)},
        'ray': {'image': ('str', None), 'build': dict(_BUILD),
                'cpu': _node(6379, 8265, 10001), 'gpu': _node(6380, 8266, 10002)},
        'redis': {'enabled': ('bool', True), 'image': ('str', 'redis:7-alpine'), 'port': ('port', 6381)},
        'mlflow': {'enabled': ('bool', True), 'image': ('str', 'ghcr.io/mlflow/mlflow:latest'), 'port': ('port', 5000),
                   'postgres': {'enabled': ('bool', True), 'image': ('str', 'postgres:16-alpine'),
                                'user': ('str', 'mlflow'), 'password': ('str', 'CHANGE_ME_INVALID_PASSWORD'),
                                'database': ('str', 'mlflow')}},
        'marimo': {'enabled': ('bool', True), 'image': ('str', 'marimo-labs/marimo:latest'), 'build': dict(_BUILD),
                   'port': ('port', 8080)},
    },
    'nodes': {
        'head_whitelist': ('names', ['ray-cpu', 'ray-gpu']), 'head_address': ('str', None),
        'health_service': {'url': ('str', 'http://health:8080'), 'timeout': ('num>=1', 1),
                           'max_retries': ('int>=0', 3), 'retry_interval': ('num>=0', 0.5)},
        'cluster': {'discovery_timeout': ('int>=1', 5), 'wait_for_head': ('int>=1', 30)},
    },
    'cluster_test': ('any', None),
}

# Sections of MODEL that may be null as a whole (a build block).
_NULLABLE_SECTIONS = ('build',)

# The original rejected these PostgreSQL passwords (with MLflow and PostgreSQL both enabled).
ORIGINAL_INSECURE_PASSWORDS = ('', 'mlflow', 'changeme', 'password', 'CHANGE_ME_INVALID_PASSWORD')

_PORTS = ('head_port', 'dashboard_port', 'client_port', 'node_manager_port', 'object_manager_port',
          'min_worker_port', 'max_worker_port')
_PORT_VARS = {'head_port': 'cslr_ray_gcs_port', 'dashboard_port': 'cslr_ray_dashboard_port',
              'client_port': 'cslr_ray_client_server_port', 'node_manager_port': 'cslr_ray_node_manager_port',
              'object_manager_port': 'cslr_ray_object_manager_port', 'min_worker_port': 'cslr_ray_min_worker_port',
              'max_worker_port': 'cslr_ray_max_worker_port'}
_PER_TYPE = {'cpus': 'cslr_ray_cpus', 'memory': 'cslr_ray_memory'}

_PORT_HOW = ('from the first enabled node type (cpu, else gpu): one Ray node per host, the same ports on every '
             'host; the other node type\'s value is listed in the header')
_PER_TYPE_HOW = ('written when both node types agree (or one is disabled); when the CPU and the GPU node differ '
                 'the header says to set it in group_vars/all.yml and group_vars/cslr_gpu_hosts.yml instead')

# Original key path -> (cslr_ variable, how it is mapped: '' = as it is).
MAPPING = (
    ('project.name', 'cslr_project_name', ''),
    ('network.subnet', 'cslr_docker_address_pools', 'as `[{base: SUBNET, size: 24 or its prefix}]`'),
    ('services.health.enabled', 'cslr_health_enabled', ''),
    ('services.health.port', 'cslr_health_port', ''),
    ('services.ray.image', 'cslr_ray_image', 'and `cslr_ray_gpu_image`, each where the node type\'s own image is '
                                             'unset (as the original did)'),
    ('services.ray.cpu.image', 'cslr_ray_image', ''),
    ('services.ray.gpu.image', 'cslr_ray_gpu_image', ''),
    ('services.ray.cpu.enabled', 'cslr_ray_enabled', 'written unless only the GPU node was enabled (then the header '
                                                     'says to set it false in the host_vars of non-GPU hosts)'),
    ('services.ray.cpu.cpus', 'cslr_ray_cpus', 'a whole number (Ray\'s `--num-cpus`; a fraction is rounded down, '
                                               'at least 1); ' + _PER_TYPE_HOW),
    ('services.ray.gpu.cpus', 'cslr_ray_cpus', 'as services.ray.cpu.cpus'),
    ('services.ray.cpu.cpus', 'cslr_ray_cpu_limit', 'the container\'s CPU limit, the value as it is; ' + _PER_TYPE_HOW),
    ('services.ray.gpu.cpus', 'cslr_ray_cpu_limit', 'as services.ray.cpu.cpus'),
    ('services.ray.cpu.memory', 'cslr_ray_memory', _PER_TYPE_HOW),
    ('services.ray.gpu.memory', 'cslr_ray_memory', _PER_TYPE_HOW),
) + tuple(('services.ray.%s.%s' % (node, key), _PORT_VARS[key], _PORT_HOW)
          for key in _PORTS for node in ('cpu', 'gpu')) + (
    ('services.redis.image', 'cslr_redis_image', ''),
    ('services.redis.port', 'cslr_redis_port', ''),
    ('services.mlflow.enabled', 'cslr_mlflow_enabled', ''),
    ('services.mlflow.image', 'cslr_mlflow_image', ''),
    ('services.mlflow.port', 'cslr_mlflow_port', ''),
    ('services.mlflow.postgres.image', 'cslr_postgres_image', ''),
    ('services.mlflow.postgres.user', 'cslr_postgres_user', ''),
    ('services.mlflow.postgres.password', 'cslr_postgres_password', ''),
    ('services.mlflow.postgres.database', 'cslr_postgres_db', ''),
    ('services.marimo.image', 'cslr_marimo_image', ''),
    ('services.marimo.port', 'cslr_marimo_port', ''),
    ('nodes.head_address', 'cslr_head_address', ''),
    ('nodes.health_service.timeout', 'cslr_health_timeout', ''),
    ('nodes.health_service.max_retries', 'cslr_health_max_retries', ''),
    ('nodes.health_service.retry_interval', 'cslr_health_retry_interval', ''),
    ('nodes.cluster.discovery_timeout', 'cslr_ray_discovery_timeout', ''),
    ('nodes.cluster.wait_for_head', 'cslr_ray_wait_for_head', ''),
)

_BUILD_REASON = ('the original built this image locally (`docker compose build`; enabled: false built nothing). '
                 'Custom images are built with the platform\'s custom image path (see docs/images.md); set %s to '
                 'the image built that way')
_NODE_IP_REASON = ('per host: Ray runs with --node-ip-address = the host\'s cslr_cluster_address; set '
                   'cslr_cluster_address in the host_vars of that host')
_CPU_LIMIT = ('Ray\'s CPU count (cslr_ray_cpus) is a whole number: %s becomes %d; the container\'s CPU limit '
              '(cslr_ray_cpu_limit) keeps %s')

# Original key path (or a whole block) -> (why it is not a variable, variable whose rules the value is checked
# against or None). Texts of keys that depend on the value are completed in convert().
NOTES = (
    ('project.version', 'not applicable: the original wrote it only into the headers of the files it generated',
     None),
    ('host.has_gpu', 'per host: put the host in the inventory group cslr_gpu_hosts when it has an NVIDIA GPU '
                     '(the nvidia role checks its driver; there is no probe to override)', None),
    ('host.gpu_type', 'per host: put the host in the inventory group cslr_gpu_hosts (NVIDIA is the only GPU type; '
                      'there is no probe to skip)', None),
    ('host.hostname', 'reserved and unused by the original: not applicable (the inventory names the hosts)', None),
    ('host.ip_address', 'per host: set cslr_cluster_address: ADDRESS in the host_vars of that host (null, '
                        'auto-detected by the original: every host\'s cslr_cluster_address is required here)',
     'cslr_cluster_address'),
    ('network.subnet (as such)', 'the Docker bridge of one host; it becomes the Docker address pool (size /24 or '
                                 'its own prefix). The cluster LAN is cslr_cluster_network, which you set', None),
    ('volumes.mlflow_data', 'not applicable: MLflow\'s artifacts live in the Docker volume '
                            'CSLR_PROJECT_NAME-mlflow-artifacts on the cslr_mlflow_hosts host; no cslr_ variable '
                            'sets a host directory for them. To keep old artifacts, copy this directory (relative '
                            'to the original\'s project directory, where config.yaml was) into that volume', None),
    ('volumes.postgres_data', 'not applicable: the database lives in the Docker volume '
                              'CSLR_PROJECT_NAME-mlflow-postgres on the cslr_mlflow_hosts host; no cslr_ variable '
                              'sets a host directory for it. To keep old runs, pg_dump the original\'s database '
                              '(custom format) and load it with playbooks/mlflow_restore.yml', None),
    ('volumes.ray_data', 'reserved and unused by the original: not applicable (Ray\'s logs and session files are '
                         'kept in cslr_ray_log_dir)', None),
    ('services.ray.build', _BUILD_REASON % 'cslr_ray_image and cslr_ray_gpu_image', None),
    ('services.ray.cpu.build', _BUILD_REASON % 'cslr_ray_image', None),
    ('services.ray.gpu.build', _BUILD_REASON % 'cslr_ray_gpu_image', None),
    ('services.ray.cpu.node_ip_address', _NODE_IP_REASON, 'cslr_cluster_address'),
    ('services.ray.gpu.node_ip_address', _NODE_IP_REASON, 'cslr_cluster_address'),
    ('services.ray.gpu.enabled', 'GPU Ray nodes run on the hosts of the group cslr_gpu_hosts (false: leave the '
                                 'group empty, or set cslr_ray_enabled: false in the host_vars of its hosts)',
     'cslr_ray_enabled'),
    ('services.redis.enabled', 'Redis runs where cslr_redis_enabled is true: set it in the host_vars of the host '
                               'that should run it', 'cslr_redis_enabled'),
    ('services.mlflow.postgres.enabled', 'this platform always keeps MLflow\'s backend store in PostgreSQL (on the '
                                         'cslr_mlflow_hosts host, with cslr_postgres_password); false (MLflow '
                                         'without PostgreSQL) imports as MLflow WITH PostgreSQL, and the runs of '
                                         'the original\'s file store are not carried over', None),
    ('services.marimo.enabled', 'Marimo runs where cslr_marimo_enabled is true: set it in the host_vars of the '
                                'host that should run it', 'cslr_marimo_enabled'),
    ('services.marimo.build', _BUILD_REASON % 'cslr_marimo_image', None),
    ('nodes.head_whitelist', 'head candidates are the inventory group cslr_ray_head_candidates (inventory order = '
                             'priority); the original names were container hostnames', None),
    ('nodes.health_service.url', 'each host\'s health service is reached at cslr_cluster_address:cslr_health_port',
     None),
    ('cluster_test', 'not applicable: the original\'s `ws test` harness; it is replaced by playbooks/smoke_test.yml',
     None),
)

# Keys outside the model that the original's guides showed: what to set instead (they were ignored).
IGNORED_HINTS = {
    'services.ray.cpu.shm_size': 'the /dev/shm size it meant is cslr_ray_shm_size (set it for the non-GPU hosts)',
    'services.ray.gpu.shm_size': 'the /dev/shm size it meant is cslr_ray_shm_size (set it in '
                                 'group_vars/cslr_gpu_hosts.yml)',
    'services.health.image': 'the health image is cslr_health_image here',
}

Note = collections.namedtuple('Note', 'path shown reason kind')
# kind: note (not imported, why), host (to set per host or per group in the inventory),
# ignored (not in the original's model), check (imported, but fails this platform's rules).

_WHOLE = re.compile(r'^\s*[+-]?\d+\s*$')
_NUMBER = re.compile(r'^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$')
_TRUE = ('1', 'on', 't', 'true', 'y', 'yes')
_FALSE = ('0', 'off', 'f', 'false', 'n', 'no')


class ImportRefused(Exception):
    """The config.yaml cannot be imported; .errors lists why (secrets masked)."""

    def __init__(self, errors):
        super(ImportRefused, self).__init__('\n'.join(errors))
        self.errors = errors


def model_leaves(shape=None, prefix=''):
    """Every (path, kind, default) of MODEL, in order."""
    for key, sub in (MODEL if shape is None else shape).items():
        path = prefix + key
        if isinstance(sub, dict):
            yield from model_leaves(sub, path + '.')
        else:
            yield path, sub[0], sub[1]


_LEAVES = dict((path, (kind, default)) for path, kind, default in model_leaves())
_VAR_OF = {}
for _path, _name, _how in MAPPING:
    _VAR_OF.setdefault(_path, _name)  # a key mapped to two variables is named by its first
_VAR_OF.update((path, name) for path, _reason, name in NOTES if name)
_REASON = dict((path, reason) for path, reason, _name in NOTES)


def _secret(path):
    return bool(re.search(r'pass|secret|token', path.rsplit('.', 1)[-1], re.I))


def _shown(path, value):
    return _validate.show(value, _secret(path))


def _label(path):
    name = _VAR_OF.get(path)
    return '%s (%s)' % (path, name) if name else path


def problem_text(path, value, message, fix):
    """One message line: ORIGINAL KEY (cslr_VARIABLE) = VALUE: MESSAGE. Fix: FIX."""
    return '%s = %s: %s. Fix: %s' % (_label(path), _shown(path, value), message, fix)


def _walk(data, shape, prefix, leaves, notes, errors):
    for key, value in data.items():
        path = '%s.%s' % (prefix, key) if prefix else str(key)
        if key not in shape:
            close = difflib.get_close_matches(str(key), [str(k) for k in shape], n=1)
            if not prefix:
                errors.append('%s: Extra inputs are not permitted (not a section of the original config.yaml). '
                              'Fix: %s' % (path, 'did you mean %s?' % close[0] if close else 'remove it'))
                continue
            hint = IGNORED_HINTS.get(path) or ('did you mean %s.%s?' % (prefix, close[0]) if close else '')
            notes.append(Note(path, _shown(path, value), 'ignored (the original tool dropped it silently)'
                              + ('; ' + hint if hint else ''), 'ignored'))
            continue
        if not isinstance(shape[key], dict):
            leaves[path] = value
        elif value is None:
            continue  # a null section: the original's defaults
        elif not isinstance(value, dict):
            errors.append('%s = %s: must be a mapping. Fix: write the section as in the original config.yaml'
                          % (path, _validate.show(value)))
        else:
            if key in _NULLABLE_SECTIONS:
                leaves[path] = value  # a build block: reported as a whole
            _walk(value, shape[key], path, leaves, notes, errors)


def _number(value, whole):
    """The original's (pydantic lax) int/float parsing: (number, ok)."""
    if isinstance(value, bool):
        return value, False
    if isinstance(value, int):
        return value, True
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return value, False
        if whole:
            return (int(value), True) if value.is_integer() else (value, False)
        return value, True
    if isinstance(value, str):
        if _WHOLE.match(value):
            return int(value), True
        if not whole and _NUMBER.match(value):
            return float(value), True
    return value, False


def parse(kind, value):
    """(value as the original read it, None) or (value, (message, fix)) when the original refused it."""
    if value is None or kind == 'any':
        return value, None
    if kind == 'bool':
        if isinstance(value, bool):
            return value, None
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value), None
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE, None
        return value, ('must be a boolean (true or false)', 'write true or false without quotes')
    if kind in ('str', 'memory', 'cidr'):
        if not isinstance(value, str):
            return value, _validate.check_type('str', value)
        if kind == 'memory':
            return value, _validate.check_format('memory', value)
        if kind == 'cidr':
            return value, _validate.check_format('cidr', value)
        return value, None
    if kind == 'names':
        if not (isinstance(value, list) and all(isinstance(n, str) for n in value)):
            return value, ('must be a list of names', 'write a YAML list')
        return value, None
    whole = kind in ('port', 'int') or kind.startswith('int>=')
    number, ok = _number(value, whole)
    if not ok:
        return value, (('must be a whole number', 'write a whole number without quotes') if whole
                       else ('must be a number', 'write a number without quotes'))
    if kind == 'port':
        return number, _validate.check_format('port', number)
    if kind == 'cpus' and number <= 0:
        return number, ('must be greater than 0', 'write the number of CPUs, e.g. 4')
    if '>=' in kind:
        low = int(kind.split('>=')[1])
        if number < low:
            return number, ('must be at least %d' % low, 'choose a value of %d or more' % low)
    return number, None


def _ray_cpus(value):
    """Ray's --num-cpus is a whole number (the original rendered 4.0 and Ray refused it)."""
    return max(1, int(math.floor(value)))


class _Import(object):
    """The state of one conversion."""

    def __init__(self, values, notes, errors):
        self.values = values
        self.notes = notes
        self.errors = errors
        self.emitted = {}    # cslr_ name -> (original path, value)

    def present(self, path):
        return self.values.get(path) is not None

    def get(self, path):
        value = self.values.get(path)
        return _LEAVES[path][1] if value is None and path in _LEAVES else value

    def note(self, path, reason, kind='note'):
        self.notes.append(Note(path, _shown(path, self.values.get(path)), reason, kind))

    def emit(self, name, path, value):
        self.emitted[name] = (path, value)

    def check(self, path, name, value):
        """This platform's single-value rules; a value the original accepted is imported and listed."""
        var = spec.BY_NAME[name]
        problems = _validate.check_value(var, value, set())
        if name == 'cslr_postgres_password' and isinstance(value, str) and not problems:
            bad = _validate.password_problem(value, 'database')
            problems = [bad] if bad else []
        for message, fix in problems:
            self.notes.append(Note(path, _validate.show(value, var.secret), '%s. Fix: %s' % (message, fix),
                                   'check'))


def _map_ray(imp):
    cpu_on, gpu_on = imp.get('services.ray.cpu.enabled'), imp.get('services.ray.gpu.enabled')
    primary = 'cpu' if cpu_on or not gpu_on else 'gpu'
    other = 'gpu' if primary == 'cpu' else 'cpu'
    other_on = gpu_on if other == 'gpu' else cpu_on

    # Images: the node type's own, else services.ray.image (as the original).
    for node, name in (('cpu', 'cslr_ray_image'), ('gpu', 'cslr_ray_gpu_image')):
        for path in ('services.ray.%s.image' % node, 'services.ray.image'):
            if imp.present(path):
                imp.emit(name, path, imp.values[path])
                break

    if imp.present('services.ray.cpu.enabled') or imp.present('services.ray.gpu.enabled'):
        if cpu_on or not gpu_on:
            imp.emit('cslr_ray_enabled', 'services.ray.cpu.enabled', bool(cpu_on))
        else:
            imp.note('services.ray.cpu.enabled', 'per host: the original ran only the GPU node; set '
                     'cslr_ray_enabled: false in the host_vars of the hosts outside cslr_gpu_hosts (not on head '
                     'candidates, they need Ray)', 'host')
    if imp.present('services.ray.gpu.enabled'):
        imp.note('services.ray.gpu.enabled', _REASON['services.ray.gpu.enabled'])

    for key in _PORTS:
        name = _PORT_VARS[key]
        path, other_path = 'services.ray.%s.%s' % (primary, key), 'services.ray.%s.%s' % (other, key)
        if imp.present(path):
            imp.emit(name, path, imp.values[path])
        if imp.present(other_path):
            if other_on:
                imp.note(other_path, 'one Ray node per host, the same ports on every host: every host uses %s (%s)'
                         % (name, 'from %s' % path if imp.present(path) else 'its default'))
            else:
                imp.note(other_path, 'not applicable: the original\'s %s node was disabled' % other.upper())

    for key, name in sorted(_PER_TYPE.items()):
        paths = dict((node, 'services.ray.%s.%s' % (node, key)) for node in ('cpu', 'gpu'))
        value = dict((node, imp.values.get(paths[node])) for node in paths)
        limits = {}  # cpus: the original's value, also the container's CPU limit (cslr_ray_cpu_limit)
        if key == 'cpus':
            for node, path in paths.items():
                if value[node] is not None:
                    cpus = _ray_cpus(value[node])
                    if cpus != value[node]:
                        imp.note(path, _CPU_LIMIT % (_validate.show(value[node]), cpus, _validate.show(value[node])))
                    limits[node] = float(value[node])
                    value[node] = cpus
        if cpu_on and gpu_on and value['cpu'] != value['gpu']:
            for node, where, nodes in (('cpu', 'group_vars/all.yml (or the host_vars of the hosts outside '
                                               'cslr_gpu_hosts)', 'CPU'),
                                       ('gpu', 'group_vars/cslr_gpu_hosts.yml (or the host_vars of the GPU '
                                               'hosts)', 'GPU')):
                if value[node] is not None or imp.present(paths['cpu' if node == 'gpu' else 'gpu']):
                    imp.notes.append(Note(paths[node], _validate.show(imp.values.get(paths[node])),
                                          'per group: the %s node differs from the %s node; set %s: %s%s in %s'
                                          % (nodes, 'GPU' if node == 'cpu' else 'CPU', name,
                                             _validate.show(value[node]),
                                             ' and cslr_ray_cpu_limit: %s' % _validate.show(limits[node])
                                             if node in limits else '', where), 'host'))
                    if value[node] is not None:
                        imp.check(paths[node], name, value[node])
            continue
        for node, on in (('cpu', cpu_on), ('gpu', gpu_on)):
            if value[node] is None:
                continue
            if on or not (cpu_on or gpu_on):
                imp.emit(name, paths[node], value[node])
                if node in limits:
                    imp.emit('cslr_ray_cpu_limit', paths[node], limits[node])
            else:
                imp.note(paths[node], 'not applicable: the original\'s %s node was disabled' % node.upper())

    for node in ('cpu', 'gpu'):
        path = 'services.ray.%s.node_ip_address' % node
        if imp.present(path):
            imp.note(path, 'per host: Ray runs with --node-ip-address = the host\'s cslr_cluster_address; set '
                     'cslr_cluster_address: %s in the host_vars of that host' % imp.values[path], 'host')
            imp.check(path, 'cslr_cluster_address', imp.values[path])
        low, high = 'services.ray.%s.min_worker_port' % node, 'services.ray.%s.max_worker_port' % node
        if imp.present(low) != imp.present(high):
            given = low if imp.present(low) else high
            imp.errors.append(problem_text(given, imp.values[given], 'min_worker_port and max_worker_port must be '
                                           'set together', 'set both, or neither'))
        elif imp.present(low) and imp.values[low] > imp.values[high]:
            imp.errors.append('%s, %s = %d, %d: min_worker_port must not be greater than max_worker_port. Fix: '
                              'swap them' % (_label(low), _label(high), imp.values[low], imp.values[high]))
    for path in ('services.ray.build', 'services.ray.cpu.build', 'services.ray.gpu.build'):
        if path in imp.values:
            imp.note(path, _REASON[path])


# Published ports of the one host: the original refused a port used twice among enabled services.
_HOST_PORTS = (('services.health', 'port'), ('services.ray.cpu', 'head_port'), ('services.ray.cpu', 'dashboard_port'),
               ('services.ray.cpu', 'client_port'), ('services.ray.gpu', 'head_port'),
               ('services.ray.gpu', 'dashboard_port'), ('services.ray.gpu', 'client_port'),
               ('services.redis', 'port'), ('services.mlflow', 'port'), ('services.marimo', 'port'))


def _original_port_conflicts(imp):
    ports = {}
    for section, key in _HOST_PORTS:
        if not imp.get(section + '.enabled'):
            continue
        path = '%s.%s' % (section, key)
        port = imp.get(path)
        if isinstance(port, int):
            ports.setdefault(port, []).append(path if imp.present(path) else path + ' (default)')
    return ['%s = %d: Port %d is used multiple times. Fix: give each service its own port'
            % (', '.join(paths), port, port) for port, paths in sorted(ports.items()) if len(paths) > 1]


def convert(config, nodes_yaml_exists=False):
    """(variables, notes) for a parsed original config.yaml. Raises ImportRefused.

    variables: {cslr_name: value}, in MAPPING order; only values that hold for every host.
    notes: [Note(original path, value shown masked, reason, kind)], see Note.
    """
    if nodes_yaml_exists:
        raise ImportRefused([NODES_YAML_MESSAGE])
    if config is None:
        config = {}
    errors, notes, leaves = [], [], {}
    if not isinstance(config, dict):
        raise ImportRefused(['(top level) = %s: must be a mapping. Fix: write the config.yaml of the original tool'
                             % _validate.show(config)])
    _walk(config, MODEL, '', leaves, notes, errors)

    values = {}
    for path, raw in leaves.items():
        if path not in _LEAVES:
            values[path] = raw  # a build block as a whole
            continue
        value, bad = parse(_LEAVES[path][0], raw)
        if bad:
            errors.append(problem_text(path, raw, bad[0], bad[1]))
        else:
            values[path] = value
    imp = _Import(values, notes, errors)

    whitelist = leaves.get('nodes.head_whitelist', ())
    if whitelist is None or whitelist == []:
        errors.append('nodes.head_whitelist = %s: head_whitelist must not be empty. Fix: list at least one node '
                      '(and put those hosts in the inventory group cslr_ray_head_candidates, in priority order)'
                      % _validate.show(whitelist))
    password = 'services.mlflow.postgres.password'
    if imp.get('services.mlflow.enabled') and imp.get('services.mlflow.postgres.enabled') and \
            password in leaves and values.get(password) in ORIGINAL_INSECURE_PASSWORDS:
        bad = _validate.password_problem(values[password], 'database') or (
            'Insecure database password', 'choose a long random password (e.g. `openssl rand -base64 24`) and '
            'keep it in ansible-vault')
        errors.append(problem_text(password, values[password], bad[0], bad[1]))
    errors.extend(_original_port_conflicts(imp))

    for path, name, _how in MAPPING:
        if not path.startswith('services.ray.') and imp.present(path):
            value = values[path]
            if name == 'cslr_docker_address_pools':
                prefix = int(value.rsplit('/', 1)[1])
                value = [{'base': value, 'size': max(24, prefix)}]
            imp.emit(name, path, value)
    _map_ray(imp)

    for path, reason, name in NOTES:
        if path not in values or path.startswith('services.ray.'):
            continue
        kind = 'host' if reason.startswith('per host') else 'note'
        if path == 'host.ip_address' and imp.present(path):
            reason = 'per host: set cslr_cluster_address: %s in the host_vars of that host' % values[path]
        elif path.startswith('volumes.') and imp.present('project.name'):
            reason = reason.replace('CSLR_PROJECT_NAME', str(values['project.name']))
        elif path == 'services.mlflow.postgres.enabled' and imp.get(path):
            reason = 'as here: MLflow\'s backend store is PostgreSQL'
        imp.note(path, reason, kind)
        if name and imp.present(path):
            imp.check(path, name, values[path] if name != 'cslr_ray_enabled' else bool(values[path]))
    if 'network.subnet' in values:
        imp.note('network.subnet (as such)', _REASON['network.subnet (as such)'])
        notes[-1] = notes[-1]._replace(shown=_validate.show(values['network.subnet']))

    variables = {}
    for _path, name, _how in MAPPING:
        if name in imp.emitted and name not in variables:
            path, value = imp.emitted[name]
            variables[name] = value
            imp.check(path, name, value)
    if errors:
        raise ImportRefused(errors)
    order = {}
    for index, (path, _k, _d) in enumerate(model_leaves()):
        parts = path.split('.')
        for end in range(1, len(parts) + 1):
            order.setdefault('.'.join(parts[:end]), index)  # a block sorts at its first leaf
    order['network.subnet (as such)'] = order['network.subnet']
    notes.sort(key=lambda n: (order.get(n.path, len(order)), n.path))
    return variables, notes


_SECTIONS = (
    ('note', 'Not imported (no variable here), and why:'),
    ('host', 'To set in the inventory, per host or per group (NOT in this file: extra vars override host_vars '
             'and group_vars):'),
    ('ignored', 'Ignored (the original tool dropped it silently: not part of its model):'),
    ('check', 'Imported, but it fails this platform\'s checks (the original accepted it); fix it before '
              'deploying, playbooks/validate.yml refuses it:'),
)


def render(variables, notes, source):
    """The vars file: YAML text with a header listing what was not imported and what is still to do."""
    import yaml  # controller-side only

    lines = [
        '---',
        '# Imported from the original tool\'s %s by playbooks/import_config.yml.' % source,
        '# Use it as `ansible-playbook site.yml -i INVENTORY -e @THIS_FILE`, or paste it into',
        '# group_vars/all.yml (extra vars override host_vars). Check it with',
        '# `ansible-playbook playbooks/validate.yml -i INVENTORY -e @THIS_FILE`.',
        '#',
        '# Still to do (the original tool had no equivalent):',
        '#   - set cslr_cluster_network (the cluster LAN) and each host\'s cslr_cluster_address;',
        '#   - put hosts in the groups cslr_cluster, cslr_ray_head_candidates, cslr_gpu_hosts, cslr_mlflow_hosts;',
        '#   - move cslr_postgres_password into ansible-vault (`ansible-vault encrypt_string`);',
        '#   - set cslr_mlflow_admin_password (MLflow\'s admin user; the original\'s MLflow had no users) in',
        '#     ansible-vault, and keep the generated Ray token (docs/security.md) or set cslr_ray_auth_token;',
        '#   - the original also read CSLR_<SECTION>__<KEY> environment variables and a .env file, which',
        '#     overrode config.yaml: they are not read here; put such values into config.yaml and import again.',
    ]
    for kind, title in _SECTIONS:
        items = [n for n in notes if n.kind == kind]
        if items:
            lines.append('#')
            lines.append('# ' + title)
            for note in items:
                if kind == 'check':
                    lines.append('#   - %s = %s: %s' % (_label(note.path), note.shown, note.reason))
                else:
                    lines.append('#   - %s = %s: %s' % (note.path, note.shown, note.reason))
    body = ''
    for name, value in variables.items():
        body += yaml.safe_dump({name: value}, default_flow_style=False, sort_keys=False, width=1000,
                               allow_unicode=True)
    return '\n'.join(lines) + '\n' + body


def warnings(notes):
    """The 'check' notes as warning lines (ORIGINAL KEY (cslr_VARIABLE) = VALUE: MESSAGE. Fix: FIX)."""
    return ['%s = %s: %s' % (_label(n.path), n.shown, n.reason) for n in notes if n.kind == 'check']
