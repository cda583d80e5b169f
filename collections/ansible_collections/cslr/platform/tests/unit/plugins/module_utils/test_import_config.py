# -*- coding: utf-8 -*-
"""Unit tests of the original config.yaml import (plugins/module_utils/_import_config.py)."""

from __future__ import annotations

import copy

import pytest
import yaml

from ansible_collections.cslr.platform.plugins.module_utils import _config_spec as spec
from ansible_collections.cslr.platform.plugins.module_utils import _import_config as imp
from ansible_collections.cslr.platform.plugins.module_utils import _validate

PASSWORD = 'Tr4ck-Experiments-Safely-77'

# The original tool's documented example values (seeds 001, 003, 000), Ray images pinned.
SEED = {
    'project': {'name': 'cslr-exp-platform'},
    'network': {'subnet': '172.28.0.0/16'},
    'services': {
        'health': {'enabled': True, 'image': 'python:3.12-slim', 'port': 8888},
        'ray': {
            'cpu': {'enabled': True, 'image': 'rayproject/ray:2.60.0-py311', 'cpus': '4', 'memory': '8g',
                    'shm_size': '2g', 'head_port': 6379, 'dashboard_port': 8265, 'client_port': 10001},
            'gpu': {'enabled': True, 'image': 'rayproject/ray:2.60.0-py311-gpu', 'cpus': '16', 'memory': '32g',
                    'shm_size': '16g', 'head_port': 6380, 'dashboard_port': 8266, 'client_port': 10002}},
        'redis': {'enabled': True, 'image': 'redis:7', 'port': 6381},
        'mlflow': {'enabled': True, 'image': 'ghcr.io/mlflow/mlflow:v3.17.2', 'port': 5000,
                   'postgres': {'image': 'postgres:17', 'user': 'mlflow', 'password': PASSWORD, 'db': 'mlflow'}},
        'marimo': {'enabled': True, 'image': 'marimo:0.16.5', 'port': 8080}},
    'nodes': {
        'head_whitelist': ['ray-cpu', 'ray-gpu'], 'head_address': None,
        'health_service': {'url': 'http://health:8080', 'timeout': 1, 'max_retries': 3, 'retry_interval': 2},
        'cluster': {'discovery_timeout': 5, 'wait_for_head': 30}}}


def model_defaults(shape=None):
    """The model's full example config: every section and key at its default (a valid password set)."""
    out = {}
    for key, sub in (imp.MODEL if shape is None else shape).items():
        out[key] = model_defaults(sub) if isinstance(sub, dict) else copy.deepcopy(sub[1])
    if shape is None:
        out['project'].update(name='cslr-exp-platform', version='0.3.1')
        out['services']['mlflow']['postgres']['password'] = PASSWORD
    return out


def changed(path, value, config=None):
    config = copy.deepcopy(SEED if config is None else config)
    node = config
    keys = path.split('.')
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value
    return config


def paths_of(notes, kind=None):
    return [n.path for n in notes if kind is None or n.kind == kind]


# ---------------------------------------------------------------------------- the key table

def test_every_model_leaf_is_mapped_or_noted():
    """No key of the original model can be forgotten: each is in MAPPING or (itself or its block) in NOTES."""
    mapped = set(p for p, _n, _h in imp.MAPPING)
    noted = set(p for p, _r, _n in imp.NOTES)
    for path, _kind, _default in imp.model_leaves():
        parts = path.split('.')
        blocks = set('.'.join(parts[:i]) for i in range(1, len(parts) + 1))
        assert path in mapped or blocks & noted, path
    assert all(name in spec.BY_NAME for _p, name, _h in imp.MAPPING)
    assert all(name in spec.BY_NAME for _p, _r, name in imp.NOTES if name)
    leaves = set(p for p, _k, _d in imp.model_leaves())
    for path in mapped | noted - {'network.subnet (as such)'}:
        assert path in leaves or any(leaf.startswith(path + '.') for leaf in leaves), path


