# -*- coding: utf-8 -*-
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Entrypoint of the cslr.platform Ray container.

Decides at every container start whether this node is the Ray head or a worker,
with the same rules as the cslr.platform.ray_head module (_election.py, copied
next to this file), then runs `ray start --block`.

Why it decides again at start: a container restarted by Docker (host reboot,
head lost, worker raylet exiting after its head died) gets no help from
Ansible. Rules:
  1. a live head (a Ray GCS answering `ray health-check` on a candidate's GCS
     port) -> join it as a worker; several -> join the one with the most nodes;
  2. CSLR_HEAD_ADDRESS set and nothing live -> that address is the head (this
     node starts it when it is this node, else waits for it);
  3. otherwise ordered claiming among candidates: the candidate of rank k
     (CSLR_INITIAL_HEAD first, then CSLR_CANDIDATES order) waits k *
     CSLR_CLAIM_STEP_SECONDS, watching for a head all along; at its turn it
     probes every other candidate again and claims the head only if none is
     live. After starting the head it keeps checking the other candidates for
     CSLR_RECHECK_SECONDS: if a second head shows up and the split-brain rule
     (most nodes, ties by candidate order) prefers it, this node stops its head
     and joins that one as a worker;
  4. nodes that are not candidates wait (backoff, probing again each time) until
     a head is live, then join it.
  The first start of a new container (first deployment, changed settings or
  image) holds the claim of a candidate that is not the elected head for
  CSLR_CLAIM_HOLD_SECONDS: when the elected head's new container starts in the
  same moment (containers brought up together), its GCS may take longer than one
  claiming step to answer. A container that Docker restarts (host reboot, head
  lost) claims as in rule 3.

Environment (all plain strings; the entrypoint never runs `su -`, so nothing is
lost on the way):
  CSLR_NODE_ADDRESS        required; this host's cluster address (--node-ip-address)
  CSLR_NODE_NAME           inventory name of this host (default: matched by address)
  CSLR_CANDIDATES          ordered head candidates, "host=addr,host=addr" (default: the file
                           <CSLR_STATE_DIR>/candidates, which Ansible writes: a new candidate
                           then changes no container, it is read at the next start)
  CSLR_HEAD_ADDRESS        head override, "addr" or "addr:port"
  CSLR_GCS_PORT            GCS port of every candidate (default 6379)
  CSLR_INITIAL_HEAD        host (or address) the Ansible election chose; claims first
                           (default: the file <CSLR_STATE_DIR>/elected_head, which Ansible
                           writes after each election: the compose file, and so the
                           container, stays the same when the head changes)
  CSLR_STATE_DIR           directory shared with the host (optional): the entrypoint writes
                           `role` (head/worker) and `gcs_address` there once it decided,
                           and removes them at start; the health service and the container
                           health check read them
  CSLR_CLAIM_STEP_SECONDS  claiming slot per rank (default 10; longer than a GCS start)
  CSLR_CLAIM_HOLD_SECONDS  at the first start of a new container, a candidate of rank 1 or more
                           claims no earlier than this (default 0: no hold; the compose file sets
                           it): an elected head starting at the same time gets this long
  CSLR_START_MARKER        file in the container's own filesystem (not a mount) that tells a
                           restart from the first start (default /tmp/.cslr-ray-container-started)
  CSLR_RECHECK_SECONDS     how long a new head watches for a second head (default 3 steps, >= 30)
  CSLR_RAY_START_ARGS      extra `ray start` arguments for head and worker (shell words)
  CSLR_RAY_HEAD_ARGS       extra arguments for the head only (--dashboard-host, --include-dashboard, ...)
  CSLR_RAY_WORKER_ARGS     extra arguments for workers only
  CSLR_RAY_COMMAND         the Ray CLI (default "ray")
  CSLR_PROBE_TIMEOUT       seconds per probe command (default 10)
  CSLR_JOIN_BACKOFF_MAX    longest wait between probes while waiting for a head (default 30)
  CSLR_JOIN_FAST_SECONDS   for this long after the start a node waiting for a head probes about
                           every second (default 60; a head that is starting answers within
                           some 10 s), then the waits double up to CSLR_JOIN_BACKOFF_MAX
  CSLR_RAY_SESSIONS_KEEP   Ray session directories of earlier starts kept in CSLR_RAY_TEMP_DIR:
                           at every start, before Ray makes the new one, the oldest beyond this
                           count are removed (a whole number; empty: keep all)
  CSLR_RAY_TEMP_DIR        Ray's temp directory, where the sessions are (default /tmp/ray)
