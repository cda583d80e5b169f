# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for module_utils/_election.py: the head election rules as a table of cases."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

import pytest

from ansible_collections.cslr.platform.plugins.module_utils import _election as E

H1, H2, H3 = ('h1', '10.0.0.1'), ('h2', '10.0.0.2'), ('h3', '10.0.0.3')
W1, W2 = ('w1', '10.0.0.11'), ('w2', '10.0.0.12')
CANDS = [H1, H2, H3]
HOSTS = [H1, H2, H3, W1, W2]


class FakeProbe(object):
    """live: {address: node_count or True}; anything else is not live.
    failed: addresses whose probe tool cannot run."""

    def __init__(self, live=None, failed=(), counts=None):
        self.live = live or {}
        self.failed = set(failed)
        self.counts = counts or {}
        self.calls = []
        self.count_calls = []

    def __call__(self, address, port):
        self.calls.append((address, port))
        if address in self.failed:
            return E.ProbeResult(False, None, 'docker: image not found', failed=True)
        if address in self.live:
            nodes = self.live[address]
            return E.ProbeResult(True, None if nodes is True else nodes, 'GCS')
        return E.ProbeResult(False, None, 'refused')

    def count_nodes(self, address, port):
        self.count_calls.append((address, port))
        return self.counts.get(address)


def roles(head):
    return dict((h, 'head' if h == head else 'worker') for h, dummy in HOSTS)