def test_model_is_the_original_model():
    leaves = dict((p, d) for p, _k, d in imp.model_leaves())
    assert leaves['services.ray.cpu.head_port'] == 6379 and leaves['services.ray.gpu.client_port'] == 10002
    assert leaves['services.mlflow.postgres.password'] == 'CHANGE_ME_INVALID_PASSWORD'
    assert leaves['nodes.head_whitelist'] == ['ray-cpu', 'ray-gpu']
    for block in ('services.ray.build', 'services.ray.cpu.build', 'services.ray.gpu.build', 'services.marimo.build'):
        assert block + '.dockerfile' in leaves
    assert 'services.ray.cpu.shm_size' not in leaves  # not in the original model: it dropped it


# ---------------------------------------------------------------------------- full example, defaults

def test_model_example_at_defaults_imports():
    variables, notes = imp.convert(model_defaults())
    assert variables['cslr_project_name'] == 'cslr-exp-platform'
    assert variables['cslr_docker_address_pools'] == [{'base': '172.28.0.0/16', 'size': 24}]
    assert variables['cslr_ray_gcs_port'] == 6379 and variables['cslr_ray_enabled'] is True
    assert variables['cslr_health_retry_interval'] == 0.5
    assert 'cslr_ray_cpus' not in variables and 'cslr_ray_image' not in variables  # null: the defaults here
    assert paths_of(notes, 'ignored') == [] and paths_of(notes, 'check') == []
    noted = paths_of(notes)
    for path in ('project.version', 'host.hostname', 'volumes.mlflow_data', 'volumes.postgres_data',
                 'services.ray.build', 'services.ray.gpu.head_port', 'services.mlflow.postgres.enabled',
                 'services.marimo.build', 'nodes.head_whitelist', 'host.has_gpu'):
        assert path in noted, path
    text = imp.render(variables, notes, 'config.yaml')
    assert yaml.safe_load(text) == variables
    assert '#   - project.version = "0.3.1": not applicable' in text
    assert 'cslr-exp-platform-mlflow-artifacts' in text


def _validates(variables, extra=None):
    hosts = {}
    for index, host in enumerate(('a', 'b', 'c'), 11):
        # The imported file's header asks for the MLflow admin password (the original had no users).
        hosts[host] = dict(variables, cslr_cluster_network='10.1.0.0/24', cslr_cluster_address='10.1.0.%d' % index,
                           cslr_mlflow_admin_password='unit-Mlflow-Admin-0077', **(extra or {}))
    groups = {'cslr_cluster': ['a', 'b', 'c'], 'cslr_ray_head_candidates': ['a'], 'cslr_mlflow_hosts': ['a'],
              'cslr_gpu_hosts': ['c']}
    errors, _cluster = _validate.validate(hosts, groups)
    return errors


def test_model_example_at_defaults_validates():
    variables, _notes = imp.convert(model_defaults())
    assert _validates(variables) == []


