#!/usr/bin/env python3
"""Benchmark the platform on simulated lab hosts: converge, baseline, rerun, --limit, failover, peers.

Run by `make bench` (after `make images`; not part of `make test`). The hosts are reached as real
ones: over SSH as the sudo user labadmin (the lab's inventory settings, docs/lab.md), images
pulled from the bench network's registry. Every figure is measured --reps times (default 3;
rerun_3, the peers and light_rerun_N also --inner times on the same converged hosts) and printed
as min / median / max; the raw samples and the ratios go
to a JSON file (default .bench/results-<UTC time>.json); every ansible-playbook run's output is
kept in .bench/logs/ (--profile adds per-task times). Figures, never assertions: a missed target
is printed and recorded, the run goes on.

What is timed (docs/benchmarks.md):
  cold_N           site.yml on N fresh hosts whose Docker engine and images are already in place
                   (created fresh, then `site.yml --tags docker,images`, untimed)
  first_task_N     from the start of that site.yml to a Ray task having run on every host
  baseline_3       the same containers started the way the original's manual multi-host procedure
                   does: `docker compose up --wait` of each stack, host after host (head first),
                   on fresh hosts with Docker and images in place and the compose directories
                   copied in (untimed) from a converged run
  rerun_3          site.yml again on the converged 3 hosts (and its changed count; the first one
                   runs while the fresh cluster is still settling)
  limit_4th        site.yml --limit of a 4th host (Docker and images in place); whether the other
                   hosts' containers were left alone (same IDs)
  failover_rerun   head host stopped -> site.yml rerun done and every remaining node alive
  failover_entry   head host stopped -> (no Ansible) a new head with every remaining node alive

  On the converged 3 hosts with every Ray container removed and everything else in place (the
  situation Ray's cluster launcher starts from), three ways to a 3-node Ray cluster, each timed to
  every node alive (the head's dashboard lists 3 ALIVE nodes; the same poller for all three):
  raw_floor_3      by hand over SSH: `docker run` of the head, wait for its GCS, the workers in parallel
  ray_up_3         Ray's cluster launcher: `ray up` (local provider, docker mode, autoscaler v1, SSH as
                   labadmin to the same hosts, the same image, ports and resources); ray_up_cmd_3 is
                   when the `ray up` command itself returned (its monitor starts the workers after)
  ray_gone_site_3  site.yml (the whole playbook, every host, every stack)
  ray_phase_3      within that run: from the start of the task "Elect the Ray head" to every node alive

  light_cold_N     site.yml on N fresh light hosts (--light-sizes, default 3,10): health and Docker
                   only, Ray on the two head candidates, MLflow, rendezvous, training and monitoring
                   off; firewall on. light_rerun_N: the settled rerun. Shows how the controller's own
                   work (validation, firewall rules, election probes) grows with N.

--sections picks what is measured (default: everything, about 2 hours on 2 cores with the defaults).

Hosts are named cslr-bench-N on the Docker network cslr-bench (10.213.7.0/24), so the bench
never touches `make lab` or molecule hosts; it removes its hosts and their volumes at the end
and before each fresh set (leftovers of an aborted run included).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, '.venv', 'bin')
WORK = os.path.join(ROOT, '.bench')
PREFIX, SUBNET, NETWORK = 'cslr-bench', '10.213.7', 'cslr-bench'
PROJECT = 'cslr-lab'          # cslr_project_name of inventories/lab/group_vars (copied)
RAY = PROJECT + '-ray'
STACK_ORDER = ('health', 'ray', 'mlflow')
SECTIONS = ('cold', 'rerun', 'peers', 'failover', 'baseline', 'light')
TARGETS = (
    ('cold_3 / baseline_3', 'cold_3', 'baseline_3', 1.6),
    ('rerun_3 / cold_3', 'rerun_3', 'cold_3', 0.3),
    ('cold_5 / cold_1', 'cold_5', 'cold_1', 1.5),
    ('ray_gone_site_3 / ray_up_3', 'ray_gone_site_3', 'ray_up_3', 1.5),
    ('ray_phase_3 / ray_up_3', 'ray_phase_3', 'ray_up_3', 1.0),
    ('ray_phase_3 / raw_floor_3', 'ray_phase_3', 'raw_floor_3', 1.8),
    ('light_cold_10 / light_cold_3', 'light_cold_10', 'light_cold_3', 2.0),
    ('light_rerun_10 / light_rerun_3', 'light_rerun_10', 'light_rerun_3', 2.0),
)
LIGHT_SETTINGS = '''
# bench: light hosts (health and Docker only; Ray on the two head candidates, set per host)
cslr_mlflow_enabled: false
cslr_rendezvous_enabled: false
cslr_training_enabled: false
cslr_monitoring_enabled: false
'''


def log(msg):
    print('[bench %s] %s' % (time.strftime('%H:%M:%S'), msg), flush=True)


def sh(argv, check=True, timeout=1800, **kw):
    res = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, **kw)
    if check and res.returncode != 0:
        raise RuntimeError('%s failed (rc %d):\n%s\n%s' % (' '.join(map(str, argv[:4])), res.returncode,
                                                            res.stdout[-4000:], res.stderr[-2000:]))
    return res


def on(host, command, check=True, timeout=600):
    """A shell command inside a simulated host."""
    return sh(['docker', 'exec', host, 'sh', '-c', command], check=check, timeout=timeout)


# ---------------------------------------------------------------------------- inventories

def inventory(n, spares=0, light=False):
    """A bench inventory directory: n cluster hosts (+ spares, not in the cluster) and the lab's group_vars;
    light: health and Docker only (LIGHT_SETTINGS), Ray on the two head candidates."""
    path = os.path.join(WORK, '%s-%d' % ('light' if light else 'inv', n))
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    hosts = sh([sys.executable, os.path.join(ROOT, 'scripts', 'lab_inventory.py'), n, '--prefix', PREFIX,
                '--subnet', SUBNET, '--network', NETWORK, '--spares', spares]).stdout
    with open(os.path.join(path, 'hosts.yml'), 'w') as handle:
        handle.write(hosts)
    shutil.copytree(os.path.join(ROOT, 'inventories', 'lab', 'group_vars'), os.path.join(path, 'group_vars'))
    # The lab's settings, with the bench network's own registry (create.yml runs it at .250).
    settings = os.path.join(path, 'group_vars', 'all.yml')
    with open(settings) as handle:
        text = handle.read()
    with open(settings, 'w') as handle:
        handle.write(text.replace('10.213.0.250:5000', '%s.250:5000' % SUBNET))
    if light:  # the cluster group's vars override all.yml's
        with open(os.path.join(path, 'group_vars', 'cslr_cluster.yml'), 'w') as handle:
            handle.write('---' + LIGHT_SETTINGS)
        os.makedirs(os.path.join(path, 'host_vars'))
        for host in names(n)[2:]:
            with open(os.path.join(path, 'host_vars', host + '.yml'), 'w') as handle:
                handle.write('cslr_ray_enabled: false\n')
    return path


def spare_inventory(host, address):
    path = os.path.join(WORK, 'spare.yml')
    with open(path, 'w') as handle:
        handle.write('all:\n  children:\n    cslr_cluster:\n      hosts:\n        %s:\n'
                     '          cslr_cluster_address: %s\n' % (host, address))
    return path


def names(n):
    return ['%s-%d' % (PREFIX, i) for i in range(1, n + 1)]


def address(host):
    return '%s.%d' % (SUBNET, 10 + int(host.rsplit('-', 1)[1]))


# ---------------------------------------------------------------------------- ansible

PROFILE = False   # --profile: ansible.posix.profile_tasks in every run's log (.bench/logs/)
_RUNS = [0]
LAST_LOG = [None]  # the last run's ANSIBLE_LOG_PATH
LAST_CPU = [0.0]   # the last run's controller CPU seconds (ansible-playbook, its forks and their ssh clients)


def task_banner(log_path, task):
    """The first line of Ansible's log whose task banner contains `task` (None while there is none)."""
    with open(log_path) as handle:
        return next((line for line in handle if 'TASK [' in line and task in line), None)


