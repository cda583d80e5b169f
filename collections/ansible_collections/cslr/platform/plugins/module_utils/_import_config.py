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
#   * every key of the original format is either mapped to a cslr_ variable or listed as
#     dropped, with the reason;
#   * values are carried over AS THEY ARE (the validator then refuses bad ones, naming the
#     value); the only conversion is a string of digits for a whole-number setting (the
#     original wrote cpus: "4"), which is what the original meant;
#   * a dropped value that is invalid, an unknown key (the original silently ignored them),
#     and the original's own checks on values that are not carried over (empty
#     head_whitelist, a port used twice) refuse the import.

from __future__ import annotations

import difflib
import re

from ansible_collections.cslr.platform.plugins.module_utils import _config_spec as spec
from ansible_collections.cslr.platform.plugins.module_utils import _validate

NODES_YAML_MESSAGE = ('nodes.yaml is no longer supported.\n'
                      'Please move nodes settings into config.yaml > nodes section.')

_RAY_NODE = {
    'enabled': None, 'image': None, 'cpus': None, 'memory': None, 'shm_size': None,
    'head_port': None, 'dashboard_port': None, 'client_port': None,
}
_POSTGRES = {'image': None, 'user': None, 'username': None, 'password': None, 'db': None, 'database': None}

# Original key path -> cslr_ variable.
MAPPING = (
    ('project.name', 'cslr_project_name'),
    ('network.subnet', 'cslr_docker_address_pools'),
    ('services.health.enabled', 'cslr_health_enabled'),
    ('services.health.image', 'cslr_health_image'),
    ('services.health.port', 'cslr_health_port'),
    ('services.ray.cpu.enabled', 'cslr_ray_enabled'),
    ('services.ray.cpu.image', 'cslr_ray_image'),
    ('services.ray.cpu.cpus', 'cslr_ray_cpus'),
    ('services.ray.cpu.memory', 'cslr_ray_memory'),
    ('services.ray.cpu.shm_size', 'cslr_ray_shm_size'),
    ('services.ray.cpu.head_port', 'cslr_ray_gcs_port'),
    ('services.ray.cpu.dashboard_port', 'cslr_ray_dashboard_port'),
    ('services.ray.cpu.client_port', 'cslr_ray_client_server_port'),
    ('services.ray.gpu.image', 'cslr_ray_gpu_image'),
    ('services.redis.image', 'cslr_redis_image'),
    ('services.redis.port', 'cslr_redis_port'),
    ('services.mlflow.enabled', 'cslr_mlflow_enabled'),
    ('services.mlflow.image', 'cslr_mlflow_image'),
    ('services.mlflow.port', 'cslr_mlflow_port'),
    ('services.mlflow.postgres.image', 'cslr_postgres_image'),
    ('services.mlflow.postgres.user', 'cslr_postgres_user'),
    ('services.mlflow.postgres.username', 'cslr_postgres_user'),
    ('services.mlflow.postgres.password', 'cslr_postgres_password'),
    ('services.mlflow.postgres.db', 'cslr_postgres_db'),
    ('services.mlflow.postgres.database', 'cslr_postgres_db'),
    ('services.marimo.image', 'cslr_marimo_image'),
    ('services.marimo.port', 'cslr_marimo_port'),
    ('nodes.head_address', 'cslr_head_address'),
    ('nodes.health_service.timeout', 'cslr_health_timeout'),
    ('nodes.health_service.max_retries', 'cslr_health_max_retries'),
    ('nodes.health_service.retry_interval', 'cslr_health_retry_interval'),
    ('nodes.cluster.discovery_timeout', 'cslr_ray_discovery_timeout'),
    ('nodes.cluster.wait_for_head', 'cslr_ray_wait_for_head'),
)