def test_seed_example_maps():
    variables, notes = imp.convert(copy.deepcopy(SEED))
    assert variables == {
        'cslr_project_name': 'cslr-exp-platform',
        'cslr_docker_address_pools': [{'base': '172.28.0.0/16', 'size': 24}],
        'cslr_health_enabled': True,
        'cslr_health_port': 8888,
        'cslr_ray_image': 'rayproject/ray:2.60.0-py311',
        'cslr_ray_gpu_image': 'rayproject/ray:2.60.0-py311-gpu',
        'cslr_ray_enabled': True,
        'cslr_ray_gcs_port': 6379,
        'cslr_ray_dashboard_port': 8265,
        'cslr_ray_client_server_port': 10001,
        'cslr_redis_image': 'redis:7',
        'cslr_redis_port': 6381,
        'cslr_mlflow_enabled': True,
        'cslr_mlflow_image': 'ghcr.io/mlflow/mlflow:v3.17.2',
        'cslr_mlflow_port': 5000,
        'cslr_postgres_image': 'postgres:17',
        'cslr_postgres_user': 'mlflow',
        'cslr_postgres_password': PASSWORD,
        'cslr_marimo_image': 'marimo:0.16.5',
        'cslr_marimo_port': 8080,
        'cslr_health_timeout': 1,
        'cslr_health_max_retries': 3,
        'cslr_health_retry_interval': 2,
        'cslr_ray_discovery_timeout': 5,
        'cslr_ray_wait_for_head': 30,
    }
    # CPU and GPU node differ: per-group instructions, not variables (extra vars override group_vars).
    host = [n for n in notes if n.kind == 'host']
    assert [n.path for n in host] == ['services.ray.cpu.cpus', 'services.ray.cpu.memory', 'services.ray.gpu.cpus',
                                      'services.ray.gpu.memory']
    assert 'set cslr_ray_cpus: 16 and cslr_ray_cpu_limit: 16.0 in group_vars/cslr_gpu_hosts.yml' in host[2].reason
    assert 'set cslr_ray_memory: "8g" in group_vars/all.yml' in host[1].reason
    assert sorted(paths_of(notes, 'ignored')) == ['services.health.image', 'services.mlflow.postgres.db',
                                                  'services.ray.cpu.shm_size', 'services.ray.gpu.shm_size']
    assert all(PASSWORD not in n.shown for n in notes)
    assert _validates(variables) == []


# ---------------------------------------------------------------------------- every key, non-default valid value

NON_DEFAULT = {
    'project.name': 'other-project', 'project.version': '2.0.0',
    'host.has_gpu': True, 'host.gpu_type': 'nvidia', 'host.hostname': 'ws-1', 'host.ip_address': '10.1.0.11',
    'network.subnet': '172.30.0.0/24',
    'volumes.mlflow_data': '/srv/mlflow', 'volumes.postgres_data': '/srv/pg', 'volumes.ray_data': './data/ray',
    'services.health.enabled': False, 'services.health.port': 8899,
    'services.ray.image': 'rayproject/ray:2.60.0-py311',
    'services.redis.enabled': False, 'services.redis.image': 'redis:7.4', 'services.redis.port': 6390,
    'services.mlflow.enabled': False, 'services.mlflow.image': 'ghcr.io/mlflow/mlflow:v3.17.2',
    'services.mlflow.port': 5050,
    'services.mlflow.postgres.enabled': False, 'services.mlflow.postgres.image': 'postgres:17',
    'services.mlflow.postgres.user': 'tracker', 'services.mlflow.postgres.password': 'Another-Long-Secret-99',
    'services.mlflow.postgres.database': 'tracking',
    'services.marimo.enabled': False, 'services.marimo.image': 'marimo:0.16.5', 'services.marimo.port': 8090,
    'nodes.head_whitelist': ['ray-cpu'], 'nodes.head_address': '10.1.0.11:6379',
    'nodes.health_service.url': 'http://health:8081', 'nodes.health_service.timeout': 2,
    'nodes.health_service.max_retries': 5, 'nodes.health_service.retry_interval': 1.5,
    'nodes.cluster.discovery_timeout': 10, 'nodes.cluster.wait_for_head': 60,
    'cluster_test': {'target': 'gpu', 'test_network_subnet': '172.31.0.0/24'},
}
for _node, _base in (('cpu', 0), ('gpu', 1)):
    NON_DEFAULT.update({
        'services.ray.%s.enabled' % _node: False, 'services.ray.%s.image' % _node: 'rayproject/ray:2.60.0-py311',
        'services.ray.%s.cpus' % _node: 2.5, 'services.ray.%s.memory' % _node: '4g',
        'services.ray.%s.head_port' % _node: 7379 + _base, 'services.ray.%s.dashboard_port' % _node: 9265 + _base,
        'services.ray.%s.client_port' % _node: 20001 + _base,
        'services.ray.%s.node_ip_address' % _node: '10.1.0.12',
        'services.ray.%s.node_manager_port' % _node: 7800 + _base,
        'services.ray.%s.object_manager_port' % _node: 7810 + _base,
        'services.ray.%s.min_worker_port' % _node: 12000, 'services.ray.%s.max_worker_port' % _node: 12999,
    })