# (id, probe kwargs, elect kwargs, expected: dict(head, address, port, action, demote) or error (class, text))
CASES = [
    # --- keep a live head: a healthy head never moves ---
    ('fresh-first-candidate', {}, {}, dict(head='h1', action='elect')),
    ('keep-live-first', {'live': {'10.0.0.1': 3}}, {}, dict(head='h1', action='keep')),
    ('keep-live-second-not-moved-back', {'live': {'10.0.0.2': 3}}, {}, dict(head='h2', action='keep')),
    ('keep-live-last', {'live': {'10.0.0.3': True}}, {}, dict(head='h3', action='keep')),
    ('keep-live-even-if-unreachable-listed', {'live': {'10.0.0.2': 2}}, {'reachable': ['h1']},
     dict(head='h2', action='keep')),
    ('keep-live-over-override', {'live': {'10.0.0.2': 2}}, {'head_address': '10.0.0.1'},
     dict(head='h2', action='keep')),
    ('keep-live-override-itself', {'live': {'10.0.0.3': 2}}, {'head_address': '10.0.0.3:6379'},
     dict(head='h3', action='keep')),
    # --- split brain ---
    ('split-brain-fails', {'live': {'10.0.0.1': 2, '10.0.0.2': 3}}, {},
     (E.SplitBrainError, 'split brain: 2 live Ray heads: h1 (10.0.0.1:6379, 2 nodes), h2 (10.0.0.2:6379, 3 nodes)')),
    ('split-brain-fail-names-fix', {'live': {'10.0.0.1': 1, '10.0.0.3': 1}}, {}, (E.SplitBrainError, 'resolve_split_brain')),
    ('split-brain-resolve-most-nodes', {'live': {'10.0.0.1': 2, '10.0.0.2': 5}}, {'resolve_split_brain': True},
     dict(head='h2', action='resolve_split_brain', demote=['h1'])),
    ('split-brain-resolve-tie-candidate-order', {'live': {'10.0.0.2': 2, '10.0.0.3': 2}}, {'resolve_split_brain': True},
     dict(head='h2', action='resolve_split_brain', demote=['h3'])),
    ('split-brain-resolve-three-heads', {'live': {'10.0.0.1': 1, '10.0.0.2': 4, '10.0.0.3': 4}},
     {'resolve_split_brain': True}, dict(head='h2', action='resolve_split_brain', demote=['h1', 'h3'])),
    ('split-brain-resolve-counts-asked', {'live': {'10.0.0.1': True, '10.0.0.2': True}, 'counts': {'10.0.0.2': 3}},
     {'resolve_split_brain': True, 'count_nodes': True}, dict(head='h2', action='resolve_split_brain', demote=['h1'])),
    ('split-brain-resolve-unknown-counts-tie', {'live': {'10.0.0.1': True, '10.0.0.3': True}},
     {'resolve_split_brain': True}, dict(head='h1', action='resolve_split_brain', demote=['h3'])),
    ('split-brain-unknown-loses-to-known-zero', {'live': {'10.0.0.1': True, '10.0.0.2': 0}},
     {'resolve_split_brain': True}, dict(head='h2', action='resolve_split_brain', demote=['h1'])),
    # --- no live head: override ---
    ('override-candidate-by-address', {}, {'head_address': '10.0.0.3'}, dict(head='h3', action='override')),
    ('override-candidate-by-name', {}, {'head_address': 'h2'}, dict(head='h2', action='override')),
    ('override-candidate-with-port', {}, {'head_address': '10.0.0.2:6379'}, dict(head='h2', action='override')),
    ('override-wins-over-reachability', {}, {'head_address': '10.0.0.3', 'reachable': ['h1']},
     dict(head='h3', action='override')),
    ('override-external-not-live', {}, {'head_address': '192.0.2.9:7000'},
     dict(head=None, address='192.0.2.9', port=7000, action='override')),
    ('override-external-live-kept', {'live': {'192.0.2.9': 4}}, {'head_address': '192.0.2.9:7000'},
     dict(head=None, address='192.0.2.9', port=7000, action='keep')),
    ('override-external-and-candidate-live-split', {'live': {'192.0.2.9': 4, '10.0.0.1': 1}},
     {'head_address': '192.0.2.9'}, (E.SplitBrainError, '192.0.2.9:6379')),
    ('override-non-candidate-error', {}, {'head_address': '10.0.0.11'}, (E.ElectionError, 'not a head candidate')),
    ('override-candidate-wrong-port', {}, {'head_address': '10.0.0.1:7000'}, (E.ElectionError, 'GCS port is 6379')),
    # --- no live head: first reachable candidate in order ---
    ('first-reachable-skips-down', {}, {'reachable': ['h2', 'h3', 'w1']}, dict(head='h2', action='elect')),
    ('first-reachable-order-not-list-order', {}, {'reachable': ['h3', 'h2']}, dict(head='h2', action='elect')),
    ('reachable-none-means-all', {}, {'reachable': None}, dict(head='h1', action='elect')),
    ('none-reachable', {}, {'reachable': ['w1', 'w2']}, (E.NoReachableCandidateError, 'no head candidate is reachable')),
    ('none-reachable-empty-list', {}, {'reachable': []}, (E.NoReachableCandidateError, 'h1, h2, h3')),
    ('candidate-order-respected', {}, {'candidates': [H3, H1, H2]}, dict(head='h3', action='elect')),
    # --- inputs ---
    ('non-candidates-never-head', {'live': {'10.0.0.11': 9}}, {}, dict(head='h1', action='elect')),
    ('custom-gcs-port', {}, {'gcs_port': 6380}, dict(head='h1', port=6380, action='elect')),
    ('no-candidates-no-override', {}, {'candidates': []}, (E.ElectionError, 'no head candidates')),
    ('no-candidates-external-override', {}, {'candidates': [], 'head_address': '192.0.2.9'},
     dict(head=None, address='192.0.2.9', action='override')),
    ('probe-tool-failure-decides-nothing', {'failed': ['10.0.0.2']}, {}, (E.ProbeError, 'fix the probe command')),
    ('duplicate-candidate', {}, {'candidates': [H1, H1]}, (E.ElectionError, 'listed twice')),
    ('candidate-address-conflict', {}, {'candidates': [('h1', '10.9.9.9')]}, (E.ElectionError, 'hosts give it 10.0.0.1')),
    ('same-address-two-hosts', {}, {'hosts': HOSTS + [('x', '10.0.0.1')]}, (E.ElectionError, 'same address')),
    ('candidate-address-from-hosts', {}, {'candidates': [{'host': 'h2'}]}, dict(head='h2', address='10.0.0.2', action='elect')),
    ('candidate-unknown-without-address', {}, {'candidates': [{'host': 'zz'}]}, (E.ElectionError, 'has no address')),
]