def log_has(log_path, task):
    """Whether Ansible's log (being written) shows the task's banner yet."""
    try:
        return task_banner(log_path, task) is not None
    except OSError:
        return False


def task_started(log_path, task):
    """The time (epoch seconds) at which the first task whose banner contains `task` started, from
    Ansible's log (its lines start with the local time, milliseconds after a comma)."""
    line = task_banner(log_path, task)
    if line is None:
        raise RuntimeError('no task %r in %s' % (task, log_path))
    stamp, millis = line[:23].split(',')
    return time.mktime(time.strptime(stamp, '%Y-%m-%d %H:%M:%S')) + int(millis) / 1000.0


def playbook(inv, path, *args):
    """(seconds, rc, {host: changed}, {host: failed+unreachable}, stdout) of one ansible-playbook run;
    its output is kept in .bench/logs/NNN-<playbook>.log."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1')
    if PROFILE:
        env['ANSIBLE_CALLBACKS_ENABLED'] = 'ansible.posix.profile_tasks'
        env['PROFILE_TASKS_TASK_OUTPUT_LIMIT'] = '25'
    invs = inv if isinstance(inv, (list, tuple)) else [inv]
    argv = [os.path.join(BIN, 'ansible-playbook')] + [a for i in invs for a in ('-i', i)] + [path] + list(args)
    _RUNS[0] += 1
    os.makedirs(os.path.join(WORK, 'logs'), exist_ok=True)
    name = os.path.join(WORK, 'logs', '%03d-%s' % (_RUNS[0], os.path.basename(path)[:-4]))
    # Ansible's own log: every line with a millisecond timestamp (ray_phase_3 reads a task's start).
    env['ANSIBLE_LOG_PATH'] = LAST_LOG[0] = name + '.ansible.log'
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    res = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=3600)
    took = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    LAST_CPU[0] = round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1)
    with open(name + '.log', 'w') as handle:
        handle.write('# %s\n# %.1f s, rc %d\n%s\n%s' % (' '.join(argv[1:]), took, res.returncode, res.stdout,
                                                          res.stderr))
    recap = re.finditer(r'^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', res.stdout, re.M)
    changed, bad = {}, {}
    for m in recap:
        changed[m.group(1)] = int(m.group(2))
        bad[m.group(1)] = int(m.group(3)) + int(m.group(4))
    return took, res.returncode, changed, bad, res.stdout


def must(result, what, allow_failed=()):
    took, rc, _changed, bad, out = result
    failed = [h for h, n in bad.items() if n and h not in allow_failed]
    if (rc != 0 and not allow_failed) or failed:
        raise RuntimeError('%s failed (rc %d, hosts %s):\n%s' % (what, rc, failed, out[-6000:]))
    return result


def fresh(inv, hosts_to_prep=None):
    """Remove leftovers, create the hosts, put Docker and the images in place (untimed)."""
    playbook(inv, 'playbooks/lab/destroy.yml')
    must(playbook(inv, 'playbooks/lab/create.yml'), 'create')
    args = ['--tags', 'docker,images'] + (['--limit', ','.join(hosts_to_prep)] if hosts_to_prep else [])
    must(playbook(inv, 'site.yml', *args), 'prepare (docker, images)')


# ---------------------------------------------------------------------------- Ray probes

def alive_ips(host):
    res = on(host, 'docker exec %s ray list nodes --format json --filter state=ALIVE --limit 10000' % RAY,
             check=False, timeout=120)
    if res.returncode != 0:
        return None
    try:
        return sorted(n['node_ip'] for n in json.loads(res.stdout))
    except ValueError:
        return None


def ray_role(host):
    return on(host, 'cat /var/lib/cslr-platform/ray/role', check=False).stdout.strip()


TASK = (
    "import ray\n"
    "from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy as A\n"
    "ray.init(address='auto', logging_level='ERROR')\n"
    "@ray.remote(num_cpus=0)\n"
    "def where():\n    return ray.util.get_node_ip_address()\n"
    "nodes = [n['NodeID'] for n in ray.nodes() if n['Alive']]\n"
    "print(sorted(set(ray.get([where.options(scheduling_strategy=A(n, soft=False)).remote() for n in nodes], "
    "timeout=120))))\n")


def task_on_every_node(head, expected):
    out = on(head, 'docker exec %s python3 -c %s' % (RAY, shlex.quote(TASK)), timeout=300).stdout
    seen = json.loads(out.strip().splitlines()[-1].replace("'", '"'))
    if seen != sorted(expected):
        raise RuntimeError('Ray task ran on %s, expected %s' % (seen, sorted(expected)))


def wait_for(predicate, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(1)
    raise RuntimeError('timed out after %ss waiting for %s' % (timeout, what))


def head_of(hosts):
    for h in hosts:
        if ray_role(h) == 'head':
            return h
    return None


def container_ids(hosts):
    return {h: sorted(on(h, 'docker ps -q --no-trunc').stdout.split()) for h in hosts}


# ---------------------------------------------------------------------------- peers (Ray containers gone)

RAW, RAYUP = PREFIX + '-raw', PREFIX + '-rayup'   # the peers' container names
RAY_VERSION = '2.60.0'                             # cslr_ray_version of the lab (the ray up CLI's version)
LAB_USER = 'labadmin'
LAB_KEY = os.path.join(ROOT, '.lab', 'ssh', 'id_ed25519')   # the lab's SSH key (playbooks/lab/create.yml)
TOKEN_FILE = '/opt/cslr-platform/ray/auth_token'   # cslr_base_dir/ray/auth_token (the platform's cluster token)


def ssh(host, command, check=True, timeout=600):
    """A command on a host the way a person reaches it: SSH as labadmin with the lab's key."""
    argv = ['ssh', '-i', LAB_KEY,
            '-o', 'UserKnownHostsFile=%s' % os.path.join(ROOT, '.lab', NETWORK, 'known_hosts'),
            '-o', 'StrictHostKeyChecking=yes', '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes',
            '-o', 'ControlMaster=auto', '-o', 'ControlPath=/tmp/cslr-bench-ssh-%C', '-o', 'ControlPersist=300',
            '%s@%s' % (LAB_USER, address(host)), command]
    return sh(argv, check=check, timeout=timeout)


