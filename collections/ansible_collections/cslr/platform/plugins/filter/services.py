# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters over the services catalog (module_utils/_services.py): host_plan (what one host runs,
its ports and the firewall rule each belongs to) and firewall_rules (a plan's ufw rules for given
sources)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_sequence
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.cslr.platform.plugins.filter.platform import setting
from ansible_collections.cslr.platform.plugins.module_utils import _services


def host_plan(host_vars, host, groups):
    """``hostvars[HOST] | cslr.platform.host_plan(HOST, groups)``: what HOST runs by the services
    catalog, read from HOST's own settings (cslr.platform.setting: its inventory, group and extra
    vars, else the defaults), never from the host running the task."""
    if not isinstance(groups, dict):
        raise AnsibleFilterError('host_plan expects the groups dict, got %s' % type(groups).__name__)
    member_of = [name for name, hosts in groups.items() if is_sequence(hosts) and host in hosts]

    def truthy(value):
        return boolean(value, strict=False)

    plan = _services.host_plan(lambda name: setting(host_vars, name), member_of, truthy)
    # Plain dicts and lists: Jinja and to_json see what they expect.
    return {'services': dict(plan['services']), 'ports': [[v, n] for v, n in plan['ports']],
            'ranges': [[list(r), list(n)] for r, n in plan['ranges']],
            'rules': dict((rule, list(ports)) for rule, ports in plan['rules'].items()),
            'images': list(plan['images'])}


def firewall_rules(plan, sources, ssh_port=None, ssh_sources=None):
    """``plan | cslr.platform.firewall_rules(sources)``: the ufw rules of a host_plan, in the order
    of the catalog's rules: for each rule with ports, one rule per source of its class.
    sources: {'cluster': [...], 'users': [...], 'training': [...], 'monitoring host': [...]} (a
    missing class has no source). With ssh_port, the SSH rules of ssh_sources come first."""
    if not isinstance(plan, dict) or not isinstance(plan.get('rules'), dict):
        raise AnsibleFilterError('firewall_rules expects a cslr.platform.host_plan result')
    if not isinstance(sources, dict):
        raise AnsibleFilterError('firewall_rules expects the sources of each class as a dict, got %s'
                                 % type(sources).__name__)
    out = []
    if ssh_port is not None:
        out.extend({'port': str(ssh_port), 'from_ip': s, 'comment': 'cslr ssh'} for s in ssh_sources or [])
    for rule, who in _services.RULES.items():
        ports = plan['rules'].get(rule) or []
        if ports:
            spec = ','.join(str(p) for p in ports)
            out.extend({'port': spec, 'from_ip': s, 'comment': 'cslr %s' % rule} for s in sources.get(who) or [])
    return out


class FilterModule(object):
    """cslr.platform filters over the services catalog."""

    def filters(self):
        return {'host_plan': host_plan, 'firewall_rules': firewall_rules}
