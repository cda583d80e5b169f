# -*- coding: utf-8 -*-
"""Ray container entrypoint: ordered claiming never yields two heads.

The entrypoint and _election.py are copied side by side into a temporary
directory and imported from there, exactly as the Ray image uses them. Two
(or more) entrypoints run in threads against a fake in-process cluster whose
GCS takes a while to boot; they all start at the same instant with no head.

The last test starts a REAL Ray GCS on 127.0.0.1 (ray 2.60.0 from a venv that
the fixture creates under .cache/ when .venv has no Ray) and shows the probe
says live for the GCS port and not live for a plain TCP listener.
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
COLLECTION = os.path.join(REPO, 'collections', 'ansible_collections', 'cslr', 'platform')
ENTRYPOINT = os.path.join(COLLECTION, 'roles', 'ray', 'files', 'cslr_ray_entrypoint.py')
ELECTION = os.path.join(COLLECTION, 'plugins', 'module_utils', '_election.py')
RAY_VERSION = '2.60.0'
REPETITIONS = 12


@pytest.fixture(scope='module')
def ep(tmp_path_factory):
    """The entrypoint module, imported from a directory holding only it and _election.py."""
    where = tmp_path_factory.mktemp('entrypoint')
    shutil.copy(ENTRYPOINT, str(where / 'cslr_ray_entrypoint.py'))
    shutil.copy(ELECTION, str(where / '_election.py'))
    sys.path.insert(0, str(where))
    try:
        for name in ('cslr_ray_entrypoint', '_election'):
            sys.modules.pop(name, None)
        module = importlib.import_module('cslr_ray_entrypoint')
        assert module._election.__file__ == str(where / '_election.py')
        yield module
    finally:
        sys.path.remove(str(where))
        for name in ('cslr_ray_entrypoint', '_election'):
            sys.modules.pop(name, None)


class FakeCluster(object):
    """Shared state standing in for the network: which addresses run a GCS, since when, and who joined."""

    def __init__(self, election, boot_seconds):
        self.E = election
        self.boot = boot_seconds
        self.lock = threading.Lock()
        self.heads = {}  # address -> {'up_at': t, 'workers': set()}
        self.history = []  # every head ever started

    def probe(self, address, port):
        with self.lock:
            head = self.heads.get(address)
            if head and time.monotonic() >= head['up_at']:
                return self.E.ProbeResult(True, None, 'GCS up')
        return self.E.ProbeResult(False, None, 'refused')

    def count_nodes(self, address, port):
        with self.lock:
            head = self.heads.get(address)
            return 1 + len(head['workers']) if head and time.monotonic() >= head['up_at'] else None

    def start_head(self, address):
        with self.lock:
            assert address not in self.heads
            self.heads[address] = {'up_at': time.monotonic() + self.boot, 'workers': set()}
            self.history.append(address)

    def stop_head(self, address):
        with self.lock:
            head = self.heads.pop(address)
            assert not head['workers'], 'a head with workers stepped down'

    def join(self, gcs_address, address):
        head_address = gcs_address.rsplit(':', 1)[0]
        with self.lock:
            self.heads[head_address]['workers'].add(address)


class FakeProbe(object):
    def __init__(self, cluster):
        self.cluster = cluster

    def __call__(self, address, port):
        return self.cluster.probe(address, port)

    def count_nodes(self, address, port):
        return self.cluster.count_nodes(address, port)


class FakeLauncher(object):
    def __init__(self, cluster, address):
        self.cluster = cluster
        self.address = address
        self.started = 0

    def start_head(self):
        self.started += 1
        self.cluster.start_head(self.address)
        return self.address

    def head_exit_code(self, handle):
        return None

    def stop_head(self, handle):
        self.cluster.stop_head(handle)

    def wait_head(self, handle):
        return ('head', self.address)

    def exec_worker(self, gcs_address):
        self.cluster.join(gcs_address, self.address)
        return ('worker', gcs_address)


def env_for(address, name=None, hint=None, step=0.2, recheck=0.4, candidates='a=127.0.0.1,b=127.0.0.2'):
    env = {
        'CSLR_NODE_ADDRESS': address,
        'CSLR_CANDIDATES': candidates,
        'CSLR_GCS_PORT': '6379',
        'CSLR_CLAIM_STEP_SECONDS': str(step),
        'CSLR_RECHECK_SECONDS': str(recheck),
        'CSLR_JOIN_BACKOFF_MAX': '0.05',
    }
    if name:
        env['CSLR_NODE_NAME'] = name
    if hint:
        env['CSLR_INITIAL_HEAD'] = hint
    return env


def race(ep, envs, boot_seconds, first_start=False):
    """Start one entrypoint per env at the same instant; return (cluster, results)."""
    cluster = FakeCluster(ep._election, boot_seconds)
    barrier = threading.Barrier(len(envs))
    results = [None] * len(envs)
    errors = []
    logs = []

    def node(index, env):
        try:
            cfg = ep.Config(env)
            entry = ep.Entrypoint(cfg, FakeProbe(cluster), FakeLauncher(cluster, cfg.node_address),
                                  logger=lambda msg: logs.append('%s: %s' % (cfg.me, msg)), first_start=first_start)
            barrier.wait()
            results[index] = entry.run()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=node, args=(i, env)) for i, env in enumerate(envs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert all(not t.is_alive() for t in threads)
    return cluster, results, logs


def assert_one_head(cluster, results, logs):
    heads = [r for r in results if r[0] == 'head']
    assert len(heads) == 1, '\n'.join(logs)
    assert list(cluster.heads) == [heads[0][1]], '\n'.join(logs)
    head_gcs = '%s:6379' % heads[0][1]
    assert all(r[1] == head_gcs for r in results if r[0] == 'worker'), '\n'.join(logs)
    assert cluster.heads[heads[0][1]]['workers'] == set(
        '127.0.0.%d' % (i + 1) for i, r in enumerate(results) if r[0] == 'worker'), '\n'.join(logs)


@pytest.mark.parametrize('rep', range(REPETITIONS))
def test_two_candidates_same_moment_one_head(ep, rep):
    """Same env on both (as Ansible renders it): rank 0 claims, rank 1 sees it and joins."""
    cluster, results, logs = race(ep, [env_for('127.0.0.1'), env_for('127.0.0.2')], boot_seconds=0.05)
    assert_one_head(cluster, results, logs)
    assert results[0] == ('head', '127.0.0.1')
    assert cluster.history == ['127.0.0.1']


@pytest.mark.parametrize('rep', range(REPETITIONS))
def test_initial_head_hint_claims_first(ep, rep):
    """Ansible elected b (a was down): b claims first even though a is first in order."""
    envs = [env_for('127.0.0.1', hint='b'), env_for('127.0.0.2', hint='b')]
    cluster, results, logs = race(ep, envs, boot_seconds=0.05)
    assert_one_head(cluster, results, logs)
    assert results[1] == ('head', '127.0.0.2')


@pytest.mark.parametrize('rep', range(REPETITIONS))
def test_stale_hints_both_claim_recheck_leaves_one(ep, rep):
    """Worst case: each node believes it is rank 0 (stale hints), so both start a head at
    once; the post-start re-check makes exactly one step down (tie -> candidate order)."""
    envs = [env_for('127.0.0.1', hint='a'), env_for('127.0.0.2', hint='b')]
    cluster, results, logs = race(ep, envs, boot_seconds=0.05)
    assert_one_head(cluster, results, logs)
    assert sorted(cluster.history) == ['127.0.0.1', '127.0.0.2']  # both really claimed
    assert results[0] == ('head', '127.0.0.1')


@pytest.mark.parametrize('rep', range(REPETITIONS))
def test_claim_step_shorter_than_gcs_boot(ep, rep):
    """Step (0.01 s) far shorter than the GCS boot (0.1 s): rank 1 claims before rank 0's GCS
    answers; the re-check still leaves one head."""
    envs = [env_for('127.0.0.1', step=0.01, recheck=0.3), env_for('127.0.0.2', step=0.01, recheck=0.3)]
    cluster, results, logs = race(ep, envs, boot_seconds=0.1)
    assert_one_head(cluster, results, logs)


@pytest.mark.parametrize('rep', range(REPETITIONS))
def test_three_candidates_and_a_worker(ep, rep):
    cands = 'a=127.0.0.1,b=127.0.0.2,c=127.0.0.3'
    envs = [env_for('127.0.0.%d' % i, step=0.1, candidates=cands) for i in (1, 2, 3, 4)]
    cluster, results, logs = race(ep, envs, boot_seconds=0.03)
    assert_one_head(cluster, results, logs)
    assert results[3] == ('worker', '127.0.0.1:6379')  # the non-candidate waited and joined


def test_first_candidate_down_second_claims_after_its_step(ep):
    """a never starts (host down): b waits one step, finds no head, claims."""
    start = time.monotonic()
    cluster, results, logs = race(ep, [env_for('127.0.0.2', step=0.2)], boot_seconds=0.01)
    assert results == [('head', '127.0.0.2')]
    assert time.monotonic() - start >= 0.2


def test_live_head_is_joined_not_replaced(ep):
    cluster = FakeCluster(ep._election, 0)
    cluster.start_head('127.0.0.2')
    cfg = ep.Config(env_for('127.0.0.1'))
    result = ep.Entrypoint(cfg, FakeProbe(cluster), FakeLauncher(cluster, '127.0.0.1'), logger=lambda m: None).run()
    assert result == ('worker', '127.0.0.2:6379')


def test_override_names_this_node(ep):
    cluster = FakeCluster(ep._election, 0)
    env = env_for('127.0.0.2', step=5)
    env['CSLR_HEAD_ADDRESS'] = '127.0.0.2:6379'
    cfg = ep.Config(env)
    result = ep.Entrypoint(cfg, FakeProbe(cluster), FakeLauncher(cluster, '127.0.0.2'), logger=lambda m: None).run()
    assert result == ('head', '127.0.0.2')  # no 5 s claim wait: the override decides


@pytest.mark.parametrize('rep', range(REPETITIONS // 3))
def test_new_candidate_container_beside_a_slow_head_holds_its_claim(ep, rep):
    """New containers of the elected head (a) and of candidate b start together; a's
    GCS answers after 0.6 s, three claiming steps: b holds its claim (CSLR_CLAIM_HOLD_SECONDS) and
    joins a; a never sees a second head."""
    envs = [dict(env_for('127.0.0.%d' % i, hint='a', step=0.2, recheck=0.4), CSLR_CLAIM_HOLD_SECONDS='5')
            for i in (1, 2)]
    cluster, results, logs = race(ep, envs, boot_seconds=0.6, first_start=True)
    assert_one_head(cluster, results, logs)
    assert cluster.history == ['127.0.0.1'], '\n'.join(logs)
    assert results[1] == ('worker', '127.0.0.1:6379')
    assert any('first start of this container: the elected head a gets 5.0s' in line for line in logs), logs


def test_restarted_candidate_container_claims_after_its_step(ep):
    """The same timing when Docker restarts the containers (not their first start): b claims after
    its step, as after a reboot, and the re-check leaves one head."""
    envs = [dict(env_for('127.0.0.%d' % i, hint='a', step=0.2, recheck=1.5), CSLR_CLAIM_HOLD_SECONDS='5')
            for i in (1, 2)]
    cluster, results, logs = race(ep, envs, boot_seconds=0.6, first_start=False)
    assert_one_head(cluster, results, logs)
    assert sorted(cluster.history) == ['127.0.0.1', '127.0.0.2'], '\n'.join(logs)  # b did claim


def test_hold_ends_and_the_candidate_claims_when_the_head_never_comes(ep):
    """The elected head never starts (its compose failed): b claims once the hold is over."""
    clock = FakeClock()
    env = dict(env_for('127.0.0.2', hint='a', step=10), CSLR_CLAIM_HOLD_SECONDS='60')

    def probe(address, port):
        return ep._election.ProbeResult(False, None, 'refused')

    entry = ep.Entrypoint(ep.Config(env), probe, None, sleep=clock.sleep, clock=clock, logger=lambda m: None,
                          first_start=True)
    assert entry.decide() == (ep.HEAD, None)
    assert 60 <= clock.now <= 62


def test_first_start_marker(ep, tmp_path, capsys):
    marker = str(tmp_path / 'started')
    assert ep.first_start(marker) is True
    assert ep.first_start(marker) is False  # a restart keeps the container's filesystem
    assert ep.first_start(str(tmp_path / 'missing-dir' / 'started')) is True  # cannot write: every start holds
    assert 'cannot write' in capsys.readouterr().err


def test_claim_hold_config(ep):
    cfg = ep.Config(env_for('127.0.0.1'))
    assert (cfg.claim_hold, cfg.start_marker) == (0.0, '/tmp/.cslr-ray-container-started')
    cfg = ep.Config(dict(env_for('127.0.0.1'), CSLR_CLAIM_HOLD_SECONDS='60', CSLR_START_MARKER='/x'))
    assert (cfg.claim_hold, cfg.start_marker) == (60.0, '/x')


class FakeClock(object):
    """A clock the entrypoint's sleep advances: waits of minutes take no time."""

    def __init__(self):
        self.now = 0.0
        self.pauses = []
        self.paused_at = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.pauses.append(seconds)
        self.paused_at.append(self.now)
        self.now += seconds


