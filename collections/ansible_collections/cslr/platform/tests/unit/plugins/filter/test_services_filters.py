# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""host_plan and firewall_rules: the firewall role's rules from the services catalog."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.cslr.platform.plugins.filter.services import FilterModule, firewall_rules, host_plan

GROUPS = {'all': ['a', 'b', 'c'], 'cslr_cluster': ['a', 'b', 'c'], 'cslr_mlflow_hosts': ['a'],
          'cslr_gpu_hosts': ['b'], 'cslr_monitoring_hosts': ['c'], 'ungrouped': []}
RAY = '6379,6800,6801,6804,6802,52365,6803,11000:11999'


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {'host_plan', 'firewall_rules'}


def test_the_plan_reads_the_hosts_own_settings_as_strings_as_jinja_would():
    # 'yes' as a group var may write it; the defaults fill what the host does not set
    plan = host_plan({'cslr_redis_enabled': 'yes', 'cslr_redis_port': 6390}, 'b', GROUPS)
    assert plan['services']['redis'] and plan['services']['training'] and not plan['services']['mlflow']
    assert plan['rules']['services'] == ['8265', '10001', '8888', '6390']
    assert [6390, 'cslr_redis_port'] in plan['ports']
    assert host_plan({}, 'a', GROUPS)['rules']['services'] == ['8265', '10001', '8888', '5000']


SOURCES = {'cluster': ['10.0.0.1', '10.0.0.2'], 'users': ['10.0.0.1', '10.0.0.2', '192.0.2.0/24'],
           'training': ['10.0.0.1', '10.0.0.2', '192.168.5.2'], 'monitoring host': ['10.0.0.3']}


def test_rules_one_per_source_of_each_rules_class_ssh_first():
    plan = host_plan({'cslr_monitoring_enabled': True}, 'b', GROUPS)
    rules = firewall_rules(plan, SOURCES, 22, ['10.0.0.0/24'])
    assert rules == (
        [{'port': '22', 'from_ip': '10.0.0.0/24', 'comment': 'cslr ssh'}]
        + [{'port': RAY, 'from_ip': s, 'comment': 'cslr ray'} for s in SOURCES['cluster']]
        + [{'port': '8265,10001,8888', 'from_ip': s, 'comment': 'cslr services'} for s in SOURCES['users']]
        + [{'port': '29500,29400,40000:49999', 'from_ip': s, 'comment': 'cslr training'} for s in SOURCES['training']]
        + [{'port': '9100,9400', 'from_ip': '10.0.0.3', 'comment': 'cslr monitoring'}])


def test_a_rule_without_ports_or_without_sources_is_left_out():
    plan = host_plan({'cslr_ray_enabled': False, 'cslr_health_enabled': False}, 'a', GROUPS)
    assert firewall_rules(plan, SOURCES) == [{'port': '5000', 'from_ip': s, 'comment': 'cslr services'}
                                             for s in SOURCES['users']]
    # a peer's rules: this host's address only, the exporters' rule only from the monitoring host
    plan = host_plan({'cslr_monitoring_enabled': True}, 'a', GROUPS)
    peer = firewall_rules(plan, {'cluster': ['10.0.0.9'], 'users': ['10.0.0.9'], 'monitoring host': []})
    assert [r['comment'] for r in peer] == ['cslr ray', 'cslr services']


@pytest.mark.parametrize('call, text', [
    (lambda: host_plan({}, 'a', ['cslr_cluster']), 'expects the groups dict'),
    (lambda: firewall_rules({'services': {}}, SOURCES), 'expects a cslr.platform.host_plan result'),
    (lambda: firewall_rules(host_plan({}, 'a', GROUPS), ['10.0.0.1']), 'sources of each class as a dict'),
])
def test_wrong_input_says_what_was_expected(call, text):
    with pytest.raises(AnsibleFilterError, match=text):
        call()
