# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.cslr.platform.plugins.filter.platform import (
    FilterModule, bcrypt_hash, dpkg_missing, interface_of, mask_secrets, missed_hosts, scrape_configs, secret_values,
    setting, size_bytes, postgres_major, sources_cover, status_table, training_host, undeletable)
from ansible_collections.cslr.platform.plugins.module_utils._config_spec import BY_NAME


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {'missed_hosts', 'setting', 'dpkg_missing', 'interface_of',
                                             'size_bytes', 'training_host', 'sources_cover', 'mask_secrets',
                                             'secret_values', 'status_table', 'undeletable', 'postgres_major',
                                             'bcrypt_hash', 'scrape_configs'}


@pytest.mark.parametrize('results, expected', [
    ([], []),
    ({'results': [], 'skipped': True}, []),
    ({}, []),
    ([{'item': 'a', 'changed': True}, {'item': 'b', 'unreachable': True}, {'item': 'c', 'failed': True}], ['b', 'c']),
    # items that are [host, something] (a product loop): the host, once, in loop order
    ({'results': [{'item': ['b', 'x'], 'failed': True}, {'item': ['b', 'y'], 'unreachable': True},
                  {'item': ['a', 'x'], 'failed': True}, {'item': ['c', 'x'], 'ok': True}]}, ['b', 'a']),
    # unreachable/failed present but false: not missed; skipped items: not missed
    ([{'item': 'a', 'unreachable': False, 'failed': False}, {'item': 'b', 'skipped': True}], []),
])
def test_missed_hosts(results, expected):
    assert missed_hosts(results) == expected


def test_missed_hosts_rejects_a_non_result():
    with pytest.raises(AnsibleFilterError, match='registered result of a loop'):
        missed_hosts(3)


def test_setting_prefers_the_hosts_own_value_then_the_platform_default():
    assert setting({'cslr_redis_enabled': True}, 'cslr_redis_enabled') is True
    assert setting({}, 'cslr_redis_enabled') is BY_NAME['cslr_redis_enabled'].default
    assert setting({}, 'cslr_hosts_file_path') == BY_NAME['cslr_hosts_file_path'].default


def test_setting_refuses_unknown_variables():
    with pytest.raises(AnsibleFilterError, match='not a cslr.platform variable'):
        setting({}, 'cslr_no_such_thing')


DPKG = "ii  docker.io\nrc  docker-compose\nii  python3-requests\n"


def test_dpkg_missing_keeps_the_order_and_counts_removed_and_unknown_packages_as_missing():
    wanted = ['docker.io', 'docker-compose', 'docker-cli', 'python3-requests']
    assert dpkg_missing(DPKG, wanted) == ['docker-compose', 'docker-cli']
    assert dpkg_missing('', ['ufw']) == ['ufw']
    assert dpkg_missing('ii  ufw', ['ufw']) == []


def test_dpkg_missing_refuses_a_package_string():
    with pytest.raises(AnsibleFilterError, match='list of package names'):
        dpkg_missing(DPKG, 'ufw')


FACTS = {
    'interfaces': ['lo', 'eth0', 'br-1a2b', 'eth1'],
    'lo': {'device': 'lo', 'ipv4': {'address': '127.0.0.1'}},
    'eth0': {'device': 'eth0', 'ipv4': {'address': '10.213.0.11'}},
    'br_1a2b': {'device': 'br-1a2b', 'ipv4': {'address': '172.24.0.1'}},
    'eth1': {'device': 'eth1', 'ipv4': {'address': '192.0.2.5'}, 'ipv4_secondaries': [{'address': '10.9.0.3'}]},
}


def test_interface_of_finds_primary_and_secondary_addresses_and_dashed_names():
    assert interface_of(FACTS, '10.213.0.11') == 'eth0'
    assert interface_of(FACTS, '10.9.0.3') == 'eth1'
    assert interface_of(FACTS, '172.24.0.1') == 'br-1a2b'
    assert interface_of(FACTS, '10.213.0.99') is None


def test_interface_of_needs_network_facts():
    with pytest.raises(AnsibleFilterError, match='network facts'):
        interface_of({'hostname': 'x'}, '10.0.0.1')


def test_size_bytes():
    assert size_bytes('10g') == 10 * 1024 ** 3
    assert size_bytes('512M') == 512 * 1024 ** 2
    assert size_bytes('2t') == 2 * 1024 ** 4
    with pytest.raises(AnsibleFilterError, match='500g'):
        size_bytes('ten')


