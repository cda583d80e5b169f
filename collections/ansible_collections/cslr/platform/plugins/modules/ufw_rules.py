#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ufw_rules
short_description: Bring a host's ufw allow rules, default policies and state to a wanted set in one call
version_added: 0.1.0
description:
  - Reads the host's ufw configuration once (C(ufw show added), C(/etc/default/ufw), C(ufw status)), adds the allow rules of
    O(rules) that are missing, deletes the rules whose comment is listed in O(prune_comments) but that O(rules) no longer
    holds, then sets the default policies and enables ufw when asked, in that order, so an SSH rule is in place before
    incoming traffic is denied and ufw enabled.
  - One module run per host instead of one M(community.general.ufw) run per rule, per source address and per policy. The
    firewall of a host with N cluster peers costs one task, not 2N + 5.
  - Only what differs is changed. Whether a rule was added is decided by comparing C(ufw show added) before and after, so
    the result is right even where ufw spells a rule differently from how it was given.
author:
  - cslr.platform maintainers (@cslr-platform)
options:
  rules:
    description:
      - The allow rules that must exist.
    type: list
    elements: dict
    default: []
    suboptions:
      port:
        description:
          - A port, a comma-separated list of ports, or a range C(LOW:HIGH) (as C(ufw allow ... port) takes them).
        type: str
        required: true
      proto:
        description: Protocol.
        type: str
        choices: [tcp, udp]
        default: tcp
      from_ip:
        description: Source address or network; V(any) for every source.
        type: str
        default: any
      comment:
        description: Rule comment; O(prune_comments) selects rules by it.
        type: str
        required: true
  prune_comments:
    description:
      - Allow rules with one of these comments that are not in O(rules) are deleted (a host that left the cluster, a port
        no longer used). Rules with other comments, including the ones added by hand, are never touched.
    type: list
    elements: str
    default: []
  default_incoming:
    description: Default policy for incoming traffic; left as it is when not given.
    type: str
    choices: [allow, deny, reject]
  default_outgoing:
    description: Default policy for outgoing traffic; left as it is when not given.
    type: str
    choices: [allow, deny, reject]
  enabled:
    description: V(true) enables ufw (C(ufw --force enable)) when it is inactive; not given leaves it as it is.
    type: bool
notes:
  - Needs root and the C(ufw) package.
  - Rules are matched by action, source, port set (order does not matter), protocol and comment.
seealso:
  - module: community.general.ufw
attributes:
  check_mode:
    support: full
    details: Reports what would be added, deleted and set, and changes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Cluster firewall in one task
  cslr.platform.ufw_rules:
    rules:
      - {port: "22", from_ip: any, comment: cslr ssh}
      - {port: "6379,8265,10002:19999", from_ip: 10.0.0.11, comment: cslr ray}
      - {port: "6379,8265,10002:19999", from_ip: 10.0.0.12, comment: cslr ray}
    prune_comments: [cslr ray]
    default_incoming: deny
    default_outgoing: allow
    enabled: true
"""

RETURN = r"""
added:
  description: The rules added (or that would be in check mode), as C(ufw) arguments.
  returned: always
  type: list
  elements: str
  sample: ["allow from 10.0.0.12 to any port 6379,8265 proto tcp comment 'cslr ray'"]
deleted:
  description: The rules deleted (or that would be in check mode), as C(ufw) arguments.
  returned: always
  type: list
  elements: str
policies:
  description: The default policies set (or that would be), direction to policy.
  returned: always
  type: dict
  sample: {incoming: deny}
enabled_now:
  description: Whether ufw was (or would be) enabled by this run.
  returned: always
  type: bool