The entrypoint sets --head/--port or --address, --node-ip-address and --block
itself; do not pass them in the extra arguments.

`cslr_ray_entrypoint.py --healthcheck` is the container's health check: healthy when a
raylet process runs in the container and the GCS it joined (<CSLR_STATE_DIR>/gcs_address)
answers `ray health-check`: it asks Ray, not a TCP port.
"""

from __future__ import annotations

import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
try:
    import _election  # copied next to this file in the image / bind mount
except ImportError:  # running from a checkout of the collection
    from ansible_collections.cslr.platform.plugins.module_utils import _election

HEAD = _election.ROLE_HEAD
WORKER = _election.ROLE_WORKER
MANAGED_FLAGS = ('--head', '--address', '--node-ip-address', '--block', '--port')
# Ray's session directories: session_<date>_<time>_<microseconds>_<pid> (the name sorts by time).
SESSION_RE = re.compile(r'^session_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}_\d+_\d+$')


DEFAULT_START_MARKER = '/tmp/.cslr-ray-container-started'


class ConfigError(Exception):
    pass


def log(msg):
    sys.stderr.write('[cslr-ray-entrypoint] %s %s\n' % (time.strftime('%Y-%m-%dT%H:%M:%S'), msg))
    sys.stderr.flush()


def _float(env, name, default):
    value = env.get(name, '').strip()
    if not value:
        return float(default)
    try:
        result = float(value)
    except ValueError:
        raise ConfigError('%s must be a number, got %r' % (name, value))
    if result < 0:
        raise ConfigError('%s must not be negative, got %r' % (name, value))
    return result


def _args(env, name):
    words = shlex.split(env.get(name, ''))
    for word in words:
        if word.split('=', 1)[0] in MANAGED_FLAGS:
            raise ConfigError('%s must not contain %s: the entrypoint sets it' % (name, word.split('=', 1)[0]))
    return words


class Config(object):
    """The environment contract, parsed and validated."""

    def __init__(self, env=None):
        env = os.environ if env is None else env
        self.node_address = env.get('CSLR_NODE_ADDRESS', '').strip()
        if not self.node_address:
            raise ConfigError('CSLR_NODE_ADDRESS is required (the cluster address of this host)')
        self.state_dir = env.get('CSLR_STATE_DIR', '').strip() or None
        candidates = env.get('CSLR_CANDIDATES', '').strip()
        if not candidates and self.state_dir:
            candidates = read_state(self.state_dir, _election.STATE_CANDIDATES) or ''
        try:
            self.candidates = _election.parse_candidates_env(candidates)
            self.gcs_port = int(env.get('CSLR_GCS_PORT', '').strip() or _election.DEFAULT_GCS_PORT)
            self.head_address = env.get('CSLR_HEAD_ADDRESS', '').strip() or None
            if self.head_address:
                _election.split_host_port(self.head_address, self.gcs_port)
        except (ValueError, _election.ElectionError) as exc:
            raise ConfigError(str(exc))
        self.node_name = env.get('CSLR_NODE_NAME', '').strip() or None
        self.initial_head = env.get('CSLR_INITIAL_HEAD', '').strip() or None
        if not self.initial_head and self.state_dir:
            self.initial_head = read_state(self.state_dir, _election.STATE_ELECTED_HEAD)
        self.claim_step = _float(env, 'CSLR_CLAIM_STEP_SECONDS', 10)
        self.recheck_seconds = _float(env, 'CSLR_RECHECK_SECONDS', max(3 * self.claim_step, 30))
        self.claim_hold = max(_float(env, 'CSLR_CLAIM_HOLD_SECONDS', 0), 0.0)
        self.start_marker = env.get('CSLR_START_MARKER', '').strip() or DEFAULT_START_MARKER
        self.probe_timeout = _float(env, 'CSLR_PROBE_TIMEOUT', _election.DEFAULT_PROBE_TIMEOUT) or 1.0
        self.backoff_max = max(_float(env, 'CSLR_JOIN_BACKOFF_MAX', 30), 0.01)
        self.join_fast_seconds = max(_float(env, 'CSLR_JOIN_FAST_SECONDS', 60), 0.0)
        self.ray_command = shlex.split(env.get('CSLR_RAY_COMMAND', '').strip() or 'ray')
        self.start_args = _args(env, 'CSLR_RAY_START_ARGS')
        self.head_args = _args(env, 'CSLR_RAY_HEAD_ARGS')
        self.worker_args = _args(env, 'CSLR_RAY_WORKER_ARGS')

        # Who am I: the candidate with my name, else the one with my address.
        self.me = None
        for host, address in self.candidates:
            if (self.node_name and host == self.node_name) or (not self.node_name and address == self.node_address):
                if address != self.node_address:
                    raise ConfigError('CSLR_CANDIDATES gives %s the address %s but CSLR_NODE_ADDRESS is %s'
                                      % (host, address, self.node_address))
                self.me = host
        self.is_candidate = self.me is not None
        if self.me is None:
            self.me = self.node_name or self.node_address
        self.hosts = list(self.candidates)
        if not self.is_candidate:
            self.hosts.append((self.me, self.node_address))
        try:
            _election.normalize_inputs(self.candidates, self.hosts)
        except _election.ElectionError as exc:
            raise ConfigError(str(exc))
        if not self.candidates and not self.head_address:
            raise ConfigError('set CSLR_CANDIDATES (or write <CSLR_STATE_DIR>/candidates) or CSLR_HEAD_ADDRESS: '
                              'no node could ever be head')
        ranked = _election.rank_candidates(self.candidates, self.initial_head)
        self.rank = [h for h, dummy in ranked].index(self.me) if self.is_candidate else None


read_state = _election.read_state


def write_state(state_dir, **values):
    """Write (value str) or remove (value None) files of the state directory, atomically each; a
    failure is logged, not raised (the node runs on, and the health service reports it), and the
    other files are still written."""
    if not state_dir:
        return
    for name, value in values.items():
        try:
            _election.write_state(state_dir, **{name: value})
        except OSError as exc:
            log('cannot update %s: %s' % (os.path.join(state_dir, name), exc))


def first_start(marker):
    """True at the first start of this container, False at every later start (Docker's restart
    policy, a host reboot, `docker restart`): the marker lives in the container's own filesystem,
    which a restart keeps and a new container does not have. Creates the marker."""
    if os.path.exists(marker):
        return False
    try:
        with open(marker, 'w') as f:
            f.write('%d\n' % os.getpid())
    except OSError as exc:
        log('cannot write %s: %s (every start counts as a first start)' % (marker, exc))
    return True


def subprocess_runner(argv, timeout):
    """Runner for _election.CommandProbe: (rc, out, err); rc None on timeout."""
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                              universal_newlines=True, check=False)
    except subprocess.TimeoutExpired:
        return None, '', ''
    return proc.returncode, proc.stdout, proc.stderr


class RayLauncher(object):
    """Starts Ray for real. Tests replace it with a fake."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.child = None

    def head_argv(self):
        return self.cfg.ray_command + ['start', '--block', '--head', '--port=%d' % self.cfg.gcs_port,
                                       '--node-ip-address=%s' % self.cfg.node_address] + self.cfg.start_args + self.cfg.head_args

    def worker_argv(self, gcs_address):
        return self.cfg.ray_command + ['start', '--block', '--address=%s' % gcs_address,
                                       '--node-ip-address=%s' % self.cfg.node_address] + self.cfg.start_args + self.cfg.worker_args

    def start_head(self):
        write_state(self.cfg.state_dir, role='head', gcs_address=_election.format_host_port(
            self.cfg.node_address, self.cfg.gcs_port))
        argv = self.head_argv()
        log('starting head: %s' % ' '.join(shlex.quote(a) for a in argv))
        self.child = subprocess.Popen(argv)  # pylint: disable=consider-using-with
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._forward)
        return self.child

    def _forward(self, signum, frame):  # pylint: disable=unused-argument
        log('signal %d: stopping Ray' % signum)
        self.stop_head(self.child, graceful=True)
        sys.exit(128 + signum)

    def head_exit_code(self, handle):
        return handle.poll()

    def stop_head(self, handle, graceful=False):
        if handle is not None and handle.poll() is None:
            handle.terminate()
            try:
                handle.wait(timeout=30)
            except subprocess.TimeoutExpired:
                handle.kill()
        # `ray start --block` leaves GCS/raylet behind when it is terminated.
        subprocess.call(self.cfg.ray_command + ['stop'] + ([] if graceful else ['--force']))

    def wait_head(self, handle):
        return handle.wait()

    def exec_worker(self, gcs_address):
        write_state(self.cfg.state_dir, role='worker', gcs_address=gcs_address)
        argv = self.worker_argv(gcs_address)
        log('joining %s as worker: %s' % (gcs_address, ' '.join(shlex.quote(a) for a in argv)))
        sys.stdout.flush()
        os.execvp(argv[0], argv)