def test_training_host_null_means_the_gpu_hosts():
    assert training_host(None, 'gpu-1', ['gpu-1']) is True
    assert training_host(None, 'cpu-1', ['gpu-1']) is False
    assert training_host(True, 'cpu-1', ['gpu-1']) is True
    assert training_host(False, 'gpu-1', ['gpu-1']) is False
    with pytest.raises(AnsibleFilterError, match='list of GPU hosts'):
        training_host(None, 'gpu-1', 'gpu-1')


def test_sources_cover_any_hosts_and_networks():
    assert sources_cover(['any'], '203.0.113.9')
    assert sources_cover(['10.213.1.1'], '10.213.1.1')
    assert sources_cover(['192.0.2.0/24', '10.213.1.0/28'], '10.213.1.14')
    assert not sources_cover(['10.213.1.0/28'], '10.213.1.200')
    assert sources_cover(['2001:db8::/32'], '2001:db8::5')
    assert not sources_cover(['not-a-network', ''], '10.0.0.1')
    assert not sources_cover(['any'], 'garbage') and not sources_cover([], '10.0.0.1')


@pytest.mark.parametrize('text,secrets,expected', [
    ('url http://h:8080?access_token=s3cr3t-token ok', {'marimo': {'MARIMO_TOKEN': 's3cr3t-token'}},
     'url http://h:8080?access_token=******** ok'),
    ('pw=abc123456789 and abc1234567890', ['abc123456789', 'abc1234567890'], 'pw=******** and ********'),
    ('nothing here', {'a': {}, 'b': {'X': ''}}, 'nothing here'),
    (None, ['x'], ''),
    ('n=5', {'a': {'N': 5}}, 'n=5'),
])
def test_mask_secrets(text, secrets, expected):
    assert mask_secrets(text, secrets) == expected


class _Unresolvable(dict):
    """hostvars whose vault value cannot be decrypted on this controller."""

    def __getitem__(self, name):
        if name == 'cslr_redis_password':
            raise ValueError('Decryption failed')
        return dict.__getitem__(self, name)


def test_secret_values_are_the_hosts_secret_platform_variables():
    host_vars = _Unresolvable(cslr_postgres_password='pg-secret-1234', cslr_mlflow_admin_password='mf-secret-1234',
                              cslr_redis_password='x', cslr_marimo_token=None, cslr_project_name='lab',
                              cslr_s3_secret_key='')
    assert sorted(secret_values(host_vars)) == ['mf-secret-1234', 'pg-secret-1234']
    assert all(BY_NAME[n].secret for n in ('cslr_postgres_password', 'cslr_mlflow_admin_password'))
    assert not BY_NAME['cslr_project_name'].secret


def _health(role='worker', stacks=None, gpus=0, docker='ok'):
    return {'ray_role': role, 'gpu_count': gpus, 'docker': docker, 'cluster_address': '10.0.0.1',
            'stacks': stacks if stacks is not None else {
                'lab-health': [{'container': 'lab-health', 'state': 'running', 'health': 'healthy'}],
                'lab-ray': [{'container': 'lab-ray', 'state': 'running', 'health': 'healthy'}]}}


def _node(ip, state='ALIVE', cpu=2, gpu=0):
    return {'node_ip': ip, 'state': state, 'resources_total': dict({'CPU': cpu}, **({'GPU': gpu} if gpu else {}))}


def test_status_table_of_a_whole_cluster():
    records = [
        {'host': 'h1', 'address': '10.0.0.1', 'health': _health('head', gpus=1), 'ray_expected': True,
         'ray_version': '2.60.0', 'nodes': [_node('10.0.0.1', gpu=1), _node('10.0.0.2'), _node('10.0.0.9', 'DEAD')],
         'mlflow': True},
        {'host': 'h2', 'address': '10.0.0.2', 'health': _health(), 'ray_expected': True, 'ray_version': '2.60.0',
         'mlflow': None},
    ]
    lines = status_table(records, 'lab-')
    assert lines[0].split() == ['HOST', 'ADDRESS', 'HEALTH', 'RAY', 'ROLE', 'RAY', 'VERSION', 'GPUS', 'MLFLOW', 'STACKS']
    assert lines[1].split() == ['h1', '10.0.0.1', 'ok', 'head', '2.60.0', '1', 'ok', 'health', 'ray']
    assert lines[2].split() == ['h2', '10.0.0.2', 'ok', 'worker', '2.60.0', '0', '-', 'health', 'ray']
    assert lines[3] == 'Ray cluster: head h1 (10.0.0.1), 2 node(s) alive of 2 expected, 4 CPU, 1 GPU; dead records: 1'
    assert lines[-1] == 'no problem found'
    # columns line up
    assert len({line.index('STACKS') if 'STACKS' in line else line.index('health') for line in lines[:3]}) == 1


