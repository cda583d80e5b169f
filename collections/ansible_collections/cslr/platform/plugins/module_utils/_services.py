# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The services catalog: for each service the platform runs, when a host runs it (flags and
inventory groups), its stack, and its ports with the firewall rule each belongs to. One function,
host_plan(), compiles what one host runs from the catalog and that host's settings; the validator
(port collisions) and the firewall role (the rules of a host, and of a peer outside a --limit run)
both read that plan instead of deciding "is Redis on here" and "which ports face users" each for
itself.

Adding a port to a service is one entry in its ``ports`` (plus the variable in _config_spec.py and
the template that uses it): the validator checks it against every other port of the host and the
firewall opens it to the sources of its rule.

Firewall rules (RULES), each one ufw rule per source:
  ray         Ray's internal ports and worker range: cluster hosts only
  services    what people and jobs use (dashboards, APIs): cluster hosts and the admin networks
  training    torchrun's ports and the range jobs bind: cluster hosts and their fabric addresses
  rendezvous  etcd's client and peer ports: cluster hosts only
  monitoring  the exporters: the monitoring host only
"""

from __future__ import annotations

import collections

from ansible_collections.cslr.platform.plugins.module_utils import _config_spec as spec

# Firewall rules in the order the firewall role writes them, with who may connect.
RULES = collections.OrderedDict((
    ('ray', 'cluster'),
    ('services', 'users'),
    ('training', 'training'),
    ('rendezvous', 'cluster'),
    ('monitoring', 'monitoring host'),
))


class Service(collections.namedtuple('Service', 'name stack flags groups null_means_group ports ranges images')):
    """name: the service; stack: its Compose project's stack (None: not a stack of its own);
    flags: variables that must all be true on the host; groups: inventory groups the host must be
    in; null_means_group: (variable, group) for a setting whose null means "the hosts of group";
    ports: ((variable, rule), ...); ranges: (((low variable, high variable), rule), ...);
    images: ((variable, where), ...), where None (every host running it), 'gpu' (hosts of
    cslr_gpu_hosts only) or 'cpu' (the others); a variable left null names no image."""

    __slots__ = ()

    def __new__(cls, name, stack=None, flags=(), groups=(), null_means_group=None, ports=(), ranges=(), images=()):
        return super(Service, cls).__new__(cls, name, stack, tuple(flags), tuple(groups), null_means_group,
                                           tuple(ports), tuple(ranges), tuple(images))


# The order is the order of the ports in each firewall rule (a rule's port list is compared as text).
SERVICES = (
    Service('ray', stack='ray', flags=('cslr_ray_enabled',),
            ports=(('cslr_ray_dashboard_port', 'services'),
                   ('cslr_ray_client_server_port', 'services'),
                   ('cslr_ray_gcs_port', 'ray'),
                   ('cslr_ray_node_manager_port', 'ray'),
                   ('cslr_ray_object_manager_port', 'ray'),
                   ('cslr_ray_metrics_export_port', 'ray'),
                   ('cslr_ray_dashboard_agent_grpc_port', 'ray'),
                   ('cslr_ray_dashboard_agent_http_port', 'ray'),
                   ('cslr_ray_runtime_env_agent_port', 'ray')),
            ranges=((('cslr_ray_min_worker_port', 'cslr_ray_max_worker_port'), 'ray'),),
            images=(('cslr_ray_gpu_image', 'gpu'), ('cslr_ray_image', 'cpu'))),
    Service('health', stack='health', flags=('cslr_health_enabled',), ports=(('cslr_health_port', 'services'),),
            images=(('cslr_health_image', None),)),
    Service('mlflow', stack='mlflow', flags=('cslr_mlflow_enabled',), groups=(spec.GROUP_MLFLOW,),
            ports=(('cslr_mlflow_port', 'services'),),
            images=(('cslr_mlflow_image', None), ('cslr_postgres_image', None))),
    Service('redis', stack='redis', flags=('cslr_redis_enabled',), ports=(('cslr_redis_port', 'services'),),
            images=(('cslr_redis_image', None),)),
    Service('marimo', stack='marimo', flags=('cslr_marimo_enabled',), ports=(('cslr_marimo_port', 'services'),),
            images=(('cslr_marimo_image', None),)),
    Service('prometheus', stack='monitoring', flags=('cslr_monitoring_enabled',), groups=(spec.GROUP_MONITORING,),
            ports=(('cslr_prometheus_port', 'services'),), images=(('cslr_prometheus_image', None),)),
    Service('grafana', stack='monitoring', flags=('cslr_monitoring_enabled', 'cslr_grafana_enabled'),
            groups=(spec.GROUP_MONITORING,), ports=(('cslr_grafana_port', 'services'),),
            images=(('cslr_grafana_image', None),)),
    Service('training', null_means_group=('cslr_training_enabled', spec.GROUP_GPU),
            ports=(('cslr_training_master_port', 'training'), ('cslr_training_c10d_port', 'training')),
            ranges=((('cslr_training_min_port', 'cslr_training_max_port'), 'training'),),
            images=(('cslr_training_image', None),)),
    Service('rendezvous', stack='rendezvous', flags=('cslr_rendezvous_enabled',), groups=(spec.GROUP_RENDEZVOUS,),
            ports=(('cslr_rendezvous_client_port', 'rendezvous'), ('cslr_rendezvous_peer_port', 'rendezvous')),
            images=(('cslr_rendezvous_image', None),)),
    Service('node_exporter', stack='exporters', flags=('cslr_monitoring_enabled',),
            ports=(('cslr_node_exporter_port', 'monitoring'),), images=(('cslr_node_exporter_image', None),)),
    Service('dcgm_exporter', stack='exporters', flags=('cslr_monitoring_enabled',), groups=(spec.GROUP_GPU,),
            ports=(('cslr_dcgm_exporter_port', 'monitoring'),), images=(('cslr_dcgm_exporter_image', None),)),
)
BY_NAME = collections.OrderedDict((s.name, s) for s in SERVICES)


def _check_catalog():
    """Every variable the catalog names is a platform variable, every rule a known one, every port
    in one service only: a typo fails at import (and in the unit tests), not on a host."""
    seen = {}
    for service in SERVICES:
        names = list(service.flags) + [v for v, dummy in service.ports]
        names += [v for pair, dummy in service.ranges for v in pair]
        names += [v for v, dummy in service.images]
        if service.null_means_group:
            names.append(service.null_means_group[0])
        for name in names:
            if name not in spec.BY_NAME:
                raise ValueError('services catalog: %s (service %s) is not a platform variable' % (name, service.name))
        for var, rule in list(service.ports) + list(service.ranges):
            if rule not in RULES:
                raise ValueError('services catalog: rule %r of %s is not one of %s' % (rule, service.name, list(RULES)))
            if var in seen:
                raise ValueError('services catalog: %s is a port of %s and of %s' % (var, seen[var], service.name))
            seen[var] = service.name
        for var, where in service.images:
            if where not in (None, 'gpu', 'cpu'):
                raise ValueError('services catalog: image %s of %s: where is None, gpu or cpu, not %r'
                                 % (var, service.name, where))


_check_catalog()


def runs(service, get, groups, truthy):
    """Whether a host runs service. get(variable): the host's value; groups: the inventory groups
    the host is in; truthy(value): the caller's reading of a boolean (the validator's strict one,
    Jinja's `bool` in the roles)."""
    if not all(truthy(get(flag)) for flag in service.flags):
        return False
    if not all(group in groups for group in service.groups):
        return False
    if service.null_means_group:
        variable, group = service.null_means_group
        value = get(variable)
        return group in groups if value is None else truthy(value)
    return True