class Entrypoint(object):
    """Head/worker decision with ordered claiming; all side effects injected."""

    def __init__(self, cfg, probe, launcher, sleep=time.sleep, clock=time.monotonic, logger=log, jitter=random.random,
                 first_start=False):
        self.cfg = cfg
        self.first_start = first_start
        self.probe = probe
        self.launcher = launcher
        self.sleep = sleep
        self.clock = clock
        self.log = logger
        self.jitter = jitter
        self.self_live = False  # True once our own head runs

    def _probe(self, address, port):
        if address == self.cfg.node_address and int(port) == self.cfg.gcs_port and not self.self_live:
            # Our own GCS cannot run before we start it; don't spend a probe on it.
            return _election.ProbeResult(False, None, 'this node (not started)')
        return self.probe(address, port)

    def _count_nodes(self, address, port):
        count = getattr(self.probe, 'count_nodes', None)
        return count(address, port) if count else None

    def elect(self, reachable):
        return _election.elect(self.cfg.candidates, self._probe, hosts=self.cfg.hosts, gcs_port=self.cfg.gcs_port,
                               head_address=self.cfg.head_address, reachable=reachable, resolve_split_brain=True,
                               count_nodes=self._count_nodes)

    def _backoff(self, attempt):
        """Pause before the next probe for a head (jittered by +-25%): about 1 s during the first
        CSLR_JOIN_FAST_SECONDS (a head started at the same time is joined within a second of
        answering), then 1, 2, 4, ... s up to CSLR_JOIN_BACKOFF_MAX (a head that stays away is not
        probed every second forever). `attempt` counts the pauses after the fast phase."""
        base = min(self.cfg.backoff_max, 1.0 * (2 ** min(attempt, 16)))
        return base * (0.75 + 0.5 * self.jitter())

    def decide(self):
        """-> (HEAD, None) or (WORKER, 'addr:port')."""
        start = self.clock()
        deadline = None
        if self.cfg.is_candidate:
            delay = _election.claim_delay(self.cfg.rank, self.cfg.claim_step)
            if self.first_start and self.cfg.rank > 0 and self.cfg.claim_hold > delay:
                # The elected head (rank 0) may be starting beside this new container.
                delay = self.cfg.claim_hold
                self.log('first start of this container: the elected head %s gets %.1fs to answer'
                         % (self.cfg.initial_head or 'of rank 0', delay))
            deadline = start + delay
            self.log('%s is head candidate rank %d; may claim the head after %.1fs if no head is live'
                     % (self.cfg.me, self.cfg.rank, delay))
        else:
            self.log('%s is not a head candidate: worker' % self.cfg.me)
        attempt = 0
        last_reason = None
        while True:
            my_turn = deadline is not None and self.clock() >= deadline
            try:
                decision = self.elect([self.cfg.me] if my_turn else [])
            except _election.NoReachableCandidateError:
                decision = None
                reason = 'no live head yet'
            except _election.ElectionError as exc:  # a probe could not run
                decision = None
                reason = str(exc)
            else:
                reason = decision.reason
                if decision.action in (_election.ACTION_KEEP, _election.ACTION_RESOLVE):
                    self.log(reason)
                    return WORKER, decision.head_gcs_address
                if decision.head_host == self.cfg.me:
                    # Override naming this node, or our claiming turn with every other candidate still not live.
                    self.log('claiming the head: %s' % reason)
                    return HEAD, None
                reason = 'waiting for head %s to come up (%s)' % (decision.head_gcs_address, reason)
            if reason != last_reason:
                self.log(reason)
                last_reason = reason
            if deadline is not None and not my_turn:
                # Watch closely until our turn, then re-check at the turn itself.
                pause = min(max(self.cfg.claim_step / 4.0, 0.01), 2.0, max(deadline - self.clock(), 0.0))
                self.sleep(pause)
            elif self.clock() - start < self.cfg.join_fast_seconds:
                self.sleep(self._backoff(0))
            else:
                self.sleep(self._backoff(attempt))
                attempt += 1

    def confirm_head(self, handle):
        """Watch for a second head after ours started.
        -> ('kept', None) | ('exited', rc) | ('yield', 'addr:port')."""
        self.self_live = True
        poll = min(max(self.cfg.claim_step / 4.0, 0.01), 2.0)
        # Compare only once our own GCS answers: a head still booting would
        # otherwise yield to any other head, and two booting heads to each other.
        boot_end = self.clock() + max(self.cfg.recheck_seconds, 120.0)
        while not self.probe(self.cfg.node_address, self.cfg.gcs_port).live:
            rc = self.launcher.head_exit_code(handle)
            if rc is not None:
                return 'exited', rc
            if self.clock() >= boot_end:
                self.log('our GCS did not answer a probe in time; not checking for a second head')
                return 'kept', None
            self.sleep(poll)
        end = self.clock() + self.cfg.recheck_seconds
        while self.clock() < end:
            rc = self.launcher.head_exit_code(handle)
            if rc is not None:
                return 'exited', rc
            others = [(h, a) for h, a in self.cfg.candidates if h != self.cfg.me]
            if self.cfg.head_address and not any(self.cfg.head_address in (h, a) for h, a in self.cfg.candidates):
                others.append((None, self.cfg.head_address))
            seen = []
            for host, address in others:
                addr, port = _election.split_host_port(address, self.cfg.gcs_port)
                result = self.probe(addr, port)
                if result.live:
                    seen.append(host or address)
            if seen:
                try:
                    decision = self.elect([self.cfg.me])
                except _election.ElectionError as exc:
                    self.log('second head %s seen but no decision: %s' % (', '.join(seen), exc))
                else:
                    if decision.head_host != self.cfg.me and decision.head_address != self.cfg.node_address:
                        self.log('second head detected: %s; stepping down' % decision.reason)
                        return 'yield', decision.head_gcs_address
                    self.log('second head %s detected, this head is kept: %s' % (', '.join(seen), decision.reason))
            self.sleep(poll)
        return 'kept', None

    def run(self):
        role, address = self.decide()
        while True:
            if role == WORKER:
                return self.launcher.exec_worker(address)
            handle = self.launcher.start_head()
            outcome, value = self.confirm_head(handle)
            if outcome == 'kept':
                self.log('head confirmed; no other head after %.0fs' % self.cfg.recheck_seconds)
                return self.launcher.wait_head(handle)
            if outcome == 'exited':
                self.log('ray start --head exited with %s' % value)
                return value
            self.launcher.stop_head(handle)
            self.self_live = False
            role, address = self.decide()