def _waiting_worker(ep, clock, head_up_at, env_update=None):
    """A non-candidate worker started at t=0 whose head's GCS answers from head_up_at on."""
    def probe(address, port):
        live = head_up_at is not None and address == '127.0.0.1' and clock.now >= head_up_at
        return ep._election.ProbeResult(live, None, 'GCS up' if live else 'refused')

    env = {'CSLR_NODE_ADDRESS': '127.0.0.9', 'CSLR_CANDIDATES': 'a=127.0.0.1,b=127.0.0.2'}
    env.update(env_update or {})
    cfg = ep.Config(env)
    entry = ep.Entrypoint(cfg, probe, None, sleep=clock.sleep, clock=clock, logger=lambda m: None,
                          jitter=lambda: 1.0)  # the longest pause of each jittered range
    return entry


def test_worker_started_with_its_head_joins_within_a_second_and_half(ep):
    """A worker started while its head is starting; the head's GCS answers some 10 s later. The
    worker probes about every second meanwhile (it used to double its wait: 0.5, 1, 2, 4, 8 s, so
    it could join up to 8 s after the head answered)."""
    clock = FakeClock()
    entry = _waiting_worker(ep, clock, head_up_at=10.3)
    assert entry.decide() == (ep.WORKER, '127.0.0.1:6379')
    assert 10.3 <= clock.now <= 10.3 + 1.25
    assert max(clock.pauses) <= 1.25


