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


def changed(path, value):
    config = copy.deepcopy(SEED)
    node = config
    keys = path.split('.')
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return config


def test_seed_example_maps_every_setting():
    variables, dropped = imp.convert(copy.deepcopy(SEED))
    assert variables == {
        'cslr_project_name': 'cslr-exp-platform',
        'cslr_docker_address_pools': [{'base': '172.28.0.0/16', 'size': 24}],
        'cslr_health_enabled': True,
        'cslr_health_image': 'python:3.12-slim',
        'cslr_health_port': 8888,
        'cslr_ray_enabled': True,
        'cslr_ray_image': 'rayproject/ray:2.60.0-py311',
        'cslr_ray_cpus': 4,
        'cslr_ray_memory': '8g',
        'cslr_ray_shm_size': '2g',
        'cslr_ray_gcs_port': 6379,
        'cslr_ray_dashboard_port': 8265,
        'cslr_ray_client_server_port': 10001,
        'cslr_ray_gpu_image': 'rayproject/ray:2.60.0-py311-gpu',
        'cslr_redis_image': 'redis:7',
        'cslr_redis_port': 6381,
        'cslr_mlflow_enabled': True,
        'cslr_mlflow_image': 'ghcr.io/mlflow/mlflow:v3.17.2',
        'cslr_mlflow_port': 5000,
        'cslr_postgres_image': 'postgres:17',
        'cslr_postgres_user': 'mlflow',
        'cslr_postgres_password': PASSWORD,
        'cslr_postgres_db': 'mlflow',
        'cslr_marimo_image': 'marimo:0.16.5',
        'cslr_marimo_port': 8080,
        'cslr_head_address': None,
        'cslr_health_timeout': 1,
        'cslr_health_max_retries': 3,
        'cslr_health_retry_interval': 2,
        'cslr_ray_discovery_timeout': 5,
        'cslr_ray_wait_for_head': 30,
    }
    paths = [d[0] for d in dropped]
    assert 'nodes.head_whitelist' in paths and 'services.ray.gpu.head_port' in paths
    assert 'services.redis.enabled' in paths and 'nodes.health_service.url' in paths
    assert all(PASSWORD not in d[1] for d in dropped)


def test_every_leaf_is_mapped_or_dropped():
    mapped = set(p for p, _n in imp.MAPPING)
    dropped = set(p for p, _r, _n in imp.DROPPED)

    def leaves(shape, prefix=''):
        for key, sub in shape.items():
            path = prefix + key
            if sub is None:
                yield path
            else:
                yield from leaves(sub, path + '.')
    for leaf in leaves(imp.SHAPE):
        assert leaf in mapped or leaf in dropped, leaf
    assert all(name in spec.BY_NAME for _p, name in imp.MAPPING)


def test_imported_seed_validates():
    variables, _dropped = imp.convert(copy.deepcopy(SEED))
    hosts = {}
    for index, host in enumerate(('a', 'b', 'c'), 11):
        # The imported file's header asks for the MLflow admin password (the original had no users).
        hosts[host] = dict(variables, cslr_cluster_network='10.1.0.0/24', cslr_cluster_address='10.1.0.%d' % index,
                           cslr_mlflow_admin_password='unit-Mlflow-Admin-0077')
    groups = {'cslr_cluster': ['a', 'b', 'c'], 'cslr_ray_head_candidates': ['a'], 'cslr_mlflow_hosts': ['a'],
              'cslr_gpu_hosts': ['c']}
    errors, _cluster = _validate.validate(hosts, groups)
    assert errors == []


