#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ray_head
short_description: Elect the Ray head host of the cluster
version_added: 0.1.0
description:
  - Probes every Ray head candidate for a live Ray GCS and decides which host is the Ray head and which hosts are workers.
  - Run it once per play (C(run_once)) on one host inside the cluster network; it probes from there. It changes nothing.
  - "The rules, in order: a live head exists: keep it, a healthy head never moves on a rerun;
    more than one live head (split brain): fail naming them, or with O(resolve_split_brain=true) keep the head with the most
    nodes (ties: candidate order) and list the others in RV(demote) to be restarted as workers;
    no live head: O(head_address) when given, else the first candidate in O(candidates) order that is in O(reachable);
    hosts that are not candidates are always workers."
  - "Live means a Ray GCS answered C(ray health-check --address ADDRESS:GCS_PORT) (run with O(probe_command)), not
    merely an open TCP port: the GCS port may be used by something else, such as Redis. Every candidate is probed on
    O(gcs_port)."
  - The same rules run in the Ray container entrypoint when a container restarts on its own, so both decide the same way.
author:
  - cslr.platform maintainers (@cslr-platform)
options:
  candidates:
    description:
      - Head candidates in order of preference.
      - A candidate without O(candidates[].address) takes the address given for it in O(hosts).
    type: list
    elements: dict
    required: true
    suboptions:
      host:
        description: Inventory name of the host.
        type: str
        required: true
      address:
        description: Cluster address of the host (the Ray C(--node-ip-address)).
        type: str
  hosts:
    description:
      - Every host of the Ray cluster, candidates included. Each gets a role in RV(roles); hosts that are not candidates
        are workers.
      - Pass all hosts of the inventory group, not only the play hosts, so a C(--limit) run still sees the whole cluster.
    type: list
    elements: dict
    default: []
    suboptions:
      host:
        description: Inventory name of the host.
        type: str
        required: true
      address:
        description: Cluster address of the host.
        type: str
        required: true
  reachable:
    description:
      - Hosts known to be up, for example the play hosts that did not fail or were not unreachable.
      - Only used when no head is live, to skip candidates that are down. A live head is kept whatever this says.
      - When omitted, every candidate counts as reachable.
      - Under C(--limit) the play hosts lack the candidates outside the limit; pass the hosts of a reachability check
        over the whole candidate group instead.
    type: list
    elements: str
  gcs_port:
    description: Port of the Ray GCS (C(ray start --head --port)) on every candidate.
    type: int
    default: 6379
  head_address:
    description:
      - Explicit head, V(ADDRESS) or V(ADDRESS:PORT); used instead of the candidate order when no head is live (a live
        head is still kept).
      - It may name a candidate (by address or inventory name) or a Ray head outside the inventory, in which case every
        host is a worker and RV(head_host) is null. Naming a host that is not a candidate is an error.
    type: str
  resolve_split_brain:
    description:
      - With more than one live head, keep the one with the most nodes (ties broken by candidate order) and report the
        others in RV(demote) instead of failing.
      - Restarting the demoted heads as workers loses the jobs and cluster state they hold.
    type: bool
    default: false
  probe_command:
    description:
      - Command that runs the Ray CLI; C(health-check --address ...) and, for split brain, C(status --address ...) are
        appended.
      - For example V([docker, exec, ray-head, ray]) on a host with a running Ray container, or
        V([docker, run, --rm, --network, host, IMAGE, ray]) on a host without one.
      - The command must see the cluster network as this host does (host networking).
    type: list
    elements: str
    default: [ray]
  probe_timeout:
    description:
      - Seconds one probe command may run. A probe that times out means no GCS answered (Ray itself waits about 40
        seconds for an absent GCS).
      - Enforced with C(timeout) from coreutils when it is installed.
    type: float
    default: 10
  tcp_precheck:
    description:
      - Try a TCP connection to each candidate first and treat a refused or timed out connection as no GCS, without running
        the probe command. An open port is always confirmed with C(ray health-check).
      - Disable it when O(probe_command) does not share this host's network view.
    type: bool
    default: true
  option_names:
    description:
      - "The names the user sets these options under, for the module's messages, for example
        V({head_address: my_head_variable}) when a role fills O(head_address) from a variable of its own. Unset: the
        options' own names."
      - The option at fault comes back as RV(option) as well, whichever name the message uses.
    type: dict
    default: {}
    suboptions:
      head_address:
        description: Name for O(head_address).
        type: str
      resolve_split_brain:
        description: Name for O(resolve_split_brain).
        type: str
      probe_command:
        description: Name for O(probe_command).
        type: str