def ray_cli():
    """Ray's CLI for `ray up`, the lab's Ray version: .cache/ray-<version>-venv (created once, as the
    election tests do; PyPI is reachable wherever `make venv` works)."""
    venv = os.path.join(ROOT, '.cache', 'ray-%s-venv' % RAY_VERSION)
    ray = os.path.join(venv, 'bin', 'ray')
    if not os.path.exists(ray):
        sh([sys.executable, '-m', 'venv', venv])
        sh([os.path.join(venv, 'bin', 'pip'), 'install', '-q', 'ray==%s' % RAY_VERSION], timeout=1800)
    if not shutil.which('rsync'):
        raise RuntimeError('`ray up` needs rsync on the controller: apt-get install rsync')
    return ray


def ray_settings(host):
    """What the platform's Ray container on `host` runs: image, ray start arguments, GCS and dashboard
    ports, /dev/shm size (the peers use the same)."""
    info = json.loads(on(host, 'docker inspect %s' % RAY).stdout)[0]
    env = dict(item.split('=', 1) for item in info['Config']['Env'])
    dash = re.search(r'--dashboard-port=(\d+)', env['CSLR_RAY_HEAD_ARGS'])
    return {'image': info['Config']['Image'], 'start': env['CSLR_RAY_START_ARGS'].strip(),
            'head': env['CSLR_RAY_HEAD_ARGS'].strip(), 'gcs': int(env['CSLR_GCS_PORT']),
            'dashboard': int(dash.group(1)) if dash else 8265, 'shm': int(info['HostConfig']['ShmSize'])}