for _block in ('services.ray.build', 'services.ray.cpu.build', 'services.ray.gpu.build', 'services.marimo.build'):
    NON_DEFAULT.update({_block + '.enabled': True, _block + '.dockerfile': 'docker/Dockerfile.ray',
                        _block + '.target': 'runtime', _block + '.context': '..'})


def test_non_default_table_covers_the_model():
    assert sorted(NON_DEFAULT) == sorted(p for p, _k, _d in imp.model_leaves())


def _covered(path, variables, notes):
    """The key's value shows up: as a variable it maps to, or in a header note of it or its block."""
    names = [n for p, n, _h in imp.MAPPING if p == path]
    if any(n in variables for n in names):
        return True
    return any(n.path == path or path.startswith(n.path + '.') for n in notes)


@pytest.mark.parametrize('path', sorted(NON_DEFAULT))
def test_every_key_changed_imports_or_is_reported(path):
    config = model_defaults()
    value = NON_DEFAULT[path]
    config = changed(path, value, config)
    if path.endswith('min_worker_port'):
        config = changed(path.replace('min_', 'max_'), 12999, config)
    if path.endswith('max_worker_port'):
        config = changed(path.replace('max_', 'min_'), 12000, config)
    variables, notes = imp.convert(config)
    assert _covered(path, variables, notes), (path, variables, notes)
    assert paths_of(notes, 'ignored') == []


@pytest.mark.parametrize('path,name,value', [
    ('services.ray.cpu.cpus', 'cslr_ray_cpus', 2),   # 2.5: rounded down, both node types agree
    ('services.ray.cpu.memory', 'cslr_ray_memory', '4g'),
    ('services.ray.cpu.node_manager_port', 'cslr_ray_node_manager_port', 7800),
    ('services.ray.cpu.object_manager_port', 'cslr_ray_object_manager_port', 7810),
])
def test_node_values_agreeing_are_variables(path, name, value):
    config = model_defaults()
    for node in ('cpu', 'gpu'):
        config = changed(path.replace('.cpu.', '.%s.' % node), NON_DEFAULT[path], config)
    variables, notes = imp.convert(config)
    assert variables[name] == value
    if 'port' in path:
        assert 'services.ray.gpu.' + path.rsplit('.', 1)[1] in paths_of(notes, 'note')


def test_worker_port_range():
    config = changed('services.ray.cpu.min_worker_port', 12000, model_defaults())
    config = changed('services.ray.cpu.max_worker_port', 12999, config)
    variables, _notes = imp.convert(config)
    assert (variables['cslr_ray_min_worker_port'], variables['cslr_ray_max_worker_port']) == (12000, 12999)


def test_ray_image_fills_unset_node_images():
    config = changed('services.ray.image', 'rayproject/ray:2.60.0-py311', model_defaults())
    variables, _notes = imp.convert(config)
    assert variables['cslr_ray_image'] == variables['cslr_ray_gpu_image'] == 'rayproject/ray:2.60.0-py311'
    config = changed('services.ray.gpu.image', 'rayproject/ray:2.60.0-py311-gpu', config)
    variables, _notes = imp.convert(config)
    assert variables['cslr_ray_gpu_image'] == 'rayproject/ray:2.60.0-py311-gpu'
    assert variables['cslr_ray_image'] == 'rayproject/ray:2.60.0-py311'