"""

import re

from ansible.module_utils.basic import AnsibleModule

POLICY_WORDS = {'DROP': 'deny', 'ACCEPT': 'allow', 'REJECT': 'reject'}
POLICY_KEYS = {'incoming': 'DEFAULT_INPUT_POLICY', 'outgoing': 'DEFAULT_OUTPUT_POLICY'}
DEFAULTS_FILE = '/etc/default/ufw'

# The two spellings `ufw show added` uses for an allow rule with a port:
#   ufw allow 22/tcp comment 'x'                                   (from anywhere)
#   ufw allow from SRC to any port P[,P|LOW:HIGH...] proto tcp comment 'x'
_SIMPLE = re.compile(r"^ufw (allow|deny|reject|limit) (\S+?)(?:/(tcp|udp))?(?: comment '(.*)')?$")
_FULL = re.compile(r"^ufw (allow|deny|reject|limit) (?:in )?from (\S+) to any port (\S+)(?: proto (tcp|udp))?"
                   r"(?: comment '(.*)')?$")


def rule_key(action, source, ports, proto, comment):
    """What makes two rules the same: ports as a sorted set, `any` and the v4/v6 any-networks alike."""
    if source in ('0.0.0.0/0', '::/0'):
        source = 'any'
    port_set = ','.join(sorted(p for p in str(ports).split(',') if p))
    return (action, source, port_set, proto or 'any', comment or '')


def parse_added(text):
    """`ufw show added` -> [(key, ports as written)] for the rules it can read; other lines (header, app rules) are skipped."""
    rules = []
    for line in text.splitlines():
        line = line.strip()
        m = _FULL.match(line)
        if m:
            action, source, ports, proto, comment = m.groups()
            rules.append((rule_key(action, source, ports, proto, comment), ports))
            continue
        m = _SIMPLE.match(line)
        if m and re.match(r'^[0-9,:]+$', m.group(2)):
            action, ports, proto, comment = m.groups()
            rules.append((rule_key(action, 'any', ports, proto, comment), ports))
    return rules


def rule_args(rule):
    """The `ufw` arguments that add the rule (and, after `delete`, remove it)."""
    return ['allow', 'from', rule['from_ip'], 'to', 'any', 'port', rule['port'], 'proto', rule['proto']]


def plan(wanted, added_text, prune_comments):
    """(to_add, to_delete): wanted rules missing from `ufw show added`, and pruned-comment rules not wanted."""
    present = parse_added(added_text)
    present_keys = set(key for key, _ports in present)
    wanted_keys = set()
    to_add = []
    for rule in wanted:
        key = rule_key('allow', rule['from_ip'], rule['port'], rule['proto'], rule['comment'])
        wanted_keys.add(key)
        if key not in present_keys and rule not in to_add:
            to_add.append(rule)
    to_delete = []
    for key, written in present:
        action, source, _ports, proto, comment = key
        if action == 'allow' and comment in prune_comments and key not in wanted_keys:
            # The ports as ufw wrote them: `ufw delete` is given the rule as it stands.
            to_delete.append({'from_ip': source, 'port': written, 'proto': proto if proto != 'any' else 'tcp',
                              'comment': comment})
    return to_add, to_delete


def read_policies(text):
    """/etc/default/ufw -> {'incoming': 'deny', 'outgoing': 'allow'}."""
    found = {}
    for direction, key in POLICY_KEYS.items():
        m = re.search(r'^%s="?([A-Z]+)"?' % key, text, re.MULTILINE)
        if m:
            found[direction] = POLICY_WORDS.get(m.group(1), m.group(1).lower())
    return found


def describe(args, rule):
    return ' '.join(args) + (" comment '%s'" % rule['comment'] if rule.get('comment') else '')


def main():
    module = AnsibleModule(
        argument_spec=dict(
            rules=dict(type='list', elements='dict', default=[], options=dict(
                port=dict(type='str', required=True),
                proto=dict(type='str', choices=['tcp', 'udp'], default='tcp'),
                from_ip=dict(type='str', default='any'),
                comment=dict(type='str', required=True),
            )),
            prune_comments=dict(type='list', elements='str', default=[]),
            default_incoming=dict(type='str', choices=['allow', 'deny', 'reject']),
            default_outgoing=dict(type='str', choices=['allow', 'deny', 'reject']),
            enabled=dict(type='bool'),
        ),
        supports_check_mode=True,
    )
    ufw = module.get_bin_path('ufw', required=True)

    def ufw_run(*args):
        rc, out, err = module.run_command([ufw] + list(args))
        if rc != 0:
            module.fail_json(msg='ufw %s failed (rc %d): %s' % (' '.join(args), rc, (err or out).strip()),
                             rc=rc, stdout=out, stderr=err)
        return out

    before = ufw_run('show', 'added')
    to_add, to_delete = plan(module.params['rules'], before, module.params['prune_comments'])

    try:
        with open(DEFAULTS_FILE) as handle:
            policies_now = read_policies(handle.read())
    except (IOError, OSError):
        policies_now = {}
    policies = {}
    for direction in ('incoming', 'outgoing'):
        want = module.params['default_' + direction]
        if want and policies_now.get(direction) != want:
            policies[direction] = want

    enable = False
    if module.params['enabled']:
        enable = not re.search(r'^Status: active', ufw_run('status'), re.MULTILINE)

    result = dict(added=[describe(rule_args(r), r) for r in to_add],
                  deleted=[describe(rule_args(r), r) for r in to_delete],
                  policies=policies, enabled_now=enable)
    if module.check_mode:
        module.exit_json(changed=bool(to_add or to_delete or policies or enable), **result)

    for rule in to_add:
        ufw_run(*(rule_args(rule) + ['comment', rule['comment']]))
    for rule in to_delete:
        ufw_run(*(['delete'] + rule_args(rule)))
    after = ufw_run('show', 'added')
    for direction, want in policies.items():
        ufw_run('default', want, direction)
    if enable:
        ufw_run('--force', 'enable')
    # ufw skips a rule that exists under another spelling: changed is what really changed.
    module.exit_json(changed=bool(after != before or policies or enable), **result)


if __name__ == '__main__':
    main()