def remove_ray(hosts):
    for h in hosts:
        on(h, 'docker rm -f %s %s %s >/dev/null 2>&1; true' % (RAY, RAW, RAYUP))


def dashboard_alive(host, port, token):
    """The node addresses the Ray dashboard on `host` lists as ALIVE (None while it does not answer)."""
    auth = '-H "Authorization: Bearer $(cat %s)"' % TOKEN_FILE if token else ''
    try:
        res = on(host, "curl -sf -m 3 %s 'http://127.0.0.1:%d/api/v0/nodes?limit=1000&detail=false"
                       "&filter_keys=state&filter_predicates=%%3D&filter_values=ALIVE'" % (auth, port),
                 check=False, timeout=30)
    except (subprocess.TimeoutExpired, OSError):
        return None
    if res.returncode != 0:
        return None
    try:
        return sorted(n['node_ip'] for n in json.loads(res.stdout)['data']['result']['result'])
    except (ValueError, KeyError, TypeError):
        return None


class Watch(threading.Thread):
    """Polls the dashboards of `heads` (a `docker exec` of curl in each, then a 0.25 s pause: about
    one look every 0.5 s) until one lists every expected node ALIVE; .when is then the time (epoch
    seconds). One poller for every way measured, so they are compared alike; `gate` (a callable)
    holds the polling back until it is true, so a long playbook run does not carry the poller's load
    before its Ray phase."""

    def __init__(self, heads, port, token, expected, timeout=900, gate=None):
        super().__init__(daemon=True)
        self.heads, self.port, self.token, self.expected = heads, port, token, sorted(expected)
        self.deadline, self.when, self.stop = time.monotonic() + timeout, None, threading.Event()
        self.gate = gate
        self.start()

    def run(self):
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            if self.gate is not None and not self.gate():
                time.sleep(0.25)
                continue
            for h in self.heads:
                if dashboard_alive(h, self.port, self.token) == self.expected:
                    self.when = time.time()
                    return
            time.sleep(0.25)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, _exc, _tb):
        if exc_type is not None:   # the measured block failed: stop polling now, not at the deadline
            self.stop.set()
        return False

    def result(self, what):
        self.join(max(1, self.deadline - time.monotonic()))
        self.stop.set()
        if self.when is None:
            raise RuntimeError('%s: the cluster never listed %s ALIVE' % (what, self.expected))
        return self.when