# Original key path -> (why it is dropped, variable whose rules the value must still pass or None).
DROPPED = (
    ('network.subnet (as such)', 'the Docker bridge of one host; it becomes the Docker address pool (size /24 or '
                                 'its own prefix). The cluster LAN is cslr_cluster_network, which you set', None),
    ('services.ray.gpu.enabled', 'GPU Ray nodes run on the hosts of the group cslr_gpu_hosts', 'cslr_ray_enabled'),
    ('services.ray.gpu.cpus', 'per-host now: set cslr_ray_cpus in the host_vars of GPU hosts', 'cslr_ray_cpus'),
    ('services.ray.gpu.memory', 'per-host now: set cslr_ray_memory in the host_vars of GPU hosts',
     'cslr_ray_memory'),
    ('services.ray.gpu.shm_size', 'per-host now: set cslr_ray_shm_size in the host_vars of GPU hosts',
     'cslr_ray_shm_size'),
    ('services.ray.gpu.head_port', 'one Ray node per host: GPU hosts use cslr_ray_gcs_port', 'cslr_ray_gcs_port'),
    ('services.ray.gpu.dashboard_port', 'one Ray node per host: GPU hosts use cslr_ray_dashboard_port',
     'cslr_ray_dashboard_port'),
    ('services.ray.gpu.client_port', 'one Ray node per host: GPU hosts use cslr_ray_client_server_port',
     'cslr_ray_client_server_port'),
    ('services.redis.enabled', 'Redis runs where cslr_redis_enabled is true: set it in the host_vars of the host '
                               'that should run it', 'cslr_redis_enabled'),
    ('services.marimo.enabled', 'Marimo runs where cslr_marimo_enabled is true: set it in the host_vars of the '
                                'host that should run it', 'cslr_marimo_enabled'),
    ('nodes.head_whitelist', 'head candidates are the inventory group cslr_ray_head_candidates (inventory order = '
                             'priority); the original names were container hostnames', None),
    ('nodes.health_service.url', 'each host\'s health service is reached at cslr_cluster_address:cslr_health_port',
     None),
)

# The accepted shape of the original format (None: a leaf).
SHAPE = {
    'project': {'name': None},
    'network': {'subnet': None},
    'services': {
        'health': {'enabled': None, 'image': None, 'port': None},
        'ray': {'cpu': dict(_RAY_NODE), 'gpu': dict(_RAY_NODE)},
        'redis': {'enabled': None, 'image': None, 'port': None},
        'mlflow': {'enabled': None, 'image': None, 'port': None, 'postgres': dict(_POSTGRES)},
        'marimo': {'enabled': None, 'image': None, 'port': None},
    },
    'nodes': {
        'head_whitelist': None, 'head_address': None,
        'health_service': {'url': None, 'timeout': None, 'max_retries': None, 'retry_interval': None},
        'cluster': {'discovery_timeout': None, 'wait_for_head': None},
    },
}

_WHOLE_NUMBER = re.compile(r'^\s*\d+\s*$')


class ImportRefused(Exception):
    """The config.yaml cannot be imported; .errors lists why (secrets masked)."""

    def __init__(self, errors):
        super(ImportRefused, self).__init__('\n'.join(errors))
        self.errors = errors


def _walk(data, shape, prefix, leaves, errors):
    if not isinstance(data, dict):
        errors.append('%s = %s: must be a mapping. Fix: write the section as in the original config.yaml'
                      % (prefix or '(top level)', _validate.show(data)))
        return
    for key, value in data.items():
        path = '%s.%s' % (prefix, key) if prefix else str(key)
        if key not in shape:
            close = difflib.get_close_matches(str(key), list(shape), n=1)
            errors.append('%s: unknown key of the original config.yaml. Fix: %s' % (
                path, 'did you mean %s?' % ('%s.%s' % (prefix, close[0]) if prefix else close[0]) if close
                else 'remove it (the original tool ignored it silently)'))
            continue
        if shape[key] is None:
            leaves[path] = value
        elif value is not None:
            _walk(value, shape[key], path, leaves, errors)


def _leaf_problem(path, name, value):
    """The spec's single-value check of value for variable name; a message or None."""
    var = spec.BY_NAME[name]
    problems = _validate.check_value(var, value, set()) if value is not None else []
    if problems:
        message, fix = problems[0]
        return '%s = %s: %s. Fix: %s' % (path, _validate.show(value, var.secret), message, fix)
    return None