def host_plan(get, groups, truthy):
    """What one host runs, from the catalog and the host's settings (see runs() for the arguments):

    services: {service: runs here} for every service of the catalog, in catalog order;
    ports: [(value, variable)] of each single port of the services that run here;
    ranges: [((low, high), (low variable, high variable))] of their port ranges;
    rules: {rule: [port or 'low:high' text, ...]} for every rule of RULES, as `ufw allow` takes them
    (empty: the host holds no such rule);
    images: the image references those services run here, once each, in catalog order.
    """
    groups = frozenset(groups)
    services = collections.OrderedDict((s.name, runs(s, get, groups, truthy)) for s in SERVICES)
    ports, ranges, images = [], [], []
    gpu = spec.GROUP_GPU in groups
    rules = collections.OrderedDict((rule, []) for rule in RULES)
    for service in SERVICES:
        if not services[service.name]:
            continue
        for variable, rule in service.ports:
            value = get(variable)
            ports.append((value, variable))
            rules[rule].append(str(value))
        for (low, high), rule in service.ranges:
            ranges.append(((get(low), get(high)), (low, high)))
            rules[rule].append('%s:%s' % (get(low), get(high)))
        for variable, where in service.images:
            ref = get(variable)
            if ref and (where is None or (where == 'gpu') == gpu) and ref not in images:
                images.append(ref)
    return {'services': services, 'ports': ports, 'ranges': ranges, 'rules': rules, 'images': images}