@pytest.mark.parametrize('path,value,expected', [
    ('services.ray.cpu.memory', '8GB', ('cslr_ray_memory', '8GB')),
    ('network.subnet', '172.28.0.0/33', ('cslr_docker_address_pools', [{'base': '172.28.0.0/33', 'size': 24}])),
    ('network.subnet', '172.28.0.0/28', ('cslr_docker_address_pools', [{'base': '172.28.0.0/28', 'size': 28}])),
    ('services.ray.cpu.cpus', '4.5', ('cslr_ray_cpus', '4.5')),
    ('services.ray.cpu.cpus', 4.0, ('cslr_ray_cpus', 4.0)),
    ('services.mlflow.enabled', 'yes', ('cslr_mlflow_enabled', 'yes')),
    ('services.mlflow.postgres.password', 'changeme', ('cslr_postgres_password', 'changeme')),
    ('services.health.port', '8888', ('cslr_health_port', 8888)),
])
def test_values_are_carried_not_fixed(path, value, expected):
    variables, _dropped = imp.convert(changed(path, value))
    name, carried = expected
    assert variables[name] == carried


@pytest.mark.parametrize('path,value,expected', [
    ('nodes.head_whitelist', [], 'nodes.head_whitelist = []: head_whitelist must not be empty.'),
    ('services.redis.port', 6379, 'services.ray.cpu.head_port, services.redis.port = 6379: Port 6379 is used '
                                  'multiple times.'),
    ('services.ray.gpu.head_port', 8265, 'services.ray.cpu.dashboard_port, services.ray.gpu.head_port = 8265: '
                                         'Port 8265 is used multiple times.'),
    ('services.ray.gpu.memory', '32GB', r'services.ray.gpu.memory = "32GB": Memory format must match pattern '
                                        r'^\d+[gmGM]$.'),
    ('services.ray.gpu.client_port', 80, 'services.ray.gpu.client_port = 80: Port must be between 1024 and '
                                         '65535.'),
    ('services.redis.enabled', 'on', 'services.redis.enabled = "on": is the string "on", not a boolean.'),
    ('nodes.head_whitelist', 'ray-cpu', 'nodes.head_whitelist = "ray-cpu": must be a list of names.'),
])
def test_refused(path, value, expected):
    with pytest.raises(imp.ImportRefused) as info:
        imp.convert(changed(path, value))
    assert any(e.startswith(expected) for e in info.value.errors), info.value.errors


def test_disabled_service_port_is_not_a_conflict():
    config = changed('services.redis.port', 6379)
    config['services']['redis']['enabled'] = False
    variables, _dropped = imp.convert(config)
    assert variables['cslr_redis_port'] == 6379


def test_unknown_key_refused_with_suggestion():
    config = copy.deepcopy(SEED)
    config['services']['ray']['cpu']['memroy'] = config['services']['ray']['cpu'].pop('memory')
    config['extra'] = 1
    with pytest.raises(imp.ImportRefused) as info:
        imp.convert(config)
    assert info.value.errors == [
        'services.ray.cpu.memroy: unknown key of the original config.yaml. Fix: did you mean services.ray.cpu.memory?',
        'extra: unknown key of the original config.yaml. Fix: remove it (the original tool ignored it silently)',
    ]


def test_nodes_yaml_refused_with_original_message():
    with pytest.raises(imp.ImportRefused) as info:
        imp.convert(copy.deepcopy(SEED), nodes_yaml_exists=True)
    assert info.value.errors == ['nodes.yaml is no longer supported.\n'
                                 'Please move nodes settings into config.yaml > nodes section.']


def test_refusal_never_shows_the_password():
    config = changed('services.redis.port', 6379)
    config['services']['mlflow']['postgres']['password'] = 5
    try:
        imp.convert(config)
    except imp.ImportRefused as exc:
        assert PASSWORD not in str(exc)


def test_render_is_a_loadable_vars_file():
    variables, dropped = imp.convert(copy.deepcopy(SEED))
    text = imp.render(variables, dropped, 'config.yaml')
    assert text.startswith('---\n')
    assert yaml.safe_load(text) == variables
    assert '#   - nodes.head_whitelist = ["ray-cpu", "ray-gpu"]: head candidates are' in text


def test_empty_config_imports_nothing():
    assert imp.convert(None) == ({}, [])