def test_only_gpu_node_enabled():
    config = changed('services.ray.cpu.enabled', False, model_defaults())
    config = changed('services.ray.gpu.head_port', 6390, config)
    variables, notes = imp.convert(config)
    assert 'cslr_ray_enabled' not in variables
    assert variables['cslr_ray_gcs_port'] == 6390  # the GPU node's ports: the one enabled node type
    host = [n for n in notes if n.path == 'services.ray.cpu.enabled'][0]
    assert host.kind == 'host' and 'cslr_ray_enabled: false in the host_vars' in host.reason


def test_host_address_is_an_instruction_not_a_variable():
    variables, notes = imp.convert(changed('host.ip_address', '10.1.0.11', model_defaults()))
    assert 'cslr_cluster_address' not in variables
    note = [n for n in notes if n.path == 'host.ip_address'][0]
    assert note.kind == 'host' and 'set cslr_cluster_address: 10.1.0.11 in the host_vars of that host' in note.reason


def test_postgres_disabled_is_reported_not_refused():
    config = changed('services.mlflow.postgres.enabled', False, model_defaults())
    config = changed('services.mlflow.postgres.password', 'mlflow', config)  # the original accepted it then
    variables, notes = imp.convert(config)
    note = [n for n in notes if n.path == 'services.mlflow.postgres.enabled'][0]
    assert 'MLflow WITH PostgreSQL' in note.reason
    checks = imp.warnings(notes)
    assert checks == ['services.mlflow.postgres.password (cslr_postgres_password) = ********: Insecure database '
                      'password. Fix: choose a long random password (e.g. `openssl rand -base64 24`) and keep it in '
                      'ansible-vault']
    assert variables['cslr_postgres_password'] == 'mlflow'


# ---------------------------------------------------------------------------- values as the original read them

@pytest.mark.parametrize('path,value,expected', [
    ('services.ray.cpu.cpus', '4.5', None),
    ('services.health.port', '8888', ('cslr_health_port', 8888)),
    ('services.mlflow.enabled', 'yes', ('cslr_mlflow_enabled', True)),
    ('services.health.enabled', 'off', ('cslr_health_enabled', False)),
    ('network.subnet', '172.28.0.0/28', ('cslr_docker_address_pools', [{'base': '172.28.0.0/28', 'size': 28}])),
    ('nodes.health_service.retry_interval', '0.5', ('cslr_health_retry_interval', 0.5)),
])
def test_values_are_read_as_the_original(path, value, expected):
    variables, notes = imp.convert(changed(path, value))
    if expected:
        name, carried = expected
        assert variables[name] == carried
    else:
        assert 'cslr_ray_cpus' not in variables and 'cslr_ray_cpu_limit' not in variables
        assert any('set cslr_ray_cpus: 4 and cslr_ray_cpu_limit: 4.5 in group_vars/all.yml' in n.reason for n in notes)


@pytest.mark.parametrize('path,value,expected', [
    ('services.ray.cpu.image', 'rayproject/ray', 'services.ray.cpu.image (cslr_ray_image) = "rayproject/ray": '
                                                 'image has no tag.'),
    ('services.mlflow.postgres.password', 'short-pw', 'services.mlflow.postgres.password (cslr_postgres_password) '
                                                      '= ********: Database password is too short'),
    ('nodes.cluster.discovery_timeout', 600, 'nodes.cluster.discovery_timeout (cslr_ray_discovery_timeout) = 600: '
                                             'must be between 1 and 300.'),
])
def test_original_accepted_platform_refuses_is_imported_with_a_warning(path, value, expected):
    variables, notes = imp.convert(changed(path, value))
    assert any(w.startswith(expected) for w in imp.warnings(notes)), imp.warnings(notes)
    text = imp.render(variables, notes, 'config.yaml')
    header = text.split('\ncslr_')[0]
    assert "fails this platform's checks" in header and 'short-pw' not in header


# ---------------------------------------------------------------------------- refusals (the original's too)

