#!/usr/bin/env python3
"""Benchmark the platform on simulated lab hosts: converge, baseline, rerun, --limit, failover.

Run by `make bench` (after `make images`; not part of `make test`). Every figure is measured
--reps times (default 3) and printed as min / median / max; the raw samples and the ratios go
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
  rerun_3          site.yml again on the converged 3 hosts (and its changed count)
  limit_4th        site.yml --limit of a 4th host (Docker and images in place); whether the other
                   hosts' containers were left alone (same IDs)
  failover_rerun   head host stopped -> site.yml rerun done and every remaining node alive
  failover_entry   head host stopped -> (no Ansible) a new head with every remaining node alive

Hosts are named cslr-bench-N on the Docker network cslr-bench (10.213.7.0/24), so the bench
never touches `make lab` or molecule hosts; it removes its hosts and their volumes at the end
and before each fresh set (leftovers of an aborted run included).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, '.venv', 'bin')
WORK = os.path.join(ROOT, '.bench')
PREFIX, SUBNET, NETWORK = 'cslr-bench', '10.213.7', 'cslr-bench'
PROJECT = 'cslr-lab'          # cslr_project_name of inventories/lab/group_vars (copied)
RAY = PROJECT + '-ray'
STACK_ORDER = ('health', 'ray', 'mlflow')
TARGETS = (
    ('cold_3 / baseline_3', 'cold_3', 'baseline_3', 1.3),
    ('rerun_3 / cold_3', 'rerun_3', 'cold_3', 0.3),
    ('cold_5 / cold_1', 'cold_5', 'cold_1', 1.5),
)


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

def inventory(n, spares=0):
    """A bench inventory directory: n cluster hosts (+ spares, not in the cluster) and the lab's group_vars."""
    path = os.path.join(WORK, 'inv-%d' % n)
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


def playbook(inv, path, *args):
    """(seconds, rc, {host: changed}, {host: failed+unreachable}, stdout) of one ansible-playbook run;
    its output is kept in .bench/logs/NNN-<playbook>.log."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1')
    if PROFILE:
        env['ANSIBLE_CALLBACKS_ENABLED'] = 'ansible.posix.profile_tasks'
        env['PROFILE_TASKS_TASK_OUTPUT_LIMIT'] = '25'
    invs = inv if isinstance(inv, (list, tuple)) else [inv]
    argv = [os.path.join(BIN, 'ansible-playbook')] + [a for i in invs for a in ('-i', i)] + [path] + list(args)
    start = time.monotonic()
    res = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=3600)
    took = time.monotonic() - start
    _RUNS[0] += 1
    os.makedirs(os.path.join(WORK, 'logs'), exist_ok=True)
    with open(os.path.join(WORK, 'logs', '%03d-%s.log' % (_RUNS[0], os.path.basename(path)[:-4])), 'w') as handle:
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


def chain_on_three(inv, samples, details):
    """On the converged 3 hosts: rerun, failover (rerun, then entrypoint), --limit of a 4th host."""
    hosts = names(3)
    log('rerun, 3 hosts')
    took, _rc, changed, _b, _o = must(playbook(inv, 'site.yml'), 'rerun')
    samples.setdefault('rerun_3', []).append(took)
    details.setdefault('rerun_3_changed', []).append(sum(changed.values()))
    log('  rerun_3 %.1f s, changed=%d' % (took, sum(changed.values())))

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


def baseline(captured, samples):
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
    p.add_argument('--profile', action='store_true', help='time every task (ansible.posix.profile_tasks) in the logs')
    args = p.parse_args(argv)
    global PROFILE  # pylint: disable=global-statement
    PROFILE = args.profile
    shutil.rmtree(os.path.join(WORK, 'logs'), ignore_errors=True)
    sizes = sorted(set(int(s) for s in args.sizes.split(',')) | {3})
    os.makedirs(WORK, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ')
    out_path = args.json or os.path.join(WORK, 'results-%s.json' % stamp)
    samples, details = {}, {}
    started = time.monotonic()
    try:
        for rep in range(1, args.reps + 1):
            log('repetition %d of %d' % (rep, args.reps))
            for n in sizes:
                inv = cold(n, samples)
                if n == 3:
                    captured = capture_stacks(names(3))
                    chain_on_three(inv, samples, details)
                playbook(inv, 'playbooks/lab/destroy.yml')
            baseline(captured, samples)
    finally:
        for n in sizes:
            path = os.path.join(WORK, 'inv-%d' % n)
            if os.path.isdir(path):
                playbook(path, 'playbooks/lab/destroy.yml')
    result = {'when': stamp, 'machine': machine(), 'reps': args.reps, 'seconds': samples, 'details': details,
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
        print('%-22s %.2f  (target <= %.1f: %s)' % (r['ratio'], r['value'], r['target'], 'met' if r['met'] else 'MISSED'))
    print('\nmachine: %s; bench wall time %d s; results: %s' % (result['machine'], result['bench_wall_seconds'],
                                                                  os.path.relpath(out_path, ROOT)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