def prune_sessions(temp_dir, keep, logger=log):
    """Remove Ray's session directories in temp_dir beyond the newest `keep` (None: keep all).
    Runs before `ray start`: no session of this container is in use then. Only real directories
    named as Ray names them are touched (never session_latest, a link, or anything else); a
    failure is logged and Ray starts anyway. Returns the names removed."""
    if keep is None:
        return []
    try:
        names = sorted(n for n in os.listdir(temp_dir) if SESSION_RE.match(n)
                       and os.path.isdir(os.path.join(temp_dir, n))
                       and not os.path.islink(os.path.join(temp_dir, n)))
    except OSError as exc:
        if not os.path.isdir(temp_dir):
            return []
        logger('cannot list the Ray sessions in %s: %s' % (temp_dir, exc))
        return []
    removed = []
    for name in names[:max(len(names) - keep, 0)]:
        errors = []
        if sys.version_info >= (3, 12):   # onerror is deprecated there
            shutil.rmtree(os.path.join(temp_dir, name), onexc=lambda f, p, e: errors.append('%s: %s' % (p, e)))
        else:
            shutil.rmtree(os.path.join(temp_dir, name), onerror=lambda f, p, e: errors.append('%s: %s' % (p, e[1])))
        if errors:
            logger('could not remove all of the old Ray session %s: %s' % (name, errors[0]))
        else:
            removed.append(name)
    if removed:
        logger('removed %d old Ray session(s) from %s (CSLR_RAY_SESSIONS_KEEP=%d): %s'
               % (len(removed), temp_dir, keep, ', '.join(removed)))
    return removed