@pytest.mark.parametrize('path,value,expected', [
    ('nodes.head_whitelist', [], 'nodes.head_whitelist = []: head_whitelist must not be empty.'),
    ('services.redis.port', 6379, 'services.ray.cpu.head_port, services.redis.port = 6379: Port 6379 is used '
                                  'multiple times.'),
    ('services.ray.gpu.head_port', 8265, 'services.ray.cpu.dashboard_port, services.ray.gpu.head_port = 8265: '
                                         'Port 8265 is used multiple times.'),
    ('services.ray.cpu.memory', '8GB', r'services.ray.cpu.memory (cslr_ray_memory) = "8GB": Memory format must '
                                       r'match pattern ^\d+[gmGM]$. Fix: write a whole number followed by g or m'),
    ('services.ray.gpu.memory', '32GB', r'services.ray.gpu.memory (cslr_ray_memory) = "32GB": Memory format must '
                                        r'match pattern ^\d+[gmGM]$.'),
    ('services.ray.gpu.memory', '0g', 'services.ray.gpu.memory (cslr_ray_memory) = "0g": Memory must be greater '
                                      'than 0.'),
    ('services.ray.gpu.client_port', 80, 'services.ray.gpu.client_port (cslr_ray_client_server_port) = 80: Port '
                                         'must be between 1024 and 65535.'),
    ('services.ray.cpu.cpus', 0, 'services.ray.cpu.cpus (cslr_ray_cpus) = 0: must be greater than 0.'),
    ('services.ray.cpu.cpus', 'four', 'services.ray.cpu.cpus (cslr_ray_cpus) = "four": must be a number.'),
    ('services.redis.enabled', 'maybe', 'services.redis.enabled (cslr_redis_enabled) = "maybe": must be a boolean'),
    ('services.mlflow.enabled', 2, 'services.mlflow.enabled (cslr_mlflow_enabled) = 2: must be a boolean'),
    ('nodes.head_whitelist', 'ray-cpu', 'nodes.head_whitelist = "ray-cpu": must be a list of names.'),
    ('network.subnet', '172.28.0.0/33', 'network.subnet (cslr_docker_address_pools) = "172.28.0.0/33": Invalid '
                                        'subnet format. Fix: the prefix length after / must be 0-32'),
    ('network.subnet', '172.28.0.1/16', 'network.subnet (cslr_docker_address_pools) = "172.28.0.1/16": Invalid '
                                        'subnet format. Fix: clear the host bits: 172.28.0.0/16'),
    ('services.mlflow.postgres.password', 'changeme', 'services.mlflow.postgres.password (cslr_postgres_password) '
                                                      '= ********: Insecure database password.'),
    ('services.mlflow.postgres.password', 'CHANGE_ME_INVALID_PASSWORD', 'services.mlflow.postgres.password '
                                                                        '(cslr_postgres_password) = ********:'),
    ('services.mlflow.postgres.password', '', 'services.mlflow.postgres.password (cslr_postgres_password) = '
                                              '********:'),
    ('nodes.cluster.wait_for_head', 0, 'nodes.cluster.wait_for_head (cslr_ray_wait_for_head) = 0: must be at '
                                       'least 1.'),
    ('services.ray.cpu.min_worker_port', 12000, 'services.ray.cpu.min_worker_port (cslr_ray_min_worker_port) = '
                                                '12000: min_worker_port and max_worker_port must be set together.'),
    ('project.name', 7, 'project.name (cslr_project_name) = 7: is a number, not a string.'),
    ('services.ray', 'ray-cpu', 'services.ray = "ray-cpu": must be a mapping.'),
])
def test_refused(path, value, expected):
    with pytest.raises(imp.ImportRefused) as info:
        imp.convert(changed(path, value))
    assert any(e.startswith(expected) for e in info.value.errors), info.value.errors