def test_worker_waiting_for_a_head_that_stays_away_backs_off(ep):
    """After CSLR_JOIN_FAST_SECONDS the waits double, up to CSLR_JOIN_BACKOFF_MAX."""
    clock = FakeClock()
    entry = _waiting_worker(ep, clock, head_up_at=600.0,
                                    env_update={'CSLR_JOIN_FAST_SECONDS': '20', 'CSLR_JOIN_BACKOFF_MAX': '30'})
    assert entry.decide() == (ep.WORKER, '127.0.0.1:6379')
    fast = [p for t, p in zip(clock.paused_at, clock.pauses) if t < 20]
    slow = [p for t, p in zip(clock.paused_at, clock.pauses) if t >= 20]
    assert fast and max(fast) <= 1.25
    assert slow[:5] == [1.25, 2.5, 5.0, 10.0, 20.0]
    assert max(slow) == 30 * 1.25 and slow[-1] == 30 * 1.25
    assert len(clock.pauses) < 20 / 0.75 + 30  # not every second for ten minutes


@pytest.mark.parametrize('value, expected', [(None, 60.0), ('0', 0.0), ('5.5', 5.5)])
def test_join_fast_seconds(ep, value, expected):
    env = env_for('127.0.0.9')
    if value is not None:
        env['CSLR_JOIN_FAST_SECONDS'] = value
    assert ep.Config(env).join_fast_seconds == expected


