# -*- coding: utf-8 -*-
"""Unit tests of the configuration rules (plugins/module_utils/_validate.py), one table per rule."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.cslr.platform.plugins.module_utils import _config_spec as spec
from ansible_collections.cslr.platform.plugins.module_utils import _validate as v

PASSWORD = 'unit-Test-Passphrase-0042'

GROUPS = {
    'all': ['a', 'b', 'c'],
    'cslr_cluster': ['a', 'b', 'c'],
    'cslr_ray_head_candidates': ['a', 'b'],
    'cslr_mlflow_hosts': ['a'],
    'cslr_gpu_hosts': ['c'],
}


def hostvars(common=None, **per_host):
    """Inventory values: common ones on every host plus per-host overrides (a=..., b=..., c=...)."""
    base = {'cslr_cluster_network': '10.1.0.0/24', 'cslr_postgres_password': PASSWORD,
            'cslr_mlflow_admin_password': 'unit-Mlflow-Admin-0077', 'cslr_redis_password': 'unit-Redis-Pass-0088',
            'cslr_marimo_token': 'unit-Marimo-Token-0066'}
    base.update(common or {})
    result = {}
    for index, host in enumerate(('a', 'b', 'c'), 11):
        result[host] = dict(base, cslr_cluster_address='10.1.0.%d' % index)
        result[host].update(per_host.get(host, {}))
    return result


def lines(hv=None, groups=None):
    errors, cluster = v.validate(hv if hv is not None else hostvars(), groups or GROUPS)
    return v.report(errors, cluster)


def one(hv=None, groups=None):
    found = lines(hv, groups)
    assert len(found) == 1, found
    return found[0]


def test_valid_configuration_has_no_error():
    assert lines() == []


def test_defaults_of_spec_pass_single_value_rules():
    for var in spec.VARIABLES:
        if var.default is not None:
            assert v.check_value(var, var.default, {'a'}) == [], var.name


# --------------------------------------------------------------------------- types

@pytest.mark.parametrize('vtype,value,expected', [
    ('bool', True, None),
    ('bool', 'true', 'is the string "true", not a boolean'),
    ('bool', 'no', 'is the string "no", not a boolean'),
    ('bool', 1, 'must be a boolean (true or false)'),
    ('int', 3, None),
    ('int', '6379', 'is the string "6379", not a number'),
    ('int', 4.0, 'is the float 4.0, not a whole number'),
    ('int', True, 'must be a whole number'),
    ('int', 4.5, 'must be a whole number'),
    ('float', 0.5, None),
    ('float', 2, None),
    ('float', '1.5', 'is the string "1.5", not a number'),
    ('str', 'x', None),
    ('str', 2.6, 'is a number, not a string'),
    ('list', [], None),
    ('list', 'a', 'must be a list'),
    ('dict', {}, None),
    ('dict', [], 'must be a mapping'),
])
def test_check_type(vtype, value, expected):
    problem = v.check_type(vtype, value)
    assert (problem[0] if problem else None) == expected


# --------------------------------------------------------------------------- formats

@pytest.mark.parametrize('fmt,value,expected', [
    ('cidr', '10.0.0.0/8', None),
    ('cidr', '172.28.0.0', ('Invalid subnet format', 'add the prefix length, e.g. 172.28.0.0/24')),
    ('cidr', '172.28.0.0/33', ('Invalid subnet format', 'the prefix length after / must be 0-32, e.g. 172.28.0.0/24')),
    ('cidr', '172.28.0.1/16', ('Invalid subnet format', 'clear the host bits: 172.28.0.0/16')),
    ('cidr', '300.1.1.0/24', ('Invalid subnet format', 'write an IPv4 network address, e.g. 10.213.0.0/24')),
    ('ipv4', '10.0.0.1', None),
    ('ipv4', 'host.lab', 'is not an IPv4 address'),
    ('port', 1024, None),
    ('port', 65535, None),
    ('port', 1023, 'Port must be between 1024 and 65535'),
    ('port', 65536, 'Port must be between 1024 and 65535'),
    ('memory', '8g', None),
    ('memory', '8192M', None),
    ('memory', '8GB', r'Memory format must match pattern ^\d+[gmGM]$'),
    ('memory', '8000', r'Memory format must match pattern ^\d+[gmGM]$'),
    ('memory', '8gigabytes', r'Memory format must match pattern ^\d+[gmGM]$'),
    ('memory', '0m', 'Memory must be greater than 0'),
    ('image', 'redis:7', None),
    ('image', 'registry:5000/team/img:1', None),
    ('image', 'img@sha256:abc', None),
    ('image', 'registry:5000/team/img', 'image has no tag'),
    ('version', '2.60.0', None),
    ('version', '2.60', 'must be a version X.Y.Z, e.g. 2.60.0'),
    ('python_version', '3.11', None),
    ('python_version', '311', 'must be a Python version 3.N, e.g. 3.11'),
    ('name', 'Bad Name', 'must be lower-case letters, digits, - and _, starting with a letter or digit'),
    ('address', 'head.lab:6379', None),
    ('address', 'http://head', 'must be a host name or IPv4 address, optionally followed by :PORT'),
])
def test_check_format(fmt, value, expected):
    problem = v.check_format(fmt, value)
    if expected is None or isinstance(expected, tuple):
        assert problem == expected
    else:
        assert problem[0] == expected


# --------------------------------------------------------------------------- whole-config rules

@pytest.mark.parametrize('hv,expected', [
    (hostvars({'cslr_ray_memroy': '8g'}),
     '[all hosts] cslr_ray_memroy = "8g": unknown variable. Fix: did you mean cslr_ray_memory?'),
    (hostvars(b={'cslr_zzz': 1}),
     '[b] cslr_zzz = 1: unknown variable. Fix: remove it; docs/configuration.md lists every cslr_ variable'),
    (hostvars({'cslr_ray_head_port': 6379}),
     '[all hosts] cslr_ray_head_port = 6379: was removed. Fix: use cslr_ray_gcs_port'),
    (hostvars({'cslr_mlflow_postgres_password': 'x'}),
     '[all hosts] cslr_mlflow_postgres_password = ********: was removed. Fix: use cslr_postgres_password'),
    (hostvars({'services': {'ray': {}}}),
     '[all hosts] services = {...}: is a section of the original config.yaml, which is not read. Fix: replace it '
     'with cslr_* variables (run playbooks/import_config.yml on the config.yaml)'),
], ids=['typo', 'no-suggestion', 'removed', 'removed-secret', 'pasted-section'])
def test_names(hv, expected):
    assert one(hv) == expected


def test_facts_are_not_unknown_variables():
    assert lines(hostvars({'cslr_gpu': {'present': False}})) == []


def test_template_failure_is_reported():
    assert one(hostvars({'cslr_ray_memory': v.TemplateFailure("'x' is undefined")})) == (
        "[all hosts] cslr_ray_memory = (template error): could not be templated: 'x' is undefined. Fix: fix the "
        "template or the variables it uses")


@pytest.mark.parametrize('hv,expected', [
    (hostvars(), None),
    ({h: dict(vals, cslr_cluster_network=None) for h, vals in hostvars().items()},
     '[all hosts] cslr_cluster_network = null: is required'),
    ({h: {k: x for k, x in vals.items() if k != 'cslr_cluster_network'} for h, vals in hostvars().items()},
     '[all hosts] cslr_cluster_network = (not set): is required'),
    ({h: dict(vals, cslr_cluster_address=None if h == 'c' else vals['cslr_cluster_address'])
      for h, vals in hostvars().items()},
     '[c] cslr_cluster_address = null: is required'),
    ({h: {k: x for k, x in vals.items() if k != 'cslr_postgres_password'} for h, vals in hostvars().items()},
     '[all hosts] cslr_postgres_password = (not set): database password is not set (MLflow is enabled)'),
])
def test_required(hv, expected):
    found = lines(hv)
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and found[0].startswith(expected), found


def test_password_not_required_without_mlflow():
    hv = hostvars({'cslr_mlflow_enabled': False})
    for vals in hv.values():
        del vals['cslr_postgres_password']
    assert lines(hv) == []


@pytest.mark.parametrize('password,message', [
    ('changeme', 'Insecure database password'),
    ('MLflow', 'Insecure database password'),
    ('password', 'Insecure database password'),
    ('aaaaaaaaaaaaaaaa', 'Insecure database password'),
    ('Sh0rt-pw', 'Database password is too short (8 characters, at least 12)'),
    (PASSWORD, None),
])
def test_database_password(password, message):
    found = lines(hostvars({'cslr_postgres_password': password}))
    if message is None:
        assert found == []
    else:
        assert found == ['[all hosts] cslr_postgres_password = ********: %s. Fix: choose a long random password '
                         '(e.g. `openssl rand -base64 24`) and keep it in ansible-vault' % message]
        assert '"%s"' % password not in found[0]


def test_redis_password_checked_only_where_redis_runs():
    assert lines(hostvars({'cslr_redis_password': 'changeme'})) == []
    assert one(hostvars({'cslr_redis_password': 'changeme'}, b={'cslr_redis_enabled': True})).startswith(
        '[b] cslr_redis_password = ********: Insecure Redis password.')


def test_global_variable_must_not_differ():
    assert one(hostvars(b={'cslr_ray_version': '2.59.0'})).startswith(
        '[all hosts] cslr_ray_version = (differs: a, c: "2.60.0"; b: "2.59.0"): must be the same on every host')


def test_global_secret_difference_is_masked():
    found = one(hostvars(b={'cslr_postgres_password': 'another-Passphrase-123'}))
    assert 'another' not in found and PASSWORD not in found
    assert found.startswith('[all hosts] cslr_postgres_password = (differs: a, c: ********; b: ********)')


@pytest.mark.parametrize('hv,expected', [
    (hostvars({'cslr_redis_port': 6379}, b={'cslr_redis_enabled': True}),
     '[b] cslr_ray_gcs_port, cslr_redis_port = 6379: Port 6379 is used multiple times'),
    (hostvars({'cslr_mlflow_port': 8888}),
     '[a] cslr_health_port, cslr_mlflow_port = 8888: Port 8888 is used multiple times'),
    (hostvars({'cslr_mlflow_port': 8888, 'cslr_health_enabled': False}), None),
    (hostvars({'cslr_ray_dashboard_port': 6379}),
     '[all hosts] cslr_ray_dashboard_port, cslr_ray_gcs_port = 6379: Port 6379 is used multiple times'),
    (hostvars({'cslr_ray_dashboard_port': 6379}, c={'cslr_ray_enabled': False}),
     '[a, b] cslr_ray_dashboard_port, cslr_ray_gcs_port = 6379: Port 6379 is used multiple times'),
    (hostvars({'cslr_marimo_port': 11000}, c={'cslr_marimo_enabled': True}),
     '[c] cslr_marimo_port, cslr_ray_min_worker_port..cslr_ray_max_worker_port = 11000: Port 11000 is used '
     'multiple times: it is inside the Ray worker port range 11000-11999'),
    (hostvars({'cslr_ray_min_worker_port': 12000, 'cslr_ray_max_worker_port': 11999}),
     '[all hosts] cslr_ray_min_worker_port, cslr_ray_max_worker_port = 12000, 11999: cslr_ray_min_worker_port '
     'must not be greater than cslr_ray_max_worker_port'),
], ids=['redis-host-only', 'mlflow-host-only', 'disabled-service', 'ray-pinned', 'ray-hosts-only',
        'worker-range', 'inverted-range'])
def test_ports(hv, expected):
    found = lines(hv)
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and found[0].startswith(expected), found


@pytest.mark.parametrize('per_host,expected', [
    ({'b': {'cslr_cluster_address': '10.1.0.11'}},
     '[a, b] cslr_cluster_address = "10.1.0.11": is used by 2 hosts: a, b'),
    ({'c': {'cslr_cluster_address': '10.2.0.13'}},
     '[c] cslr_cluster_address = "10.2.0.13": is outside cslr_cluster_network 10.1.0.0/24'),
    ({'c': {'cslr_cluster_address': '10.1.0.255'}},
     '[c] cslr_cluster_address = "10.1.0.255": is the network or broadcast address of 10.1.0.0/24'),
    ({'c': {'cslr_cluster_address': 'c.lab'}}, '[c] cslr_cluster_address = "c.lab": is not an IPv4 address'),
])
def test_addresses(per_host, expected):
    found = one(hostvars(**per_host))
    assert found.startswith(expected), found


@pytest.mark.parametrize('changes,expected', [
    ({'cslr_ray_head_candidates': []},
     '[inventory] cslr_ray_head_candidates (group) = []: head_whitelist must not be empty'),
    ({'cslr_ray_head_candidates': ['a', 'x']},
     '[x] cslr_ray_head_candidates (group) = "x": head candidate x is not in cslr_cluster'),
    ({'cslr_mlflow_hosts': []},
     '[inventory] cslr_mlflow_hosts (group) = []: MLflow is enabled, so exactly one host is needed (found 0)'),
    ({'cslr_mlflow_hosts': ['a', 'b']},
     '[inventory] cslr_mlflow_hosts (group) = ["a", "b"]: MLflow is enabled, so exactly one host is needed '
     '(found 2)'),
    ({'cslr_gpu_hosts': ['c', 'z']}, '[z] cslr_gpu_hosts (group) = "z": GPU host z is not in cslr_cluster'),
])
def test_groups(changes, expected):
    groups = copy.deepcopy(GROUPS)
    groups.update(changes)
    found = lines(groups=groups)
    assert any(line.startswith(expected) for line in found), found


def test_empty_cluster():
    groups = dict(GROUPS, cslr_cluster=[])
    assert lines({}, groups)[0].startswith('[inventory] cslr_cluster (group) = []: has no hosts')


def test_candidate_must_run_ray():
    assert one(hostvars(b={'cslr_ray_enabled': False})).startswith(
        '[b] cslr_ray_enabled = false: head candidate b does not run Ray')


def test_mlflow_group_ignored_when_disabled():
    assert lines(hostvars({'cslr_mlflow_enabled': False}), dict(GROUPS, cslr_mlflow_hosts=[])) == []


@pytest.mark.parametrize('image,expected', [
    ('rayproject/ray:2.60.0-py311', (None, None)),
    ('cslr-lab/ray:2.60.0', (None, None)),
    ('registry:5000/ray:v2.60.0', (None, None)),
    ('rayproject/ray:2.59.0-py311', ('Ray', '2.59.0')),
    ('rayproject/ray:2.60.0-py312', ('Python', '3.12')),
    ('rayproject/ray:latest', ('tag', None)),
    ('rayproject/ray', ('untagged', None)),
])
def test_ray_versions(image, expected):
    found = lines(hostvars({'cslr_ray_image': image}))
    kind, version = expected
    if kind is None:
        assert found == []
    elif kind == 'tag':
        assert any('the tag of the Ray image does not start with a Ray version' in x for x in found), found
    elif kind == 'untagged':
        assert found == ['[all hosts] cslr_ray_image = "rayproject/ray": image has no tag. Fix: pin a tag, e.g. '
                         'rayproject/ray:TAG']
    else:
        assert found and found[0].startswith('[a, b] cslr_ray_image = "%s": the Ray image carries %s %s but'
                                             % (image, kind, version)), found


def test_gpu_image_checked_on_gpu_hosts_only():
    found = one(hostvars({'cslr_ray_gpu_image': 'rayproject/ray:2.61.0-py311-gpu'}))
    assert found.startswith('[c] cslr_ray_gpu_image = "rayproject/ray:2.61.0-py311-gpu": the Ray image carries '
                            'Ray 2.61.0 but cslr_ray_version is 2.60.0')


def test_ray_image_versions_parsing():
    assert v.ray_image_versions('rayproject/ray:2.60.0-py311-gpu') == ('2.60.0', '3.11')
    assert v.ray_image_versions('cslr-lab/ray:2.60.0') == ('2.60.0', None)
    assert v.ray_image_versions('localhost:5000/ray') == (None, None)


@pytest.mark.parametrize('pools,expected', [
    ([{'base': '172.24.0.0/14', 'size': 24}], None),
    ([{'base': '10.0.0.0/8', 'size': 24}], 'item 1 base 10.0.0.0/8 overlaps cslr_cluster_network 10.1.0.0/24'),
    ([{'base': '172.24.0.0/14', 'size': 12}], 'item 1 size 12 is shorter than the prefix of its base'),
    ([{'base': '172.24.0.0/14', 'size': 24, 'mask': 1}], 'item 1 has the unknown key "mask"'),
    ([{'base': '172.24.0.0/14'}], 'item 1 lacks the key size'),
    ([{'base': '172.24.0.0/33', 'size': 24}], 'item 1 base "172.24.0.0/33": Invalid subnet format'),
])
def test_docker_address_pools(pools, expected):
    found = lines(hostvars({'cslr_docker_address_pools': pools}))
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0], found


def test_docker_pool_against_admin_network():
    found = one(hostvars({'cslr_admin_networks': ['172.25.0.0/16']}))
    assert 'overlaps cslr_admin_networks 172.25.0.0/16' in found


@pytest.mark.parametrize('per_host,expected', [
    ({'b': {'cslr_ray_num_gpus': 1}}, '[b] cslr_ray_num_gpus = 1: GPUs requested on a host that is not in '
                                      'cslr_gpu_hosts'),
    ({'c': {'cslr_ray_num_gpus': 2}}, None),
    ({'b': {'cslr_ray_num_gpus': 0}}, None),
    ({'b': {'cslr_marimo_enabled': True, 'cslr_marimo_gpus': 1}},
     '[b] cslr_marimo_gpus = 1: GPUs requested on a host that is not in cslr_gpu_hosts'),
    ({'b': {'cslr_marimo_gpus': 1}}, None),
])
def test_gpu_services(per_host, expected):
    found = lines(hostvars(**per_host))
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and found[0].startswith(expected), found


@pytest.mark.parametrize('name,value,expected', [
    ('cslr_health_timeout', 0, 'must be between 0.1 and 60'),
    ('cslr_health_max_retries', 101, 'must be between 0 and 100'),
    ('cslr_ray_discovery_timeout', 0, 'must be between 1 and 300'),
    ('cslr_ray_wait_for_head', 4000, 'must be between 1 and 3600'),
    ('cslr_ray_cpus', 0, 'must be at least 1'),
    ('cslr_docker_install_source', 'apt', 'must be one of: distro, docker_repo'),
    ('cslr_admin_networks', ['10.0.0.0/33'], 'item 1 "10.0.0.0/33": Invalid subnet format'),
    ('cslr_hosts_file_extra_aliases', {'q': ['x']}, 'key "q" names no inventory host'),
    ('cslr_project_name', 'My Lab', 'must be lower-case letters'),
    ('cslr_ray_shm_size', '2x', 'Memory format must match'),
])
def test_single_values(name, value, expected):
    found = one(hostvars({name: value}))
    assert found.startswith('[all hosts] %s = ' % name) and expected in found, found


def test_secret_values_are_never_shown():
    secret = 'Do-Not-Print-Me-1234'
    for hv in (hostvars({'cslr_postgres_password': 5}), hostvars({'cslr_postgres_pasword': secret}),
               hostvars({'cslr_redis_password': secret + '!'}, a={'cslr_redis_password': secret})):
        for line in lines(hv):
            assert secret not in line


def test_all_errors_reported_at_once():
    hv = hostvars({'cslr_cluster_network': '10.1.0.0/33', 'cslr_ray_memory': '8GB', 'cslr_typo_var': 1,
                   'cslr_postgres_password': 'changeme'}, b={'cslr_ray_num_gpus': 1})
    found = lines(hv, dict(GROUPS, cslr_ray_head_candidates=[]))
    assert len(found) == 6, found


def test_merge_groups_identical_errors_per_host():
    errors = [v.ConfigError(['b'], 'x', '1', 'm', 'f'), v.ConfigError(['a'], 'x', '1', 'm', 'f'),
              v.ConfigError(['c'], 'y', '1', 'm', 'f')]
    merged = v.merge(errors, ['a', 'b', 'c'])
    assert [(e.hosts, e.variable) for e in merged] == [(('a', 'b'), 'x'), (('c',), 'y')]
    assert merged[0].where(['a', 'b']) == 'all hosts'
    assert merged[0].where(['a', 'b', 'c']) == 'a, b'


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_role_layout(tmp_path):
    _write(tmp_path / 'config' / 'defaults' / 'main.yml', '---\n# Generated by scripts/gen_config.py\n')
    _write(tmp_path / 'docker' / 'tasks' / 'main.yml', '---\n')
    _write(tmp_path / 'docker' / 'defaults' / 'main.yml', '---\n# Generated by scripts/gen_config.py\nx: 1\n')
    _write(tmp_path / 'ray' / 'tasks' / 'main.yml', '---\n')
    _write(tmp_path / 'extras' / 'tasks' / 'main.yml', '---\n')
    _write(tmp_path / 'extras' / 'defaults' / 'main.yml',
           '---\ncslr_extras_enabled: true\ncslr_extras_port: 22\ncslr_ray_enabled: true\n')
    _write(tmp_path / 'extras' / 'meta' / 'argument_specs.yml',
           '---\nargument_specs:\n  main:\n    options:\n      cslr_extras_enabled:\n        type: bool\n'
           '      cslr_extras_secret:\n        type: str\n        no_log: true\n')
    generated, external = spec.role_layout(str(tmp_path))
    assert generated == {'config', 'docker', 'ray'}
    found = dict((var.name, var) for var in external['extras'])
    assert sorted(found) == ['cslr_extras_enabled', 'cslr_extras_port', 'cslr_extras_secret']
    assert found['cslr_extras_enabled'].type == 'bool' and found['cslr_extras_port'].type == 'raw'
    assert found['cslr_extras_secret'].secret


def test_external_role_variables_are_known_and_typed():
    ext = [spec.Var('cslr_firewall_enabled', 'bool', True, 'd', 'firewall', nullable=True),
           spec.Var('cslr_firewall_port', 'raw', 22, 'd', 'firewall', nullable=True)]
    hv = hostvars({'cslr_firewall_port': 'anything', 'cslr_firewall_enabled': 'yes', 'cslr_firewall_enabeld': 1})
    errors, cluster = v.validate(hv, GROUPS, ext)
    assert v.report(errors, cluster) == [
        '[all hosts] cslr_firewall_enabeld = 1: unknown variable. Fix: did you mean cslr_firewall_enabled?',
        '[all hosts] cslr_firewall_enabled = "yes": is the string "yes", not a boolean. Fix: write true without '
        'quotes',
    ]


def test_ray_shm_must_be_below_the_memory_limit():
    found = one(hostvars({'cslr_ray_shm_size': '2g', 'cslr_ray_memory': '2g'}))
    assert 'cslr_ray_shm_size' in found and 'is not smaller than cslr_ray_memory' in found
    assert lines(hostvars({'cslr_ray_shm_size': '512m', 'cslr_ray_memory': '2g'})) == []
    assert lines(hostvars({'cslr_ray_shm_size': None, 'cslr_ray_memory': '2g'})) == []


@pytest.mark.parametrize('value', ["it's-a-long-passphrase", 'line-one-passphrase\nline-two'])
def test_secret_characters_the_env_file_cannot_hold(value):
    found = one(hostvars({'cslr_postgres_password': value}))
    assert 'single quote, a line break' in found
    assert value not in found


@pytest.mark.parametrize('value', ['has "quotes" in-it-long', 'back\\slash-long-enough', 'has a blank-long-enough'])
def test_redis_password_must_fit_redis_conf(value):
    found = one(hostvars({'cslr_redis_enabled': True, 'cslr_redis_password': value}))
    assert 'cslr_redis_password' in found and 'double quote, a backslash or a blank' in found


# --------------------------------------------------------------------------- ray_auth

def test_ray_token_generated_by_default_is_valid_without_warning():
    errors, warnings, _cluster = v.validate_all(hostvars(), GROUPS)
    assert errors == [] and warnings == []


@pytest.mark.parametrize('token,ok', [
    ('a' * 31, False),
    ('has a blank' + 'x' * 30, False),
    ("quote'" + 'x' * 30, False),
    ('A-z_0' * 7, True),
    ('f' * 48, True),
])
def test_ray_token_form(token, ok):
    found = lines(hostvars({'cslr_ray_auth_token': token}))
    if ok:
        assert found == []
    else:
        assert len(found) == 1 and 'cslr_ray_auth_token = ********' in found[0], found
        assert token not in found[0]


def test_ray_auth_disabled_is_a_warning_not_an_error():
    errors, warnings, _cluster = v.validate_all(hostvars({'cslr_ray_auth_mode': 'disabled'}), GROUPS)
    assert errors == []
    assert len(warnings) == 1 and warnings[0].startswith('cslr_ray_auth_mode: ') and 'as root' in warnings[0]


def test_ray_auth_mode_choices():
    assert 'cslr_ray_auth_mode' in one(hostvars({'cslr_ray_auth_mode': 'off'}))


# --------------------------------------------------------------------------- paths, host_names, ssh port

@pytest.mark.parametrize('name,value', [
    ('cslr_ray_log_dir', '/var/log'),
    ('cslr_ray_log_dir', '/var/log/'),
    ('cslr_checkpoint_dir', '/'),
    ('cslr_checkpoint_dir', '//'),
    ('cslr_marimo_notebooks_dir', '/home'),
    ('cslr_base_dir', '/etc'),
    ('cslr_base_dir', '/usr/../etc'),
    ('cslr_images_host_dir', '/var/lib/docker'),
])
def test_system_directories_are_refused(name, value):
    found = one(hostvars({name: value}))
    assert found.startswith('[all hosts] %s = ' % name) and 'a directory of the system' in found, found
    assert 'Fix: use a directory of its own' in found


def test_directories_of_their_own_pass():
    assert lines(hostvars({'cslr_ray_log_dir': '/var/log/cslr/ray', 'cslr_checkpoint_dir': '/data/ckpt'})) == []


@pytest.mark.parametrize('name,value', [
    ('cslr_checkpoint_dir', '/data/$(id)'),
    ('cslr_checkpoint_dir', '/data/with space'),
    ('cslr_checkpoint_s3_uri', 's3://bucket/prefix;rm -rf ~'),
    ('cslr_checkpoint_s3_region', "eu'west"),
    ('cslr_checkpoint_s3_endpoint_url', 'http://minio:9000/\nX=1'),
])
def test_values_sourced_by_shells_hold_no_shell_characters(name, value):
    found = [ln for ln in lines(hostvars({name: value})) if ln.startswith('[all hosts] %s = ' % name)]
    assert found and any('a character a shell interprets' in ln for ln in found), lines(hostvars({name: value}))


def test_host_names_that_break_lists_are_refused():
    hv = hostvars()
    hv['gpu=1'] = hv.pop('c')
    groups = dict(GROUPS, all=['a', 'b', 'gpu=1'], cslr_cluster=['a', 'b', 'gpu=1'], cslr_gpu_hosts=['gpu=1'])
    found = one(hv, groups)
    assert found.startswith('[gpu=1] inventory_hostname = "gpu=1": is not a plain host name'), found


def test_underscores_and_dots_in_host_names_pass():
    hv = hostvars()
    hv['gpu_node-1.lab'] = hv.pop('c')
    groups = dict(GROUPS, all=['a', 'b', 'gpu_node-1.lab'], cslr_cluster=['a', 'b', 'gpu_node-1.lab'],
                  cslr_gpu_hosts=['gpu_node-1.lab'])
    assert lines(hv, groups) == []


def test_ssh_port_colliding_with_a_service_port_is_refused():
    found = one(hostvars({'cslr_firewall_ssh_port': 8888}))
    assert 'cslr_firewall_ssh_port' in found and 'Port 8888 is used multiple times' in found, found
    found = one(hostvars({'cslr_firewall_ssh_port': 11500}))
    assert 'inside the Ray worker port range' in found, found


def test_ssh_port_ignored_when_the_firewall_is_not_managed():
    assert lines(hostvars({'cslr_firewall_ssh_port': 8888, 'cslr_firewall_enabled': False})) == []


# --------------------------------------------------------------------------- mlflow_auth

def test_mlflow_admin_password_required_while_mlflow_authenticates():
    hv = hostvars()
    for values in hv.values():
        del values['cslr_mlflow_admin_password']
    found = one(hv)
    assert found.startswith('[all hosts] cslr_mlflow_admin_password = (not set): MLflow admin password is not set'), found
    assert lines(dict((h, dict(x, cslr_mlflow_auth_enabled=False)) for h, x in hv.items())) == []
    assert lines(dict((h, dict(x, cslr_mlflow_enabled=False)) for h, x in hv.items())) == []


@pytest.mark.parametrize('password', ['changeme', 'short-pw', "it's-a-quote-pw"])
def test_weak_mlflow_admin_password_is_refused(password):
    found = one(hostvars({'cslr_mlflow_admin_password': password}))
    assert found.startswith('[all hosts] cslr_mlflow_admin_password = ********: '), found
    assert password not in found.split(' = ', 1)[1]


def test_mlflow_users_database_is_not_mlflows_own():
    found = one(hostvars({'cslr_mlflow_auth_db': 'mlflow'}))
    assert "cslr_mlflow_auth_db" in found and "MLflow's own database" in found, found


def test_mlflow_auth_disabled_is_a_warning():
    errors, warnings, _cluster = v.validate_all(hostvars({'cslr_mlflow_auth_enabled': False}), GROUPS)
    assert errors == [] and len(warnings) == 1 and warnings[0].startswith('cslr_mlflow_auth_enabled: ')


@pytest.mark.parametrize('flag,name', [('cslr_redis_enabled', 'cslr_redis_password'),
                                       ('cslr_marimo_enabled', 'cslr_marimo_token')])
def test_enabled_redis_and_marimo_need_their_credential(flag, name):
    found = one(hostvars({name: None}, b={flag: True}))
    assert found.startswith('[b] %s = (not set): ' % name) and flag in found, found
    assert lines(hostvars({name: None})) == []  # not needed where the service is off
    assert lines(hostvars(b={flag: True})) == []


def awx_lines(hv, job_vars):
    errors, _warnings, cluster = v.validate_all(hv, GROUPS, job_vars=job_vars)
    return v.report(errors, cluster)


def test_awx_job_must_not_generate_the_ray_token():
    found = awx_lines(hostvars(), {'awx_job_id': 42})
    assert len(found) == 1 and found[0].startswith('[all hosts] cslr_ray_auth_token = null: is not set, and this AWX '
                                                   'job would generate a new Ray token'), found
    assert awx_lines(hostvars(), {}) == []
    assert awx_lines(hostvars(), None) == []
    assert awx_lines(hostvars({'cslr_ray_auth_token': 'f' * 40}), {'awx_job_id': 1}) == []
    assert awx_lines(hostvars({'cslr_ray_auth_mode': 'disabled'}), {'tower_job_id': 1}) == []


def test_awx_job_must_not_generate_the_monitoring_password():
    hv = hostvars({'cslr_ray_auth_token': 'f' * 40, 'cslr_monitoring_enabled': True})
    groups = dict(GROUPS, cslr_monitoring_hosts=['b'])
    errors, _warnings, cluster = v.validate_all(hv, groups, job_vars={'awx_job_id': 7})
    found = v.report(errors, cluster)
    assert len(found) == 1 and found[0].startswith('[inventory] cslr_monitoring_password = null: is not set, and '
                                                   'this AWX job would generate a new monitoring password'), found
    hv = hostvars({'cslr_ray_auth_token': 'f' * 40, 'cslr_monitoring_enabled': True,
                   'cslr_monitoring_password': 'unit-Monitor-Pass-0099'})
    errors, _warnings, cluster = v.validate_all(hv, groups, job_vars={'awx_job_id': 7})
    assert v.report(errors, cluster) == []


@pytest.mark.parametrize('common, groups, expected', [
    # Prometheus and Grafana on the monitoring host only; the node exporter everywhere.
    ({'cslr_monitoring_enabled': True, 'cslr_grafana_port': 8888}, {'cslr_monitoring_hosts': ['b']},
     '[b] cslr_health_port, cslr_grafana_port = 8888: Port 8888 is used multiple times'),
    ({'cslr_monitoring_enabled': True, 'cslr_node_exporter_port': 8888}, {'cslr_monitoring_hosts': ['b']},
     '[all hosts] cslr_health_port, cslr_node_exporter_port = 8888: Port 8888 is used multiple times'),
    # The DCGM exporter on GPU hosts only (c).
    ({'cslr_monitoring_enabled': True, 'cslr_dcgm_exporter_port': 8888}, {'cslr_monitoring_hosts': ['b']},
     '[c] cslr_health_port, cslr_dcgm_exporter_port = 8888: Port 8888 is used multiple times'),
    ({'cslr_monitoring_enabled': True}, {'cslr_monitoring_hosts': ['a', 'b']},
     '[inventory] cslr_monitoring_hosts (group) = ["a", "b"]: the monitoring stack is enabled, so exactly one host'),
    ({'cslr_monitoring_enabled': True, 'cslr_monitoring_password': 'short-1'}, {'cslr_monitoring_hosts': ['a']},
     '[all hosts] cslr_monitoring_password = ********: Monitoring password is too short'),
    ({'cslr_monitoring_enabled': True, 'cslr_prometheus_retention': '15 days'}, {'cslr_monitoring_hosts': ['a']},
     '[all hosts] cslr_prometheus_retention = "15 days": must be a duration'),
    # Monitoring off: its group and ports are not checked.
    ({'cslr_grafana_port': 8888, 'cslr_node_exporter_port': 8888}, {}, None),
])
def test_monitoring_checks(common, groups, expected):
    found = lines(hostvars(common), dict(GROUPS, **groups))
    if expected is None:
        assert found == [], found
    else:
        assert len(found) == 1 and found[0].startswith(expected), found


# --------------------------------------------------------------------------- custom images

_BUILD = {'image': 'reg.lab:5000/lab/ray-custom:2.60.0-1', 'context': '/srv/images/ray', 'args': {'BASE': 'x:1'}}


@pytest.mark.parametrize('common, expected', [
    ({'cslr_images_build': [_BUILD], 'cslr_images_registry_url': 'reg.lab:5000'}, None),
    ({'cslr_images_build': [_BUILD], 'cslr_images_source': 'archive'}, None),
    ({'cslr_images_build': [dict(_BUILD, image='lab/ray-custom:2.60.0-1')], 'cslr_images_registry_url': 'reg.lab:5000'},
     'item 1: lab/ray-custom:2.60.0-1 is pushed to the '
     'registry and pulled from there, but it does not name cslr_images_registry_url (reg.lab:5000). '
     'Fix: name it reg.lab:5000/lab/ray-custom:2.60.0-1'),
    ({'cslr_images_build': [dict(_BUILD, image='other.reg:5000/lab/x:1')], 'cslr_images_registry_url': 'reg.lab:5000'},
     'Fix: name it reg.lab:5000/lab/x:1'),
    ({'cslr_images_build': [_BUILD]}, 'cslr_images_registry_url = null: is not set but cslr_images_build builds '),
    ({'cslr_images_build': [_BUILD, _BUILD], 'cslr_images_registry_url': 'reg.lab:5000'},
     'item 2 builds reg.lab:5000/lab/ray-custom:2.60.0-1 a second time'),
    ({'cslr_images_build': [{'image': 'reg.lab:5000/x'}], 'cslr_images_registry_url': 'reg.lab:5000'},
     'item 1 lacks the key context'),
    ({'cslr_images_build': [dict(_BUILD, args='BASE=x')], 'cslr_images_registry_url': 'reg.lab:5000'},
     'item 1 args "BASE=x"'),
    ({'cslr_images_build': [dict(_BUILD, dockerfil='D')], 'cslr_images_registry_url': 'reg.lab:5000'},
     'did you mean dockerfile?'),
])
def test_image_builds(common, expected):
    found = lines(hostvars(common))
    if expected is None:
        assert found == []
    else:
        assert any(expected in line for line in found), found