@pytest.mark.parametrize('probe_kw, elect_kw, expected', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_election_table(probe_kw, elect_kw, expected):
    probe = FakeProbe(**probe_kw)
    kw = dict(hosts=HOSTS)
    kw.update(elect_kw)
    if kw.pop('count_nodes', False):
        kw['count_nodes'] = probe.count_nodes
    candidates = kw.pop('candidates', CANDS)
    if isinstance(expected, tuple):
        error, text = expected
        with pytest.raises(error) as info:
            E.elect(candidates, probe, **kw)
        assert text in str(info.value)
        return
    decision = E.elect(candidates, probe, **kw)
    assert decision.head_host == expected['head']
    assert decision.action == expected['action']
    if 'address' in expected:
        assert decision.head_address == expected['address']
    elif expected['head']:
        assert decision.head_address == dict(HOSTS)[expected['head']]
    assert decision.head_port == expected.get('port', kw.get('gcs_port', 6379))
    assert decision.demote == expected.get('demote', [])
    # every host has a role; only the head host is head; non-candidates are workers
    assert decision.roles == roles(expected['head'])
    assert decision.reason


def test_every_candidate_probed_on_gcs_port():
    probe = FakeProbe()
    E.elect(CANDS, probe, hosts=HOSTS, gcs_port=6380)
    assert probe.calls == [('10.0.0.1', 6380), ('10.0.0.2', 6380), ('10.0.0.3', 6380)]


def test_non_candidates_are_not_probed():
    probe = FakeProbe()
    E.elect(CANDS, probe, hosts=HOSTS)
    assert all(address not in ('10.0.0.11', '10.0.0.12') for address, dummy in probe.calls)


def test_node_counts_only_asked_on_split_brain():
    probe = FakeProbe(live={'10.0.0.1': True})
    E.elect(CANDS, probe, hosts=HOSTS, resolve_split_brain=True, count_nodes=probe.count_nodes)
    assert probe.count_calls == []


def test_split_brain_error_lists_heads():
    probe = FakeProbe(live={'10.0.0.1': 1, '10.0.0.2': 1})
    with pytest.raises(E.SplitBrainError) as info:
        E.elect(CANDS, probe, hosts=HOSTS)
    assert info.value.heads == ['h1', 'h2']
    assert info.value.probes['h1'].live


def test_probe_exception_is_a_failed_probe():
    def probe(address, port):
        raise RuntimeError('boom')
    with pytest.raises(E.ProbeError, match='RuntimeError: boom'):
        E.elect(CANDS, probe, hosts=HOSTS)


def test_decision_as_dict():
    decision = E.elect(CANDS, FakeProbe(live={'10.0.0.2': 4}), hosts=HOSTS, reachable=['h1', 'h2'])
    data = decision.as_dict()
    assert data['head_gcs_address'] == '10.0.0.2:6379'
    assert data['probes']['h2'] == {'live': True, 'node_count': 4, 'detail': 'GCS', 'failed': False}
    assert data['unreachable_candidates'] == ['h3']
    assert data['live_heads'] == ['h2']


@pytest.mark.parametrize('text, expected', [
    ('10.0.0.1', ('10.0.0.1', 6379)),
    ('10.0.0.1:7000', ('10.0.0.1', 7000)),
    ('host.lab', ('host.lab', 6379)),
    ('[fd00::1]:7000', ('fd00::1', 7000)),
    ('[fd00::1]', ('fd00::1', 6379)),
    ('fd00::1', ('fd00::1', 6379)),
])
def test_split_host_port(text, expected):
    assert E.split_host_port(text, 6379) == expected


@pytest.mark.parametrize('text', ['', 'a:b', 'a:0', 'a:70000', '[fd00::1', ':6379'])
def test_split_host_port_invalid(text):
    with pytest.raises(E.ElectionError):
        E.split_host_port(text, 6379)


def test_format_host_port_ipv6():
    assert E.format_host_port('fd00::1', 6379) == '[fd00::1]:6379'
    assert E.format_host_port('10.0.0.1', 6379) == '10.0.0.1:6379'


@pytest.mark.parametrize('hint, expected', [
    (None, ['h1', 'h2', 'h3']),
    ('h2', ['h2', 'h1', 'h3']),
    ('10.0.0.3', ['h3', 'h1', 'h2']),
    ('w1', ['h1', 'h2', 'h3']),
])
def test_rank_candidates(hint, expected):
    assert [h for h, dummy in E.rank_candidates(CANDS, hint)] == expected


def test_claim_delay():
    assert [E.claim_delay(k, 2.5) for k in range(3)] == [0, 2.5, 5.0]


@pytest.mark.parametrize('text, expected', [
    ('h1=10.0.0.1,h2=10.0.0.2', [H1, H2]),
    (' h1 = 10.0.0.1 , , h2=10.0.0.2 ', [H1, H2]),
    ('10.0.0.1', [('10.0.0.1', '10.0.0.1')]),
    ('', []),
])
def test_parse_candidates_env(text, expected):
    assert E.parse_candidates_env(text) == expected


def test_parse_candidates_env_invalid():
    with pytest.raises(E.ElectionError):
        E.parse_candidates_env('h1=')


STATUS_TWO = textwrap.dedent("""\
    ======== Autoscaler status: 2026-11-23 04:14:03.852455 ========
    Node status
    ---------------------------------------------------------------
    Active:
     1 node_8c01c6cdf8bdc5f99549347bf6ddfa770597bb142477c4775b61708b
     1 node_7b2d6e179c16f9735187619f6ef3abc68c2184503b4e77474a806ff2
    Pending:
     (no pending nodes)
    Recent failures:
     (no failures)

    Resources
    ---------------------------------------------------------------
    Total Usage:
     0.0/2.0 CPU
    """)


@pytest.mark.parametrize('text, expected', [
    (STATUS_TWO, 2),
    ('Active:\n 3 ray.worker.gpu\n 1 ray.head.default\nIdle:\n 2 ray.worker.cpu\nPending:\n 1 ray.worker.gpu\n', 6),
    ('Active:\n (no active nodes)\nPending:\n', 0),
    ('garbage', None),
])
def test_parse_status_node_count(text, expected):
    assert E.parse_status_node_count(text) == expected


class Runner(object):
    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def __call__(self, argv, timeout):
        self.calls.append((argv, timeout))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def connected(address, port, timeout):
    return True, 'open'


@pytest.mark.parametrize('answer, live, failed, detail', [
    ((0, '', ''), True, False, 'Ray GCS answered at 10.0.0.1:6379'),
    ((1, '', 'ray.exceptions.RpcError: Timed out while waiting for GCS to become available.'), False, False, 'RpcError'),
    ((None, '', ''), False, False, 'timed out after 5.0s'),
    ((127, '', 'ray: not found'), False, True, 'ray: not found'),
    ((125, '', 'Unable to find image'), False, True, 'Unable to find image'),
    (OSError(2, 'No such file'), False, True, 'cannot run docker'),
])
def test_command_probe(answer, live, failed, detail):
    runner = Runner(answer)
    probe = E.CommandProbe(runner, command=['docker', 'exec', 'ray', 'ray'], timeout=5, connect=connected)
    result = probe('10.0.0.1', 6379)
    assert (result.live, result.failed) == (live, failed)
    assert detail in result.detail
    assert runner.calls == [(['docker', 'exec', 'ray', 'ray', 'health-check', '--address', '10.0.0.1:6379',
                              '--skip-version-check'], 5.0)]


def test_command_probe_tcp_refused_skips_command():
    runner = Runner()
    probe = E.CommandProbe(runner, connect=lambda a, p, t: (False, 'refused'))
    assert probe('10.0.0.1', 6379) == E.ProbeResult(False, None, 'refused')
    assert runner.calls == []


def test_command_probe_count_nodes():
    runner = Runner((0, STATUS_TWO, ''), (1, '', 'x'))
    probe = E.CommandProbe(runner, command=['ray'], timeout=5)
    assert probe.count_nodes('fd00::1', 6379) == 2
    assert runner.calls[0][0] == ['ray', 'status', '--address', '[fd00::1]:6379']
    assert probe.count_nodes('10.0.0.1', 6379) is None


def test_tcp_connect_open_and_closed():
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        assert E.tcp_connect('127.0.0.1', port, 1)[0] is True
    finally:
        server.close()
    assert E.tcp_connect('127.0.0.1', port, 1)[0] is False


def test_importable_standalone_without_ansible(tmp_path):
    """The container entrypoint copies this file and imports it with plain python3."""
    import shutil
    shutil.copy(E.__file__, str(tmp_path / '_election.py'))
    code = ('import sys; sys.modules["ansible"] = None; import _election as E; '
            'd = E.elect([("a", "10.0.0.1")], lambda a, p: E.ProbeResult(False)); print(d.head_host)')
    out = subprocess.run([sys.executable, '-I', '-c', 'import sys; sys.path.insert(0, %r); %s' % (str(tmp_path), code)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == 'a'


def test_decision_never_returns_an_unreachable_key():
    """Ansible takes a truthy `unreachable` in a module result as "host unreachable"."""
    decision = E.elect([("h1", "10.0.0.1"), ("h2", "10.0.0.2")], lambda a, p: E.ProbeResult(False), reachable=["h2"])
    data = decision.as_dict()
    assert 'unreachable' not in data and data['unreachable_candidates'] == ['h1']


# The caller's names for the options reach the messages themselves (no one rewrites them afterwards),
# and every error names the option at fault.
NAMES = {'head_address': 'cslr_head_address', 'resolve_split_brain': 'cslr_ray_resolve_split_brain',
         'probe_command': 'the probe (cslr_ray_image)'}


@pytest.mark.parametrize('probe_kw, elect_kw, option, text', [
    ({'live': {'10.0.0.1': 1, '10.0.0.3': 1}}, {}, 'resolve_split_brain',
     'rerun with cslr_ray_resolve_split_brain enabled'),
    ({}, {'head_address': '10.0.0.11'}, 'head_address', 'cslr_head_address 10.0.0.11 is host w1'),
    ({}, {'head_address': '10.0.0.1:7000'}, 'head_address', 'cslr_head_address 10.0.0.1:7000 names candidate h1'),
    ({}, {'candidates': []}, 'head_address', 'no head candidates and no cslr_head_address'),
    ({}, {'reachable': []}, 'head_address', 'or set cslr_head_address to the head to use'),
    ({'failed': ['10.0.0.2']}, {}, 'probe_command', 'fix the probe command (the probe (cslr_ray_image))'),
], ids=['split-brain', 'non-candidate', 'wrong-port', 'no-candidates', 'none-reachable', 'probe-failed'])
def test_errors_use_the_callers_names_and_name_the_option(probe_kw, elect_kw, option, text):
    kw = dict(hosts=HOSTS, names=NAMES)
    kw.update(elect_kw)
    candidates = kw.pop('candidates', CANDS)
    with pytest.raises(E.ElectionError) as info:
        E.elect(candidates, FakeProbe(**probe_kw), **kw)
    assert info.value.option == option
    assert text in str(info.value)
    # the module's own option names appear nowhere once the caller named them
    assert ' %s ' % option not in ' %s ' % str(info.value).replace('(', ' ').replace(')', ' ')


def test_without_names_the_messages_name_the_options_themselves():
    with pytest.raises(E.SplitBrainError) as info:
        E.elect(CANDS, FakeProbe(live={'10.0.0.1': 1, '10.0.0.2': 1}), hosts=HOSTS)
    assert 'rerun with resolve_split_brain enabled' in str(info.value)
    assert E.elect(CANDS, FakeProbe(), hosts=HOSTS, head_address='10.0.0.2',
                   names=NAMES).reason.startswith('no live Ray head; cslr_head_address 10.0.0.2 (candidate h2)')
    assert E.ElectionError('x').option is None


def test_an_unparsable_head_address_names_the_callers_variable():
    with pytest.raises(E.ElectionError) as info:
        E.elect(CANDS, FakeProbe(), hosts=HOSTS, head_address='10.0.0.1:http', names=NAMES)
    assert info.value.option == 'head_address'
    assert str(info.value).startswith("cslr_head_address 10.0.0.1:http: invalid port in address '10.0.0.1:http'")