notes:
  - The module fails, deciding nothing, when the probe command itself cannot run (exit codes 125, 126 or 127, for example
    a missing image or C(ray) not found), because guessing could start a second head.
  - A candidate that does not answer is not reachable for the election only if it is missing from O(reachable); the probe
    result alone never removes a candidate, it only tells whether a head is already live.
seealso:
  - name: Ray CLI reference
    description: C(ray start), C(ray status) and the GCS address.
    link: https://docs.ray.io/en/latest/cluster/cli.html
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Read-only; it probes and decides the same way in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Elect the Ray head (ray_candidates and ray_hosts are lists of {host, address} built from the inventory)
  cslr.platform.ray_head:
    candidates: "{{ ray_candidates }}"
    hosts: "{{ ray_hosts }}"
    reachable: "{{ ansible_play_hosts }}"
    probe_command: [docker, run, --rm, --network, host, "{{ ray_image }}", ray]
  run_once: true
  register: __ray_election

- name: Elect with literal lists, probing through the running Ray container
  cslr.platform.ray_head:
    candidates:
      - {host: lab1, address: 10.0.0.11}
      - {host: lab2, address: 10.0.0.12}
    hosts:
      - {host: lab1, address: 10.0.0.11}
      - {host: lab2, address: 10.0.0.12}
      - {host: lab3, address: 10.0.0.13}
    gcs_port: 6379
    probe_command: [docker, exec, cslr-ray, ray]
  run_once: true
  register: __ray_election

- name: Use the decision
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }} is {{ __ray_election.roles[inventory_hostname] }} of {{ __ray_election.head_gcs_address }}"

- name: Recover from a split brain automatically
  cslr.platform.ray_head:
    candidates: "{{ ray_candidates }}"
    hosts: "{{ ray_hosts }}"
    resolve_split_brain: true
  run_once: true
  register: __ray_election
"""

RETURN = r"""
head_host:
  description: Inventory name of the head host; null when O(head_address) names a head outside the inventory.
  returned: success
  type: str
  sample: lab1
head_address:
  description: Cluster address of the head.
  returned: success
  type: str
  sample: 10.0.0.11
head_port:
  description: GCS port of the head.
  returned: success
  type: int
  sample: 6379
head_gcs_address:
  description: V(ADDRESS:PORT) for C(ray start --address) on workers (IPv6 addresses in brackets).
  returned: success
  type: str
  sample: 10.0.0.11:6379
roles:
  description: Role of every host of O(hosts) and O(candidates), V(head) or V(worker).
  returned: success
  type: dict
  sample: {lab1: head, lab2: worker, lab3: worker}
action:
  description:
    - V(keep) one live head was found and is kept.
    - V(resolve_split_brain) several live heads; the one kept is the head, the others are in RV(demote).
    - V(override) no live head; O(head_address) decided.
    - V(elect) no live head; the first reachable candidate was chosen.
  returned: success
  type: str
  choices: [keep, resolve_split_brain, override, elect]
  sample: keep
reason:
  description: Why this head was chosen, in words.
  returned: success
  type: str
  sample: "a live Ray head answers at lab1 (10.0.0.11:6379, unknown number of nodes); keeping it"
live_heads:
  description: Candidates (or an external O(head_address)) where a Ray GCS answered.
  returned: success, and when failing for a split brain
  type: list
  elements: str
  sample: [lab1]
demote:
  description: Hosts running a head that must be restarted as workers (split brain resolved); empty otherwise.
  returned: success
  type: list
  elements: str
  sample: []
unreachable_candidates:
  description:
    - Candidates missing from O(reachable).
    - Not named C(unreachable) on purpose, Ansible reads a true C(unreachable) in a result as the host being unreachable.
  returned: success
  type: list
  elements: str
  sample: []
option:
  description:
    - On failure, the option at fault (V(head_address), V(resolve_split_brain) or V(probe_command)); null when the
      failure is no one option's (inputs that do not fit together).
  returned: failure
  type: str
  sample: resolve_split_brain