def raw_floor(hosts, ray, samples):
    """docker run of the head over SSH, wait for its GCS, the workers in parallel; to every node alive."""
    head, ip = hosts[0], address(hosts[0])
    run = ('sudo docker run -d --name %s --network host --shm-size=%d %s ray start --block --node-ip-address=%%s %s'
           % (RAW, ray['shm'], ray['image'], ray['start']))
    for h in hosts:
        ssh(h, 'true')  # the SSH connections are open before the clock starts (ControlPersist)
    start = time.time()
    with Watch([head], ray['dashboard'], False, [address(h) for h in hosts]) as watch:
        ssh(head, run % ip + ' --head --port=%d %s' % (ray['gcs'], ray['head']))
        wait_for(lambda: ssh(head, 'sudo docker exec %s ray health-check --address %s:%d' % (RAW, ip, ray['gcs']),
                             check=False).returncode == 0, 300, 'the raw head\'s GCS')
        with concurrent.futures.ThreadPoolExecutor(len(hosts)) as pool:
            for f in [pool.submit(ssh, h, run % address(h) + ' --address=%s:%d' % (ip, ray['gcs'])) for h in hosts[1:]]:
                f.result()  # a worker that did not start is an error now, not a timeout later
        took = watch.result('raw floor') - start
    samples.setdefault('raw_floor_3', []).append(took)
    log('  raw_floor_3 %.1f s' % took)


def ray_up(hosts, ray, samples):
    """Ray's cluster launcher on the same hosts: `ray up` with the local provider in docker mode."""
    cli = ray_cli()
    for h in hosts:  # the launcher runs docker as its SSH user (untimed; it is not the platform's setting)
        on(h, 'usermod -aG docker %s' % LAB_USER)
        ssh(h, 'true', check=False)
    sh(['sh', '-c', 'for s in /tmp/cslr-bench-ssh-*; do ssh -O exit -o ControlPath="$s" x 2>/dev/null; done; '
                    'rm -f /tmp/ray/cluster-%s.state /tmp/ray/cluster-%s.lock; true' % (PREFIX, PREFIX)])
    head_start = 'ray start --head --port=%d --autoscaling-config=~/ray_bootstrap_config.yaml %s %s' % (
        ray['gcs'], ray['start'], ray['head'])
    config = {
        'cluster_name': PREFIX, 'max_workers': len(hosts) - 1, 'upscaling_speed': 1.0, 'idle_timeout_minutes': 60,
        'provider': {'type': 'local', 'head_ip': address(hosts[0]), 'worker_ips': [address(h) for h in hosts[1:]]},
        'auth': {'ssh_user': LAB_USER, 'ssh_private_key': LAB_KEY},
        'docker': {'image': ray['image'], 'container_name': RAYUP, 'pull_before_run': False,
                   'run_options': ['--shm-size=%d' % ray['shm']]},
        'file_mounts': {}, 'initialization_commands': [], 'setup_commands': [], 'head_setup_commands': [],
        'worker_setup_commands': [],
        'head_start_ray_commands': ['ray stop', 'ulimit -c unlimited; ' + head_start],
        'worker_start_ray_commands': ['ray stop',
                                      'ray start --address=$RAY_HEAD_IP:%d %s' % (ray['gcs'], ray['start'])],
    }
    path = os.path.join(WORK, 'ray-up.yaml')
    with open(path, 'w') as handle:
        json.dump(config, handle, indent=2)   # JSON is YAML
    env = dict(os.environ, RAY_UP_enable_autoscaler_v2='0')
    start = time.time()
    with Watch([hosts[0]], ray['dashboard'], False, [address(h) for h in hosts]) as watch:
        res = subprocess.run([cli, 'up', '-y', '--no-config-cache', path], capture_output=True, text=True, env=env,
                             timeout=900, cwd=WORK)
        returned = time.time() - start
        with open(os.path.join(WORK, 'logs', 'ray-up-%d.log' % len(samples.get('ray_up_3', []))), 'w') as handle:
            handle.write(res.stdout + res.stderr)
        if res.returncode != 0:
            raise RuntimeError('ray up failed (rc %d):\n%s\n%s' % (res.returncode, res.stdout[-4000:],
                                                                    res.stderr[-3000:]))
        took = watch.result('ray up') - start
    samples.setdefault('ray_up_3', []).append(took)
    samples.setdefault('ray_up_cmd_3', []).append(returned)
    log('  ray_up_3 %.1f s (the command returned after %.1f s)' % (took, returned))


