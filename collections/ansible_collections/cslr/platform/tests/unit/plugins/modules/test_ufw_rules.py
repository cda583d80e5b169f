# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests for cslr.platform.ufw_rules: the plan against recorded `ufw show added` outputs, and the
module's commands against a fake ufw that keeps its rules the way ufw prints them."""

from __future__ import annotations

import re
from unittest import mock

import pytest

from ansible.module_utils import basic

from ansible_collections.cslr.platform.plugins.modules import ufw_rules
from ansible_collections.cslr.platform.tests.unit.plugins.modules.utils import (
    AnsibleExitJson, AnsibleFailJson, exit_json, fail_json, patch_module_args)

RAY = '6379,6800,11000:11999,52365'
ADDED = """Added user rules (see 'ufw status' for running firewall):
ufw allow 22/tcp comment 'cslr ssh'
ufw allow from 10.213.0.11 to any port 6379,6800,11000:11999,52365 proto tcp comment 'cslr ray'
ufw allow from 10.213.0.12 to any port 6379,6800,11000:11999,52365 proto tcp comment 'cslr ray'
ufw allow from 10.213.0.11 to any port 5000,8265 proto tcp comment 'cslr services'
ufw allow from 192.0.2.7 to any port 9999 proto tcp comment 'by hand'
ufw allow OpenSSH
"""


def rule(port, source, comment):
    return {'port': port, 'proto': 'tcp', 'from_ip': source, 'comment': comment}


WANTED = [rule('22', 'any', 'cslr ssh'), rule(RAY, '10.213.0.11', 'cslr ray'), rule(RAY, '10.213.0.12', 'cslr ray'),
          rule('5000,8265', '10.213.0.11', 'cslr services')]


def test_parse_reads_both_spellings_and_skips_the_rest():
    keys = [key for key, _ports in ufw_rules.parse_added(ADDED)]
    assert ('allow', 'any', '22', 'tcp', 'cslr ssh') in keys
    assert ('allow', '10.213.0.12', ','.join(sorted(RAY.split(','))), 'tcp', 'cslr ray') in keys
    assert ('allow', '192.0.2.7', '9999', 'tcp', 'by hand') in keys
    assert len(keys) == 5  # the header and the app rule (OpenSSH) are not port rules


def test_nothing_to_do_when_every_rule_is_there():
    assert ufw_rules.plan(WANTED, ADDED, ['cslr ray', 'cslr services']) == ([], [])


def test_port_order_does_not_matter():
    wanted = [rule('8265,5000', '10.213.0.11', 'cslr services')]
    assert ufw_rules.plan(wanted, ADDED, [])[0] == []


def test_missing_rule_added_and_stale_rule_of_a_pruned_comment_deleted():
    wanted = WANTED[:2] + [rule(RAY, '10.213.0.13', 'cslr ray'), WANTED[3]]
    to_add, to_delete = ufw_rules.plan(wanted, ADDED, ['cslr ray', 'cslr services'])
    assert to_add == [rule(RAY, '10.213.0.13', 'cslr ray')]
    assert [(r['from_ip'], r['comment']) for r in to_delete] == [('10.213.0.12', 'cslr ray')]


def test_rules_of_other_comments_are_never_pruned():
    _add, to_delete = ufw_rules.plan([], ADDED, ['cslr ray'])
    assert {r['comment'] for r in to_delete} == {'cslr ray'}


def test_a_changed_port_set_replaces_the_rule():
    wanted = [rule('5000,8265,8888', '10.213.0.11', 'cslr services')]
    to_add, to_delete = ufw_rules.plan(wanted, ADDED, ['cslr services'])
    assert to_add == wanted and [r['port'] for r in to_delete] == ['5000,8265']


def test_policies_read_from_defaults_file():
    text = 'IPV6=yes\nDEFAULT_INPUT_POLICY="DROP"\nDEFAULT_OUTPUT_POLICY="ACCEPT"\n'
    assert ufw_rules.read_policies(text) == {'incoming': 'deny', 'outgoing': 'allow'}