# ----------------------------------------------------------------------------
# Config / argv
# ----------------------------------------------------------------------------

def test_config_and_argv(ep):
    env = env_for('10.0.0.2')
    env.update({'CSLR_CANDIDATES': 'lab1=10.0.0.1,lab2=10.0.0.2', 'CSLR_GCS_PORT': '6380',
                'CSLR_RAY_START_ARGS': '--num-cpus=4 --resources=\'{"x": 1}\'',
                'CSLR_RAY_HEAD_ARGS': '--dashboard-host=0.0.0.0', 'CSLR_RAY_WORKER_ARGS': '--min-worker-port=20000'})
    cfg = ep.Config(env)
    assert (cfg.me, cfg.is_candidate, cfg.rank) == ('lab2', True, 1)
    launcher = ep.RayLauncher(cfg)
    assert launcher.head_argv() == ['ray', 'start', '--block', '--head', '--port=6380', '--node-ip-address=10.0.0.2',
                                    '--num-cpus=4', '--resources={"x": 1}', '--dashboard-host=0.0.0.0']
    assert launcher.worker_argv('10.0.0.1:6380') == ['ray', 'start', '--block', '--address=10.0.0.1:6380',
                                                     '--node-ip-address=10.0.0.2', '--num-cpus=4', '--resources={"x": 1}',
                                                     '--min-worker-port=20000']