def _original_port_conflicts(leaves):
    """The original tool's own check: one host, so every published port distinct."""
    ports = {}
    for path, value in leaves.items():
        if path.endswith('port') and isinstance(value, int) and not isinstance(value, bool):
            enabled = leaves.get(path.rsplit('.', 1)[0] + '.enabled', True)
            if enabled is not False:
                ports.setdefault(value, []).append(path)
    return ['%s = %d: Port %d is used multiple times. Fix: give each service its own port'
            % (', '.join(paths), port, port) for port, paths in sorted(ports.items()) if len(paths) > 1]


def convert(config, nodes_yaml_exists=False):
    """(variables, dropped) for a parsed original config.yaml. Raises ImportRefused.

    variables: {cslr_name: value}, in MAPPING order.
    dropped: [(original path, value shown masked, reason)].
    """
    if nodes_yaml_exists:
        raise ImportRefused([NODES_YAML_MESSAGE])
    if config is None:
        config = {}
    errors = []
    leaves = {}
    _walk(config, SHAPE, '', leaves, errors)
    if 'services' in config and isinstance(config.get('services'), dict):
        pg = (config['services'].get('mlflow') or {}).get('postgres') if isinstance(
            config['services'].get('mlflow'), dict) else None
        if isinstance(pg, dict):
            for a, b in (('user', 'username'), ('db', 'database')):
                if a in pg and b in pg:
                    errors.append('services.mlflow.postgres: both %s and %s are set. Fix: keep one' % (a, b))

    variables = {}
    for path, name in MAPPING:
        if path not in leaves:
            continue
        value = leaves[path]
        var = spec.BY_NAME[name]
        if name == 'cslr_docker_address_pools':
            size = 24
            if isinstance(value, str) and re.match(r'^.*/(\d+)$', value) and int(value.rsplit('/', 1)[1]) <= 32:
                size = max(24, int(value.rsplit('/', 1)[1]))
            value = [{'base': value, 'size': size}]
        elif var.type in ('int', 'float') and isinstance(value, str) and _WHOLE_NUMBER.match(value):
            value = int(value)  # the original wrote numbers as strings (cpus: "4")
        variables[name] = value

    dropped = []
    reasons = dict((p, (r, n)) for p, r, n in DROPPED)
    for path in sorted(leaves):
        if path in reasons:
            reason, name = reasons[path]
            value = leaves[path]
            if name is not None and value is not None:
                if spec.BY_NAME[name].type in ('int', 'float') and isinstance(value, str) \
                        and _WHOLE_NUMBER.match(value):
                    value = int(value)
                problem = _leaf_problem(path, name, value)
                if problem:
                    errors.append(problem)
            dropped.append((path, _validate.show(leaves[path]), reason))
    if 'network.subnet' in leaves:
        dropped.append(('network.subnet (as such)', _validate.show(leaves['network.subnet']),
                        reasons['network.subnet (as such)'][0]))

    whitelist = leaves.get('nodes.head_whitelist')
    if 'nodes' in config and ('nodes.head_whitelist' not in leaves or not whitelist):
        errors.append('nodes.head_whitelist = %s: head_whitelist must not be empty. Fix: list at least one node '
                      '(and put those hosts in the inventory group cslr_ray_head_candidates, in priority order)'
                      % _validate.show(whitelist))
    elif whitelist is not None and not (isinstance(whitelist, list) and all(isinstance(n, str) for n in whitelist)):
        errors.append('nodes.head_whitelist = %s: must be a list of names. Fix: write a YAML list'
                      % _validate.show(whitelist))
    errors.extend(_original_port_conflicts(leaves))
    if errors:
        raise ImportRefused(errors)
    return variables, dropped


def render(variables, dropped, source):
    """The vars file: YAML text with a header listing what was dropped and what is still to do."""
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
        '#     ansible-vault, and keep the generated Ray token (docs/security.md) or set cslr_ray_auth_token.',
    ]
    if dropped:
        lines.append('#')
        lines.append('# Not imported:')
        for path, shown, reason in dropped:
            lines.append('#   - %s = %s: %s' % (path, shown, reason))
    body = ''
    for name, value in variables.items():
        body += yaml.safe_dump({name: value}, default_flow_style=False, sort_keys=False, width=1000,
                               allow_unicode=True)
    return '\n'.join(lines) + '\n' + body
