# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The services catalog and the per-host plan compiled from it."""
from __future__ import annotations

import pytest

from ansible_collections.cslr.platform.plugins.module_utils import _config_spec as spec
from ansible_collections.cslr.platform.plugins.module_utils import _services as S


def plan(groups=(), **settings):
    values = dict((v.name, v.default) for v in spec.VARIABLES)
    values.update(settings)
    return S.host_plan(values.__getitem__, set(groups) | {spec.GROUP_CLUSTER}, lambda v: v is True)


def test_every_catalog_port_is_a_platform_port_variable_with_an_integer_default():
    for service in S.SERVICES:
        for variable, rule in service.ports:
            assert isinstance(spec.BY_NAME[variable].default, int), variable
            assert rule in S.RULES
        for (low, high), rule in service.ranges:
            assert spec.BY_NAME[low].default <= spec.BY_NAME[high].default


def test_every_port_variable_of_the_table_is_in_the_catalog():
    """A port variable no service claims would be checked by no validator rule and opened by no
    firewall rule: every cslr_*_port of the variable table is a catalog port (or the SSH port,
    which is the firewall's own)."""
    ports = set(v for s in S.SERVICES for v, dummy in s.ports)
    ports |= set(v for s in S.SERVICES for pair, dummy in s.ranges for v in pair)
    table = set(v.name for v in spec.VARIABLES if v.name.endswith('_port') and v.type == 'int')
    assert table - ports == {'cslr_firewall_ssh_port'}


def test_a_default_host_runs_ray_and_health_with_their_ports_in_their_rules():
    got = plan()
    assert [name for name, on in got['services'].items() if on] == ['ray', 'health']
    assert got['rules']['ray'] == ['6379', '6800', '6801', '6804', '6802', '52365', '6803', '11000:11999']
    assert got['rules']['services'] == ['8265', '10001', '8888']
    assert got['rules']['training'] == got['rules']['rendezvous'] == got['rules']['monitoring'] == []
    assert (8888, 'cslr_health_port') in got['ports']
    assert got['ranges'] == [((11000, 11999), ('cslr_ray_min_worker_port', 'cslr_ray_max_worker_port'))]


@pytest.mark.parametrize('groups, settings, on, off', [
    # a flag and a group: MLflow runs on its host only, and only while enabled
    ([spec.GROUP_MLFLOW], {}, ['mlflow'], []),
    ([], {}, [], ['mlflow']),
    ([spec.GROUP_MLFLOW], {'cslr_mlflow_enabled': False}, [], ['mlflow']),
    # optional services by their flag
    ([], {'cslr_redis_enabled': True, 'cslr_marimo_enabled': True}, ['redis', 'marimo'], []),
    ([], {'cslr_ray_enabled': False, 'cslr_health_enabled': False}, [], ['ray', 'health']),
    # training: null means the GPU hosts
    ([spec.GROUP_GPU], {}, ['training'], []),
    ([], {}, [], ['training']),
    ([], {'cslr_training_enabled': True}, ['training'], []),
    ([spec.GROUP_GPU], {'cslr_training_enabled': False}, [], ['training']),
    # monitoring: exporters everywhere (DCGM on GPU hosts), Prometheus and Grafana on its host
    ([spec.GROUP_GPU], {'cslr_monitoring_enabled': True}, ['node_exporter', 'dcgm_exporter'], ['prometheus']),
    ([spec.GROUP_MONITORING], {'cslr_monitoring_enabled': True}, ['prometheus', 'grafana'], ['dcgm_exporter']),
    ([spec.GROUP_MONITORING], {'cslr_monitoring_enabled': True, 'cslr_grafana_enabled': False}, ['prometheus'],
     ['grafana']),
    ([spec.GROUP_MONITORING], {}, [], ['prometheus', 'node_exporter']),
    ([spec.GROUP_RENDEZVOUS], {'cslr_rendezvous_enabled': True}, ['rendezvous'], []),
    ([], {'cslr_rendezvous_enabled': True}, [], ['rendezvous']),
], ids=['mlflow-host', 'not-mlflow-host', 'mlflow-off', 'redis-marimo', 'ray-health-off', 'training-gpu',
        'training-null-cpu', 'training-on', 'training-off-gpu', 'exporters-gpu', 'monitoring-host',
        'grafana-off', 'monitoring-off', 'rendezvous-host', 'rendezvous-elsewhere'])
def test_which_services_a_host_runs(groups, settings, on, off):
    services = plan(groups, **settings)['services']
    assert [s for s in on if not services[s]] == []
    assert [s for s in off if services[s]] == []


def test_ports_follow_the_hosts_own_values_and_land_in_their_rule():
    got = plan([spec.GROUP_GPU, spec.GROUP_RENDEZVOUS, spec.GROUP_MONITORING], cslr_redis_enabled=True,
               cslr_redis_port=6390, cslr_rendezvous_enabled=True, cslr_monitoring_enabled=True,
               cslr_training_min_port=41000)
    assert got['rules']['services'] == ['8265', '10001', '8888', '6390', '9090', '3000']
    assert got['rules']['training'] == ['29500', '29400', '41000:49999']
    assert got['rules']['rendezvous'] == ['2379', '2380']
    assert got['rules']['monitoring'] == ['9100', '9400']
    assert (6390, 'cslr_redis_port') in got['ports']


def test_the_catalog_refuses_its_own_mistakes(monkeypatch):
    monkeypatch.setattr(S, 'SERVICES', S.SERVICES + (S.Service('x', ports=(('cslr_nope_port', 'services'),)),))
    with pytest.raises(ValueError, match='cslr_nope_port .service x. is not a platform variable'):
        S._check_catalog()
    monkeypatch.setattr(S, 'SERVICES', S.SERVICES[:-1] + (S.Service('x', ports=(('cslr_health_port', 'services'),)),))
    with pytest.raises(ValueError, match='cslr_health_port is a port of health and of x'):
        S._check_catalog()
    monkeypatch.setattr(S, 'SERVICES', S.SERVICES[:-1] + (S.Service('x', ports=(('cslr_redis_port', 'open'),)),))
    with pytest.raises(ValueError, match="rule 'open' of x"):
        S._check_catalog()


def test_every_image_variable_of_the_table_is_in_the_catalog():
    table = set(v.name for v in spec.VARIABLES if v.name.endswith('_image'))
    assert table == set(v for s in S.SERVICES for v, dummy in s.images)


def test_the_images_a_host_needs():
    d = dict((v.name, v.default) for v in spec.VARIABLES)
    assert plan()['images'] == [d['cslr_ray_image'], d['cslr_health_image']]
    assert plan([spec.GROUP_GPU])['images'] == [d['cslr_ray_gpu_image'], d['cslr_health_image']]
    got = plan([spec.GROUP_MLFLOW, spec.GROUP_MONITORING, spec.GROUP_GPU], cslr_monitoring_enabled=True,
               cslr_training_image='reg:5000/job:1', cslr_ray_enabled=False)
    assert got['images'] == [d['cslr_health_image'], d['cslr_mlflow_image'], d['cslr_postgres_image'],
                             d['cslr_prometheus_image'], d['cslr_grafana_image'], 'reg:5000/job:1',
                             d['cslr_node_exporter_image'], d['cslr_dcgm_exporter_image']]
    # a training host without cslr_training_image (null) needs no job image; one reference is listed once
    assert plan([spec.GROUP_GPU], cslr_health_image=d['cslr_ray_gpu_image'])['images'] == [d['cslr_ray_gpu_image']]