@pytest.mark.parametrize('update, text', [
    ({'CSLR_NODE_ADDRESS': ''}, 'CSLR_NODE_ADDRESS is required'),
    ({'CSLR_CANDIDATES': '', 'CSLR_HEAD_ADDRESS': ''}, 'no node could ever be head'),
    ({'CSLR_RAY_START_ARGS': '--head'}, 'must not contain --head'),
    ({'CSLR_RAY_START_ARGS': '--address=x:1'}, 'must not contain --address'),
    ({'CSLR_CLAIM_STEP_SECONDS': 'soon'}, 'must be a number'),
    ({'CSLR_NODE_NAME': 'a', 'CSLR_NODE_ADDRESS': '127.0.0.9'}, 'CSLR_NODE_ADDRESS is 127.0.0.9'),
    ({'CSLR_CANDIDATES': 'a=127.0.0.1,a=127.0.0.2'}, 'listed twice'),
])
def test_config_errors(ep, update, text):
    env = env_for('127.0.0.1')
    env.update(update)
    with pytest.raises(ep.ConfigError, match=text):
        ep.Config(env)


def test_main_reports_config_error(ep):
    assert ep.main({'CSLR_NODE_ADDRESS': ''}) == 2


def test_script_runs_standalone_with_plain_python(tmp_path):
    """python3 -I (no site, no ansible) with the two files side by side: config errors exit 2."""
    shutil.copy(ENTRYPOINT, str(tmp_path / 'cslr_ray_entrypoint.py'))
    shutil.copy(ELECTION, str(tmp_path / '_election.py'))
    proc = subprocess.run([sys.executable, '-I', str(tmp_path / 'cslr_ray_entrypoint.py')], env={'PATH': '/usr/bin:/bin'},
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert proc.returncode == 2, proc.stderr
    assert 'CSLR_NODE_ADDRESS is required' in proc.stderr


# ----------------------------------------------------------------------------
# A real Ray GCS on loopback
# ----------------------------------------------------------------------------

def _free_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture(scope='module')
def ray_bin():
    """The ray CLI: from .venv when it has Ray, else from a venv created once under .cache/."""
    here = os.path.join(os.path.dirname(sys.executable), 'ray')
    if os.path.exists(here):
        return here
    venv = os.path.join(REPO, '.cache', 'ray-%s-venv' % RAY_VERSION)
    ray = os.path.join(venv, 'bin', 'ray')
    if not os.path.exists(ray):
        subprocess.run([sys.executable, '-m', 'venv', venv], check=True)
        subprocess.run([os.path.join(venv, 'bin', 'pip'), 'install', '-q', 'ray==%s' % RAY_VERSION], check=True,
                       timeout=900)
    return ray


@pytest.fixture
def real_gcs(ray_bin):
    """`ray start --head --block` on 127.0.0.1 with small free ports, in its own process group so
    teardown stops exactly the processes it started."""
    port = _free_port()
    temp_dir = tempfile.mkdtemp(prefix='cslrray', dir='/tmp')  # short: Ray's socket paths have a length limit
    worker_low = 30000 + (port % 1000) * 20
    argv = [ray_bin, 'start', '--head', '--block', '--node-ip-address=127.0.0.1', '--port=%d' % port,
            '--include-dashboard=false', '--num-cpus=1',
            '--disable-usage-stats', '--temp-dir=%s' % temp_dir, '--node-manager-port=%d' % _free_port(),
            '--object-manager-port=%d' % _free_port(), '--min-worker-port=%d' % worker_low,
            '--max-worker-port=%d' % (worker_low + 19)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                socket.create_connection(('127.0.0.1', port), 1).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode(errors='replace')
                time.sleep(0.5)
        yield ray_bin, port
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                continue
            time.sleep(1)  # let the GCS / raylet children in the group exit too
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.slow
def test_real_gcs_is_live_and_plain_tcp_is_not(ep, real_gcs):
    ray_bin, gcs_port = real_gcs
    E = ep._election
    probe = E.CommandProbe(ep.subprocess_runner, command=[ray_bin], timeout=20)

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(('127.0.0.1', 0))
    listener.listen(8)  # a port that is open but is no GCS (think Redis on 6379)
    other_port = listener.getsockname()[1]
    try:
        live = None
        for dummy in range(20):  # the GCS may take a moment after its port opens
            live = probe('127.0.0.1', gcs_port)
            if live.live:
                break
            time.sleep(1)
        assert live.live, live.detail
        count = None
        for dummy in range(30):  # `ray status` has nothing to report for the first seconds of a cluster
            count = probe.count_nodes('127.0.0.1', gcs_port)
            if count is not None:
                break
            time.sleep(1)
        assert count == 1

        short = E.CommandProbe(ep.subprocess_runner, command=[ray_bin], timeout=8)
        not_gcs = short('127.0.0.1', other_port)
        assert not not_gcs.live and not not_gcs.failed, not_gcs
        assert E.tcp_connect('127.0.0.1', other_port, 1)[0] is True  # the port IS open

        decision = E.elect([('a', '127.0.0.1')], probe, gcs_port=gcs_port)
        assert (decision.action, decision.head_host) == ('keep', 'a')
        decision = E.elect([('a', '127.0.0.1')], short, gcs_port=other_port)
        assert (decision.action, decision.head_host) == ('elect', 'a')
    finally:
        listener.close()


# ---------------------------------------------------------------- state files and health check

def test_state_dir_supplies_the_elected_head(ep, tmp_path):
    (tmp_path / 'elected_head').write_text('b\n')
    env = dict(env_for('127.0.0.1'), CSLR_STATE_DIR=str(tmp_path))
    env.pop('CSLR_INITIAL_HEAD', None)
    assert ep.Config(env).initial_head == 'b'
    env['CSLR_INITIAL_HEAD'] = 'a'   # the environment wins
    assert ep.Config(env).initial_head == 'a'


def test_state_dir_supplies_the_candidates(ep, tmp_path):
    """Ansible writes the candidates to the state directory, so a new candidate changes no container."""
    (tmp_path / 'candidates').write_text('a=127.0.0.1,b=127.0.0.2\n')
    env = dict(env_for('127.0.0.2'), CSLR_STATE_DIR=str(tmp_path), CSLR_NODE_NAME='b')
    env.pop('CSLR_CANDIDATES', None)
    cfg = ep.Config(env)
    assert cfg.candidates == [('a', '127.0.0.1'), ('b', '127.0.0.2')]
    assert cfg.is_candidate and cfg.me == 'b'
    env['CSLR_CANDIDATES'] = 'a=127.0.0.1'   # the environment wins
    cfg = ep.Config(dict(env, CSLR_NODE_NAME='', CSLR_NODE_ADDRESS='127.0.0.3'))
    assert cfg.candidates == [('a', '127.0.0.1')] and not cfg.is_candidate
    (tmp_path / 'candidates').unlink()
    env.pop('CSLR_CANDIDATES')
    with pytest.raises(ep.ConfigError, match='no node could ever be head'):
        ep.Config(env)


def test_write_state_is_atomic_and_removes(ep, tmp_path):
    ep.write_state(str(tmp_path), role='worker', gcs_address='10.0.0.1:6379')
    assert (tmp_path / 'role').read_text() == 'worker\n'
    assert ep.read_state(str(tmp_path), 'gcs_address') == '10.0.0.1:6379'
    assert not list(tmp_path.glob('*.tmp'))
    ep.write_state(str(tmp_path), role=None, gcs_address=None)
    assert not (tmp_path / 'role').exists() and not (tmp_path / 'gcs_address').exists()
    ep.write_state(None, role='head')  # no state dir: nothing to do


def test_write_state_writes_the_other_files_when_one_fails(ep, tmp_path):
    ep.write_state(str(tmp_path), gcs_address='10.0.0.1:6379')
    (tmp_path / 'role').mkdir()  # cannot be replaced by a file, nor removed as one
    ep.write_state(str(tmp_path), role='worker', gcs_address='10.0.0.2:6379')
    assert ep.read_state(str(tmp_path), 'gcs_address') == '10.0.0.2:6379'
    ep.write_state(str(tmp_path), role=None, gcs_address=None)
    assert not (tmp_path / 'gcs_address').exists()


def _proc(tmp_path, names):
    proc = tmp_path / 'proc'
    for pid, name in enumerate(names, 1):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / 'comm').write_text(name + '\n')
    (proc / 'self').mkdir(parents=True, exist_ok=True)
    return str(proc)


@pytest.mark.parametrize('gcs, comms, rc_probe, healthy, text', [
    (None, ['raylet'], 0, False, 'no head/worker decision'),
    ('10.0.0.1:6379', ['gcs_server', 'python3'], 0, False, 'no raylet'),
    ('10.0.0.1:6379', ['raylet'], 1, False, 'health-check --address 10.0.0.1:6379'),
    ('10.0.0.1:6379', ['raylet'], None, False, 'timed out'),
    ('10.0.0.1:6379', ['raylet', 'gcs_server'], 0, True, 'GCS 10.0.0.1:6379 answers'),
])
def test_healthcheck(ep, tmp_path, capsys, gcs, comms, rc_probe, healthy, text):
    state = tmp_path / 'state'
    state.mkdir()
    if gcs:
        (state / 'gcs_address').write_text(gcs + '\n')
    calls = []

    def runner(argv, timeout):
        calls.append(argv)
        return rc_probe, '', 'GCS unreachable' if rc_probe else ''

    rc = ep.healthcheck({'CSLR_STATE_DIR': str(state)}, runner=runner, proc=_proc(tmp_path, comms))
    assert (rc == 0) is healthy
    assert text in capsys.readouterr().out
    if healthy:
        assert calls == [['ray', 'health-check', '--address', gcs]]