def test_gpu_port_conflict_counts_defaults_only_when_enabled():
    config = changed('services.redis.port', 6380, model_defaults())  # the GPU node's default head_port
    del config['services']['ray']['gpu']['head_port']
    with pytest.raises(imp.ImportRefused) as info:
        imp.convert(config)
    assert info.value.errors == ['services.ray.gpu.head_port (default), services.redis.port = 6380: Port 6380 is '
                                 'used multiple times. Fix: give each service its own port']
    variables, _notes = imp.convert(changed('services.ray.gpu.enabled', False, config))
    assert variables['cslr_redis_port'] == 6380


def test_worker_ports_reversed_refused():
    config = changed('services.ray.gpu.min_worker_port', 13000, model_defaults())
    config = changed('services.ray.gpu.max_worker_port', 12000, config)
    with pytest.raises(imp.ImportRefused) as info:
        imp.convert(config)
    assert info.value.errors == ['services.ray.gpu.min_worker_port (cslr_ray_min_worker_port), '
                                 'services.ray.gpu.max_worker_port (cslr_ray_max_worker_port) = 13000, 12000: '
                                 'min_worker_port must not be greater than max_worker_port. Fix: swap them']


def test_disabled_service_port_is_not_a_conflict():
    config = changed('services.redis.port', 6379)
    config['services']['redis']['enabled'] = False
    variables, _notes = imp.convert(config)
    assert variables['cslr_redis_port'] == 6379


def test_unknown_keys():
    config = copy.deepcopy(SEED)
    config['services']['ray']['cpu']['memroy'] = config['services']['ray']['cpu'].pop('memory')
    config['service'] = {}
    with pytest.raises(imp.ImportRefused) as info:
        imp.convert(config)
    assert info.value.errors == [
        'service: Extra inputs are not permitted (not a section of the original config.yaml). Fix: did you mean '
        'services?']
    del config['service']
    _variables, notes = imp.convert(config)
    ignored = [n for n in notes if n.path == 'services.ray.cpu.memroy'][0]
    assert ignored.kind == 'ignored'
    assert ignored.reason == ('ignored (the original tool dropped it silently); did you mean '
                              'services.ray.cpu.memory?')


def test_nodes_yaml_refused_with_original_message():
    with pytest.raises(imp.ImportRefused) as info:
        imp.convert(copy.deepcopy(SEED), nodes_yaml_exists=True)
    assert info.value.errors == ['nodes.yaml is no longer supported.\n'
                                 'Please move nodes settings into config.yaml > nodes section.']


def test_refusal_never_shows_the_password():
    config = changed('services.redis.port', 6379)
    config['services']['mlflow']['postgres']['password'] = 5
    config['services']['mlflow']['postgres']['passwd'] = PASSWORD
    with pytest.raises(imp.ImportRefused) as info:
        imp.convert(config)
    assert PASSWORD not in str(info.value) and '5' not in str(info.value).split('password')[1][:20]


def test_render_is_a_loadable_vars_file():
    variables, notes = imp.convert(copy.deepcopy(SEED))
    text = imp.render(variables, notes, 'config.yaml')
    assert text.startswith('---\n')
    assert yaml.safe_load(text) == variables
    assert '#   - nodes.head_whitelist = ["ray-cpu", "ray-gpu"]: head candidates are' in text
    assert '(NOT in this file: extra vars override host_vars and group_vars)' in text
    assert PASSWORD not in text.split('\ncslr_')[0]


def test_empty_config_imports_nothing():
    assert imp.convert(None) == ({}, [])


def test_cpus_are_rays_cpu_count_and_the_container_limit_as_in_the_original():
    # Both node types agree: cslr_ray_cpus (whole) and cslr_ray_cpu_limit (as it is) are written.
    config = changed('services.ray.cpu.cpus', 2.5)
    config['services']['ray']['gpu']['cpus'] = 2.5
    variables, notes = imp.convert(config)
    assert variables['cslr_ray_cpus'] == 2 and variables['cslr_ray_cpu_limit'] == 2.5
    assert any('2.5 becomes 2' in n.reason and 'cslr_ray_cpu_limit' in n.reason for n in notes)