def peers(inv, samples, details):
    """On the converged 3 hosts, Ray containers removed: raw floor, ray up, site.yml (and its Ray phase)."""
    hosts = names(3)
    ray = ray_settings(head_of(hosts) or hosts[0])
    log('Ray containers gone: raw floor')
    remove_ray(hosts)
    raw_floor(hosts, ray, samples)
    log('Ray containers gone: ray up')
    remove_ray(hosts)
    ray_up(hosts, ray, samples)
    log('Ray containers gone: site.yml')
    remove_ray(hosts)
    start = time.time()
    LAST_LOG[0] = None   # set by playbook() below; the poller starts once the election is in that log
    with Watch(hosts[:2], ray['dashboard'], True, [address(h) for h in hosts],
               gate=lambda: LAST_LOG[0] is not None and log_has(LAST_LOG[0], 'Elect the Ray head')) as watch:
        took, _rc, changed, _b, _o = must(playbook(inv, 'site.yml'), 'site.yml, Ray containers gone')
        phase = watch.result('site.yml') - task_started(LAST_LOG[0], 'Elect the Ray head')
    samples.setdefault('ray_gone_site_3', []).append(took)
    samples.setdefault('ray_phase_3', []).append(phase)
    details.setdefault('ray_gone_site_3_alive_after', []).append(round(watch.when - start, 1))
    log('  ray_gone_site_3 %.1f s (changed=%d), ray_phase_3 %.1f s' % (took, sum(changed.values()), phase))


def light(n, samples, details, inner=1, destroy=True):
    """Cold converge and settled rerun(s) on n fresh light hosts."""
    inv = inventory(n, light=True)
    fresh(inv, names(n))
    log('light hosts: cold converge, %d host(s)' % n)
    took, _rc, _c, _b, _o = must(playbook(inv, 'site.yml'), 'site.yml on %d light hosts' % n)
    samples.setdefault('light_cold_%d' % n, []).append(took)
    # The controller's own cost, apart from the hosts' (which share this machine's cores here).
    details.setdefault('light_cold_%d_controller_cpu_s' % n, []).append(LAST_CPU[0])
    log('  light_cold_%d %.1f s (controller CPU %.1f s)' % (n, took, LAST_CPU[0]))
    for _ in range(inner):
        took, _rc, changed, _b, _o = must(playbook(inv, 'site.yml'), 'rerun on %d light hosts' % n)
        samples.setdefault('light_rerun_%d' % n, []).append(took)
        details.setdefault('light_rerun_%d_controller_cpu_s' % n, []).append(LAST_CPU[0])
        log('  light_rerun_%d %.1f s (changed=%d, controller CPU %.1f s)' % (n, took, sum(changed.values()),
                                                                             LAST_CPU[0]))
    if destroy:
        playbook(inv, 'playbooks/lab/destroy.yml')


# ---------------------------------------------------------------------------- measurements

def cold(n, samples):
    """Cold converge on n fresh hosts, then a Ray task on every host. Returns the inventory."""
    inv = inventory(n, spares=1 if n == 3 else 0)
    fresh(inv, names(n))
    log('cold converge, %d host(s)' % n)
    start = time.monotonic()
    took, rc, _c, _b, _o = must(playbook(inv, 'site.yml'), 'site.yml on %d fresh hosts' % n)
    task_on_every_node(names(n)[0], [address(h) for h in names(n)])
    samples.setdefault('cold_%d' % n, []).append(took)
    samples.setdefault('first_task_%d' % n, []).append(time.monotonic() - start)
    log('  cold_%d %.1f s, first task on every host after %.1f s' % (n, took, samples['first_task_%d' % n][-1]))
    return inv


def capture_stacks(hosts):
    """The compose directories and state site.yml wrote, per host (for the baseline)."""
    out = {}
    for h in hosts:
        res = subprocess.run(['docker', 'exec', h, 'tar', '-C', '/', '-czf', '-', 'opt/cslr-platform',
                              'var/lib/cslr-platform', 'etc/cslr'], capture_output=True, check=True)
        out[h] = res.stdout
    return out