def sessions_keep(env):
    """CSLR_RAY_SESSIONS_KEEP as a count, or None (keep all)."""
    value = env.get('CSLR_RAY_SESSIONS_KEEP', '').strip()
    if not value:
        return None
    if not value.isdigit():
        raise ConfigError('CSLR_RAY_SESSIONS_KEEP must be a whole number (or empty: keep all), got %r' % value)
    return int(value)


def raylet_running(proc='/proc'):
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        try:
            with open(os.path.join(proc, pid, 'comm')) as f:
                if f.read().strip() == 'raylet':
                    return True
        except OSError:
            continue
    return False


def healthcheck(env=None, runner=subprocess_runner, proc='/proc'):
    """Exit status of the container health check (0 healthy), with one line of reason."""
    env = os.environ if env is None else env
    state_dir = env.get('CSLR_STATE_DIR', '').strip()
    gcs = read_state(state_dir, _election.STATE_GCS_ADDRESS) if state_dir else None
    if not gcs:
        print('unhealthy: no head/worker decision yet (no %s/gcs_address)' % (state_dir or 'CSLR_STATE_DIR'))
        return 1
    if not raylet_running(proc):
        print('unhealthy: no raylet process')
        return 1
    command = shlex.split(env.get('CSLR_RAY_COMMAND', '').strip() or 'ray')
    timeout = _float(env, 'CSLR_PROBE_TIMEOUT', _election.DEFAULT_PROBE_TIMEOUT) or 10.0
    rc, out, err = runner(command + ['health-check', '--address', gcs], timeout)
    if rc != 0:
        print('unhealthy: ray health-check --address %s: %s' % (
            gcs, 'timed out' if rc is None else (err or out).strip()[-300:] or 'exit %s' % rc))
        return 1
    print('healthy: raylet runs, GCS %s answers' % gcs)
    return 0


def main(env=None, argv=()):
    if list(argv[:1]) == ['--healthcheck']:
        try:
            return healthcheck(env)
        except ConfigError as exc:
            print('unhealthy: %s' % exc)
            return 1
    env = os.environ if env is None else env
    try:
        cfg = Config(env)
        keep = sessions_keep(env)
    except ConfigError as exc:
        log('configuration error: %s' % exc)
        return 2
    write_state(cfg.state_dir, role=None, gcs_address=None)
    prune_sessions(env.get('CSLR_RAY_TEMP_DIR', '').strip() or '/tmp/ray', keep)
    probe = _election.CommandProbe(subprocess_runner, command=cfg.ray_command, timeout=cfg.probe_timeout)
    rc = Entrypoint(cfg, probe, RayLauncher(cfg), first_start=first_start(cfg.start_marker)).run()
    return rc if isinstance(rc, int) else 0


if __name__ == '__main__':
    sys.exit(main(argv=sys.argv[1:]))