def test_status_table_names_every_problem():
    records = [
        {'host': 'h1', 'address': '10.0.0.1', 'ray_expected': True, 'ray_version': '2.60.0', 'mlflow': False,
         'health': _health('head', stacks={'lab-mlflow': [
             {'container': 'lab-postgres', 'state': 'running', 'health': 'healthy'},
             {'container': 'lab-mlflow', 'state': 'restarting', 'health': 'unhealthy'}]}),
         'nodes': [_node('10.0.0.1')]},
        {'host': 'h2', 'address': '10.0.0.2', 'ray_expected': True, 'ray_version': '2.59.0',
         'health': _health('none', stacks={})},
        {'host': 'h3', 'address': '10.0.0.3', 'reachable': False, 'ray_expected': True},
        {'host': 'h4', 'address': '10.0.0.4', 'health': None, 'ray_expected': False, 'ray_version': ''},
    ]
    text = '\n'.join(status_table(records, 'lab-'))
    assert 'mlflow!(lab-mlflow restarting/unhealthy)' in text and 'DEGRADED' in text
    assert 'NOT REACHABLE' in text and 'NONE (expected)' in text
    assert 'h3    10.0.0.3  UNREACHABLE' in text and 'h4    10.0.0.4  NOT ANSWERING' in text
    assert '1 node(s) alive of 3 expected' in text and 'NOT ALIVE: 10.0.0.2, 10.0.0.3' in text
    assert 'RAY VERSIONS DIFFER: 2.59.0, 2.60.0' in text
    assert text.endswith('6 problem(s)'), text


def test_status_table_without_a_head_and_with_two():
    alone = [{'host': 'h1', 'health': _health('worker'), 'ray_expected': True}]
    assert 'NO HEAD' in '\n'.join(status_table(alone, 'lab-'))
    two = [{'host': h, 'address': h, 'health': _health('head'), 'ray_expected': True, 'nodes': [_node(h)]}
           for h in ('a', 'b')]
    assert 'SPLIT BRAIN: 2 heads (a, b)' in '\n'.join(status_table(two, 'lab-'))


@pytest.mark.parametrize('path, why', [
    ('/var/lib/cslr-platform/ray', ''),
    ('/srv/notebooks/lab', ''),
    ('/var/log/cslr-platform/ray', ''),
    ('/', 'is the root directory, a directory of the system'),
    ('/var/lib', 'is /var/lib, a directory of the system'),
    ('/etc', 'is /etc, a directory of the system'),
    ('/data', 'is directly under /'),
    ('relative/dir', 'is not an absolute path'),
    ('', 'is not an absolute path'),
    ('/var/lib/../lib', 'is not written in its normal form (/var/lib)'),
    ('/var/lib/cslr-platform/', 'is not written in its normal form (/var/lib/cslr-platform)'),
    ('//var/lib/x', 'is not written in its normal form (//var/lib/x)'),
    ('/etc/ssh', 'is inside /etc, which belongs to the system'),
    ('/usr/local/lib/python3', 'is inside /usr, which belongs to the system'),
    ('/var/lib/docker/volumes', 'is inside /var/lib/docker, which belongs to the system'),
    ('/home/alice', 'is directly under /home (a home directory or a mount point)'),
    ('/mnt/data', 'is directly under /mnt (a home directory or a mount point)'),
    ('/home/alice/cslr-notebooks', ''),
    ('/mnt/data/cslr/ray-logs', ''),
    ('/opt/cslr/notebooks', ''),
    ('/var/lib/dpkg', 'is directly under /var/lib (a directory of a program of its own)'),
    ('/var/log/journal', 'is directly under /var/log (a directory of a program of its own)'),
    ('/var/cache/apt', 'is directly under /var/cache (a directory of a program of its own)'),
    ('/var/lib/cslr-platform/marimo', ''),
])
def test_undeletable(path, why):
    assert undeletable(path) == why