def rerun(inv, samples, details):
    log('rerun, 3 hosts')
    took, _rc, changed, _b, _o = must(playbook(inv, 'site.yml'), 'rerun')
    samples.setdefault('rerun_3', []).append(took)
    details.setdefault('rerun_3_changed', []).append(sum(changed.values()))
    details.setdefault('rerun_3_controller_cpu_s', []).append(LAST_CPU[0])
    log('  rerun_3 %.1f s, changed=%d' % (took, sum(changed.values())))


def chain_on_three(inv, samples, details):
    """On the converged 3 hosts: failover (rerun, then entrypoint), --limit of a 4th host."""
    hosts = names(3)
    for mode in ('rerun', 'entry'):
        head = head_of(hosts)
        remaining = [h for h in hosts if h != head]
        expected = sorted(address(h) for h in remaining)
        log('failover (%s): stopping head host %s' % (mode, head))
        start = time.monotonic()
        sh(['docker', 'stop', head])
        if mode == 'rerun':
            must(playbook(inv, 'site.yml'), 'failover rerun', allow_failed=(head,))
        wait_for(lambda: any(ray_role(h) == 'head' and alive_ips(h) == expected for h in remaining), 900,
                 'a head with every remaining node')
        took = time.monotonic() - start
        samples.setdefault('failover_%s' % mode, []).append(took)
        log('  failover_%s %.1f s (new head %s)' % (mode, took, head_of(remaining)))
        sh(['docker', 'start', head])
        new_head = head_of(remaining)
        wait_for(lambda: alive_ips(new_head) == sorted(address(h) for h in hosts), 600, 'the old head to rejoin')

    spare = '%s-4' % PREFIX
    extra = spare_inventory(spare, address(spare))
    must(playbook([inv, extra], 'site.yml', '--tags', 'docker,images', '--limit', spare), 'prepare the 4th host')
    before = container_ids(hosts)
    log('--limit of a 4th host')
    took, _rc, changed, _b, _o = must(playbook([inv, extra], 'site.yml', '--limit', spare), '--limit 4th host')
    untouched = container_ids(hosts) == before
    samples.setdefault('limit_4th', []).append(took)
    details.setdefault('limit_4th_others_untouched', []).append(untouched)
    log('  limit_4th %.1f s, other hosts\' containers untouched: %s' % (took, untouched))


def baseline(captured, samples, destroy=True):
    """Fresh hosts, Docker + images in place, compose dirs copied in; time compose up host by host."""
    inv = inventory(3)
    hosts = names(3)
    fresh(inv, hosts)
    for h in hosts:
        subprocess.run(['docker', 'exec', '-i', h, 'tar', '-C', '/', '-xzf', '-'], input=captured[h], check=True)
    # Head first, as the original's procedure: the first candidate was the head when captured.
    log('baseline: docker compose up --wait, host after host')
    start = time.monotonic()
    for h in hosts:
        for stack in STACK_ORDER:
            on(h, 'test ! -f /opt/cslr-platform/{s}/compose.yaml || (cd /opt/cslr-platform/{s} && '
                  'docker compose -p {p}-{s} up -d --wait)'.format(s=stack, p=PROJECT), timeout=900)
    took = time.monotonic() - start
    wait_for(lambda: alive_ips(hosts[0]) == sorted(address(h) for h in hosts), 300, 'the baseline cluster')
    samples.setdefault('baseline_3', []).append(took)
    log('  baseline_3 %.1f s' % took)
    if destroy:
        playbook(inv, 'playbooks/lab/destroy.yml')


# ---------------------------------------------------------------------------- report

def summary(samples):
    rows = []
    for name in sorted(samples):
        vals = samples[name]
        rows.append((name, len(vals), min(vals), statistics.median(vals), max(vals)))
    return rows


def ratios(samples):
    out = []
    for label, num, den, target in TARGETS:
        if samples.get(num) and samples.get(den):
            value = statistics.median(samples[num]) / statistics.median(samples[den])
            out.append({'ratio': label, 'value': round(value, 3), 'target': target, 'met': value <= target})
    return out