class FakeUfw(object):
    """`ufw` with a rule list printed the way `ufw show added` does, a status and a command log."""

    def __init__(self, added=ADDED, active=True):
        self.lines = added.splitlines()
        self.active = active
        self.calls = []

    def __call__(self, module, argv, **kwargs):  # pylint: disable=unused-argument
        args = argv[1:]
        self.calls.append(' '.join(args))
        if args == ['show', 'added']:
            return 0, '\n'.join(self.lines) + '\n', ''
        if args == ['status']:
            return 0, 'Status: %s\n' % ('active' if self.active else 'inactive'), ''
        if args[:2] == ['--force', 'enable']:
            self.active = True
            return 0, 'Firewall is active and enabled on system startup\n', ''
        if args[0] == 'default':
            return 0, '', ''
        if args[0] == 'allow':
            line = 'ufw ' + ' '.join(args[:-2]) + " comment '%s'" % args[-1]
            line = re.sub(r'^ufw allow from any to any port (\S+) proto (\w+)', r'ufw allow \1/\2', line)
            if line not in self.lines:
                self.lines.append(line)
            return 0, 'Rule added\n', ''
        if args[0] == 'delete':
            spec = 'ufw ' + ' '.join(args[1:])
            before = len(self.lines)
            self.lines = [ln for ln in self.lines if not ln.startswith(spec + ' comment')]
            return (0, 'Rule deleted\n', '') if len(self.lines) < before else (1, '', 'Could not delete non-existent rule\n')
        return 1, '', 'unexpected %s' % args


def bound(fake):
    """A function (so it binds as a method) that hands run_command's call to the fake."""
    def run_command(self, argv, **kwargs):
        return fake(self, argv, **kwargs)
    return run_command


def run_module(args, fake, check=False, policies='DEFAULT_INPUT_POLICY="DROP"\nDEFAULT_OUTPUT_POLICY="ACCEPT"\n'):
    if check:
        args = dict(args, _ansible_check_mode=True)
    opener = mock.mock_open(read_data=policies)
    with patch_module_args(args), \
            mock.patch.multiple(basic.AnsibleModule, exit_json=exit_json, fail_json=fail_json,
                                get_bin_path=lambda *a, **k: '/usr/sbin/ufw'), \
            mock.patch.object(basic.AnsibleModule, 'run_command', bound(fake)), \
            mock.patch('builtins.open', opener):
        with pytest.raises((AnsibleExitJson, AnsibleFailJson)) as exc:
            ufw_rules.main()
    return exc.value.args[0]


ARGS = {'rules': WANTED, 'prune_comments': ['cslr ray', 'cslr services'], 'default_incoming': 'deny',
        'default_outgoing': 'allow', 'enabled': True}


def test_converged_host_is_unchanged_and_only_read():
    fake = FakeUfw()
    res = run_module(ARGS, fake)
    assert res['changed'] is False and fake.calls == ['show added', 'status', 'show added']


def test_first_run_adds_in_order_then_denies_then_enables():
    fake = FakeUfw(added="Added user rules (see 'ufw status' for running firewall):\n(None)\n", active=False)
    res = run_module(ARGS, fake, policies='DEFAULT_INPUT_POLICY="ACCEPT"\nDEFAULT_OUTPUT_POLICY="ACCEPT"\n')
    assert res['changed'] is True and res['enabled_now'] is True and res['policies'] == {'incoming': 'deny'}
    writes = [c for c in fake.calls if c not in ('show added', 'status')]
    assert writes[0].startswith('allow from any to any port 22 proto tcp')  # SSH before anything is denied
    assert writes[-2:] == ['default deny incoming', '--force enable']
    # ...and the next run finds everything in place.
    assert run_module(ARGS, fake)['changed'] is False


def test_stale_rule_deleted():
    fake = FakeUfw()
    res = run_module(dict(ARGS, rules=[r for r in WANTED if r['from_ip'] != '10.213.0.12']), fake)
    assert res['changed'] is True and res['deleted'] == [
        "allow from 10.213.0.12 to any port %s proto tcp comment 'cslr ray'" % RAY]
    assert not any('10.213.0.12' in ln for ln in fake.lines)


def test_check_mode_reports_and_changes_nothing():
    fake = FakeUfw(active=False)
    res = run_module(dict(ARGS, rules=WANTED + [rule(RAY, '10.213.0.13', 'cslr ray')]), fake, check=True)
    assert res['changed'] is True and res['enabled_now'] is True and len(res['added']) == 1
    assert fake.calls == ['show added', 'status']


def test_ufw_failure_names_the_command():
    def broken(module, argv, **kwargs):  # pylint: disable=unused-argument
        return 1, '', 'ERROR: You need to be root to run this script'
    res = run_module(ARGS, broken)
    assert res['failed'] and 'ufw show added failed' in res['msg'] and 'root' in res['msg']