probes:
  description: Probe result per candidate (and external O(head_address)).
  returned: success, and when failing for a split brain or a probe that could not run
  type: dict
  sample:
    lab1: {live: true, node_count: null, detail: "Ray GCS answered at 10.0.0.11:6379", failed: false}
    lab2: {live: false, node_count: null, detail: "TCP connect to 10.0.0.12:6379 failed: [Errno 111] Connection refused",
           failed: false}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.cslr.platform.plugins.module_utils import _election

TIMEOUT_RC = 124  # coreutils timeout: the command timed out


class HeadElection(object):
    """Runs the probes through module.run_command and the election from _election."""

    def __init__(self, module):
        self.module = module
        self.timeout_bin = module.get_bin_path('timeout')

    def runner(self, argv, timeout):
        if self.timeout_bin:
            # module.run_command has no timeout of its own; -k reaps a probe that ignores SIGTERM.
            argv = [self.timeout_bin, '-k', '5', '%g' % timeout] + list(argv)
        rc, out, err = self.module.run_command(argv, check_rc=False)
        if self.timeout_bin and rc in (TIMEOUT_RC, 137):
            return None, to_text(out), to_text(err)
        return rc, to_text(out, errors='surrogate_or_replace'), to_text(err, errors='surrogate_or_replace')

    def probe(self):
        params = self.module.params
        return _election.CommandProbe(self.runner, command=params['probe_command'], timeout=params['probe_timeout'],
                                      tcp_precheck=params['tcp_precheck'])

    def run(self):
        params = self.module.params
        probe = self.probe()
        return _election.elect(
            params['candidates'],
            probe,
            hosts=params['hosts'],
            gcs_port=params['gcs_port'],
            head_address=params['head_address'],
            reachable=params['reachable'],
            resolve_split_brain=params['resolve_split_brain'],
            count_nodes=probe.count_nodes,
            names=params['option_names'],
        )


def main():
    module = AnsibleModule(
        argument_spec=dict(
            candidates=dict(type='list', elements='dict', required=True, options=dict(
                host=dict(type='str', required=True),
                address=dict(type='str'),
            )),
            hosts=dict(type='list', elements='dict', default=[], options=dict(
                host=dict(type='str', required=True),
                address=dict(type='str', required=True),
            )),
            reachable=dict(type='list', elements='str'),
            gcs_port=dict(type='int', default=_election.DEFAULT_GCS_PORT),
            head_address=dict(type='str'),
            resolve_split_brain=dict(type='bool', default=False),
            probe_command=dict(type='list', elements='str', default=['ray']),
            probe_timeout=dict(type='float', default=_election.DEFAULT_PROBE_TIMEOUT),
            tcp_precheck=dict(type='bool', default=True),
            option_names=dict(type='dict', default={}, options=dict(
                head_address=dict(type='str'),
                resolve_split_brain=dict(type='str'),
                probe_command=dict(type='str'),
            )),
        ),
        supports_check_mode=True,
    )
    if not 0 < module.params['gcs_port'] < 65536:
        module.fail_json(msg='gcs_port must be between 1 and 65535, got %d' % module.params['gcs_port'])
    if module.params['probe_timeout'] <= 0:
        module.fail_json(msg='probe_timeout must be positive')
    if not module.params['probe_command']:
        module.fail_json(msg='probe_command must not be empty')

    # Read-only: the same probes and decision run in check mode; changed is always false.
    result = dict(changed=False)
    module.params['option_names'] = dict((k, v) for k, v in module.params['option_names'].items() if v)
    try:
        decision = HeadElection(module).run()
    except _election.SplitBrainError as exc:
        module.fail_json(msg=to_text(exc), option=exc.option, live_heads=exc.heads,
                         probes=dict((k, v.as_dict()) for k, v in exc.probes.items()), **result)
    except _election.ProbeError as exc:
        module.fail_json(msg=to_text(exc), option=exc.option, live_heads=[],
                         probes=dict((k, v.as_dict()) for k, v in exc.probes.items()), **result)
    except _election.ElectionError as exc:
        module.fail_json(msg=to_text(exc), option=exc.option, **result)

    result.update(decision.as_dict())
    module.exit_json(**result)


if __name__ == '__main__':
    main()