def machine():
    return {'cpus': os.cpu_count(), 'memory_gib': round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
                                                          / 2 ** 30, 1),
            'kernel': os.uname().release, 'docker': sh(['docker', 'version', '--format', '{{.Server.Version}}'],
                                                       check=False).stdout.strip()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--reps', type=int, default=3, help='repetitions of every figure (default 3)')
    p.add_argument('--sizes', default='1,3,5', help='host counts of the cold converge (3 is always measured)')
    p.add_argument('--json', help='result file (default .bench/results-<UTC time>.json)')
    p.add_argument('--inner', type=int, default=1,
                   help='repetitions of rerun_3, the peers and light_rerun_N on the same converged hosts (default 1)')
    p.add_argument('--light-sizes', default='3,10', help='host counts of the light hosts (default 3,10)')
    p.add_argument('--sections', default=','.join(SECTIONS),
                   help='what to measure (default all): cold (every --sizes), rerun (rerun_3), peers (raw floor, '
                        'ray up, site.yml with the Ray containers gone), failover (failover_*, limit_4th), baseline, '
                        'light (light_*_N); cold_3 is measured whenever one of rerun, peers, failover, baseline is')
    p.add_argument('--profile', action='store_true', help='time every task (ansible.posix.profile_tasks) in the logs')
    p.add_argument('--keep', action='store_true',
                   help='leave the last set of hosts of the last repetition running (to look at them)')
    args = p.parse_args(argv)
    sections = set(args.sections.split(','))
    if not sections or sections - set(SECTIONS):
        p.error('--sections: choose from %s' % ', '.join(SECTIONS))
    global PROFILE  # pylint: disable=global-statement
    PROFILE = args.profile
    shutil.rmtree(os.path.join(WORK, 'logs'), ignore_errors=True)
    sizes = sorted(set(int(s) for s in args.sizes.split(',')) | {3}) if 'cold' in sections else []
    if sections & {'rerun', 'peers', 'failover', 'baseline'}:
        sizes = sorted(set(sizes) | {3})
    light_sizes = sorted(set(int(s) for s in args.light_sizes.split(','))) if 'light' in sections else []
    os.makedirs(WORK, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ')
    out_path = args.json or os.path.join(WORK, 'results-%s.json' % stamp)
    samples, details = {}, {}
    started = time.monotonic()
    try:
        # --keep leaves the last set of hosts of the last repetition running (the others share host
        # names with it and the cores, so they are removed as usual).
        sets = ([('cold', n) for n in sizes] + ([('baseline', 3)] if 'baseline' in sections else [])
                + [('light', n) for n in light_sizes])
        for rep in range(1, args.reps + 1):
            log('repetition %d of %d' % (rep, args.reps))

            def destroy(kind, n, rep=rep):
                return not (args.keep and rep == args.reps and sets and sets[-1] == (kind, n))
            for n in sizes:
                inv = cold(n, samples)
                if n == 3:
                    captured = capture_stacks(names(3))
                    for _ in range(args.inner if 'rerun' in sections else 0):
                        rerun(inv, samples, details)
                    for _ in range(args.inner if 'peers' in sections else 0):
                        peers(inv, samples, details)
                    if 'failover' in sections:
                        chain_on_three(inv, samples, details)
                if destroy('cold', n):
                    playbook(inv, 'playbooks/lab/destroy.yml')
            if 'baseline' in sections:
                baseline(captured, samples, destroy('baseline', 3))
            for n in light_sizes:
                light(n, samples, details, args.inner, destroy('light', n))
    finally:
        paths = ([os.path.join(WORK, 'inv-%d' % n) for n in sizes]
                 + [os.path.join(WORK, 'light-%d' % n) for n in light_sizes])
        for path in [] if args.keep else paths:
            if os.path.isdir(path):
                playbook(path, 'playbooks/lab/destroy.yml')
    result = {'when': stamp, 'machine': machine(), 'reps': args.reps, 'inner': args.inner, 'sections': sorted(sections),
              'seconds': samples, 'details': details,
              'summary': [dict(zip(('figure', 'n', 'min', 'median', 'max'), row)) for row in summary(samples)],
              'ratios': ratios(samples), 'bench_wall_seconds': round(time.monotonic() - started)}
    with open(out_path, 'w') as handle:
        json.dump(result, handle, indent=2)
    print('\n%-18s %3s %9s %9s %9s' % ('figure (seconds)', 'n', 'min', 'median', 'max'))
    for name, n, lo, med, hi in summary(samples):
        print('%-18s %3d %9.1f %9.1f %9.1f' % (name, n, lo, med, hi))
    for key, vals in sorted(details.items()):
        print('%-28s %s' % (key, vals))
    print()
    for r in result['ratios']:
        print('%-32s %.2f  (target <= %.1f: %s)' % (r['ratio'], r['value'], r['target'],
                                                    'met' if r['met'] else 'MISSED'))
    print('\nmachine: %s; bench wall time %d s; results: %s' % (result['machine'], result['bench_wall_seconds'],
                                                                  os.path.relpath(out_path, ROOT)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