@pytest.mark.parametrize('image, major', [
    ('postgres:17', 17), ('postgres:17.2', 17), ('postgres:17-bookworm', 17), ('postgres:18.1-alpine3.22', 18),
    ('docker.io/library/postgres:16', 16), ('10.213.1.250:5000/cslr-lab/postgres:15', 15),
    ('registry.example:5000/postgres', None), ('postgres:latest', None), ('postgres', None),
    ('postgres@sha256:' + 'a' * 64, None), ('postgres:17@sha256:' + 'a' * 64, None), ('', None), (None, None),
])
def test_postgres_major(image, major):
    assert postgres_major(image) == major


def test_bcrypt_hash_verifies_and_is_the_same_on_every_run():
    import bcrypt  # pinned in requirements.txt
    first = bcrypt_hash('a-long-password-1234', 'cslr')
    assert first.startswith('$2b$10$') and len(first) == 60
    assert bcrypt.checkpw(b'a-long-password-1234', first.encode())
    assert not bcrypt.checkpw(b'another-password-1234', first.encode())
    assert bcrypt_hash('a-long-password-1234', 'cslr') == first
    assert bcrypt_hash('a-long-password-1234', 'other-cluster') != first
    assert bcrypt_hash('a-long-password-1234', 'cslr', rounds=4).startswith('$2b$04$')


def test_bcrypt_hash_refuses_an_empty_password():
    with pytest.raises(AnsibleFilterError, match='non-empty password'):
        bcrypt_hash('', 'cslr')


def _hv(**hosts):
    return dict((h, dict(v)) for h, v in hosts.items())


def test_scrape_configs_lists_every_cluster_host_with_its_own_settings():
    hostvars = _hv(a={'cslr_cluster_address': '10.0.0.1'},
                   b={'cslr_cluster_address': '10.0.0.2', 'cslr_ray_enabled': False},
                   c={'cslr_cluster_address': '10.0.0.3', 'cslr_health_enabled': False, 'cslr_monitoring_user': 'mon'},
                   outside={'cslr_cluster_address': '10.0.0.9'})
    hostvars['a']['cslr_rendezvous_enabled'] = True
    hostvars['b']['cslr_rendezvous_enabled'] = True
    groups = {'cslr_cluster': ['a', 'b', 'c'], 'cslr_gpu_hosts': ['b'], 'cslr_monitoring_hosts': ['c'],
              'cslr_rendezvous_hosts': ['a', 'c']}
    jobs = dict((j['job_name'], j) for j in scrape_configs(hostvars, groups, '/run/pw'))
    assert list(jobs) == ['node', 'ray', 'cslr-health', 'etcd', 'dcgm', 'prometheus']

    def targets(job):
        return [(c['labels']['host'], c['targets']) for c in jobs[job]['static_configs']]
    assert targets('node') == [('a', ['10.0.0.1:9100']), ('b', ['10.0.0.2:9100']), ('c', ['10.0.0.3:9100'])]
    assert targets('ray') == [('a', ['10.0.0.1:6804']), ('c', ['10.0.0.3:6804'])]
    assert targets('cslr-health') == [('a', ['10.0.0.1:8888']), ('b', ['10.0.0.2:8888'])]
    # etcd: members of the group whose own setting enables the stack (c's does not: the default, off)
    assert targets('etcd') == [('a', ['10.0.0.1:2379'])]
    assert targets('dcgm') == [('b', ['10.0.0.2:9400'])]
    assert targets('prometheus') == [('c', ['10.0.0.3:9090'])]
    assert jobs['prometheus']['basic_auth'] == {'username': 'mon', 'password_file': '/run/pw'}
    assert 'basic_auth' not in jobs['node']


def test_scrape_configs_leaves_out_empty_jobs_and_needs_addresses():
    groups = {'cslr_cluster': ['a'], 'cslr_monitoring_hosts': ['a']}
    jobs = [j['job_name'] for j in scrape_configs(_hv(a={'cslr_cluster_address': '10.0.0.1'}), groups, '/pw')]
    assert jobs == ['node', 'ray', 'cslr-health', 'prometheus']
    with pytest.raises(AnsibleFilterError, match='a has no cslr_cluster_address'):
        scrape_configs(_hv(a={}), groups, '/pw')
