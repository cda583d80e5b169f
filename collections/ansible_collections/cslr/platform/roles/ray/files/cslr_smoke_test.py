# Run as `python3 -c SOURCE ARGS` inside the head's Ray container (no shebang: not executable).
# Copyright: cslr.platform maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Ray part of playbooks/smoke_test.yml, run inside the head's Ray container (python3 - ARGS):
the cluster's nodes against the inventory, a task placed on every node, each node's resources,
a GPU task on every GPU node, an MLflow run logged from a worker and read back from the head.

ARGS: one JSON object {"nodes": {ADDRESS: {"host": NAME, "cpus": N, "gpus": N, "memory_mib": N|null}},
"mlflow": bool, "mlflow_from": ADDRESS|null, "timeout": SECONDS}. Prints one JSON line: a list
of {"check", "ok" (true, false or null = not applicable), "detail"}. Never raises: a failure is a
check that failed."""
import json
import subprocess
import sys
import time


def _first(exc, width):
    """The first line of an exception's text, at most width characters."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:width]


def _check(out, name, ok, detail):
    out.append({'check': name, 'ok': ok, 'detail': detail})


def _pinned(ray, fn, node_id, **options):
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    return fn.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False), **options)


def run(args, out):  # pylint: disable=too-many-locals
    import ray

    expected = args['nodes']
    timeout = args.get('timeout', 120)
    ray.init(address='auto', logging_level='ERROR')
    nodes = dict((n['NodeManagerAddress'], n) for n in ray.nodes() if n['Alive'])
    missing = sorted(set(expected) - set(nodes))
    extra = sorted(set(nodes) - set(expected))
    _check(out, 'ray nodes alive', not missing,
           '%d of %d expected%s%s' % (len(set(expected) & set(nodes)), len(expected),
                                      '; MISSING: ' + ', '.join('%s (%s)' % (a, expected[a]['host']) for a in missing)
                                      if missing else '',
                                      '; not in the inventory: ' + ', '.join(extra) if extra else ''))

    @ray.remote(num_cpus=0.01)
    def where():
        return ray.util.get_node_ip_address()

    refs = dict((addr, _pinned(ray, where, n['NodeID']).remote()) for addr, n in nodes.items())
    answered, failed = [], []
    for addr, ref in sorted(refs.items()):
        try:
            got = ray.get(ref, timeout=timeout)
            (answered if got == addr else failed).append(addr if got == addr else '%s ran on %s' % (addr, got))
        except Exception as exc:  # pylint: disable=broad-except
            failed.append('%s: %s' % (addr, _first(exc, 200)))
    _check(out, 'task on every node', not failed and bool(answered),
           'ran on %s%s' % (', '.join(answered) or 'no node', '; FAILED: ' + '; '.join(failed) if failed else ''))

    wrong = []
    cpus = gpus = mem = 0.0
    for addr, n in sorted(nodes.items()):
        res = n.get('Resources') or {}
        cpus += res.get('CPU', 0)
        gpus += res.get('GPU', 0)
        mem += res.get('memory', 0)
        want = expected.get(addr)
        if want is None:
            continue
        if int(res.get('CPU', 0)) != int(want['cpus']):
            wrong.append('%s CPU %g, expected %s' % (want['host'], res.get('CPU', 0), want['cpus']))
        if int(res.get('GPU', 0)) != int(want['gpus']):
            wrong.append('%s GPU %g, expected %s' % (want['host'], res.get('GPU', 0), want['gpus']))
        if want.get('memory_mib') and res.get('memory', 0) > want['memory_mib'] * 1048576:
            wrong.append('%s memory %d MiB over its limit %d MiB'
                         % (want['host'], res['memory'] / 1048576, want['memory_mib']))
    detail = 'total %g CPU, %g GPU, %.1f GiB memory' % (cpus, gpus, mem / 1073741824)
    _check(out, 'resources against the inventory', not wrong, detail + ('; ' + '; '.join(wrong) if wrong else ''))

    gpu_nodes = sorted(addr for addr, want in expected.items() if int(want['gpus']) > 0 and addr in nodes)
    if not gpu_nodes:
        _check(out, 'GPU task on every GPU node', None, 'no GPU host in the inventory')
    else:
        @ray.remote(num_cpus=0.01, num_gpus=1)
        def gpu_probe():
            proc = subprocess.run(['nvidia-smi', '-L'], capture_output=True, text=True, timeout=60, check=False)
            return ray.get_gpu_ids(), proc.returncode, proc.stdout.strip().splitlines()[:1]

        bad, good = [], []
        for addr in gpu_nodes:
            try:
                ids, rc, lines = ray.get(_pinned(ray, gpu_probe, nodes[addr]['NodeID']).remote(), timeout=timeout)
                (good if rc == 0 and ids else bad).append('%s %s' % (addr, lines[0] if lines else 'rc=%d' % rc))
            except Exception as exc:  # pylint: disable=broad-except
                bad.append('%s: %s' % (addr, _first(exc, 200)))
        _check(out, 'GPU task on every GPU node', not bad, '; '.join(good + ['FAILED ' + b for b in bad]))

    if not args.get('mlflow'):
        _check(out, 'MLflow run from a worker', None, 'MLflow is not enabled')
        return
    source = args.get('mlflow_from') if args.get('mlflow_from') in nodes else sorted(nodes)[0]

    @ray.remote(num_cpus=0.01)
    def log_run(marker):
        import mlflow
        mlflow.set_experiment('cslr-smoke-test')
        with mlflow.start_run(run_name='smoke-%s' % marker) as active:
            mlflow.log_param('node', ray.util.get_node_ip_address())
            mlflow.log_metric('marker', marker)
            return active.info.run_id

    marker = int(time.time())
    try:
        run_id = ray.get(_pinned(ray, log_run, nodes[source]['NodeID']).remote(marker), timeout=timeout)
        import mlflow
        got = mlflow.tracking.MlflowClient().get_run(run_id)
        ok = got.data.metrics.get('marker') == marker and got.data.params.get('node') == source
        _check(out, 'MLflow run from a worker', ok, 'run %s logged from %s, read back on the head%s' % (
            run_id, source, '' if ok else ' WITH OTHER VALUES: %s %s' % (got.data.metrics, got.data.params)))
        mlflow.tracking.MlflowClient().delete_run(run_id)
    except Exception as exc:  # pylint: disable=broad-except
        _check(out, 'MLflow run from a worker', False, '%s: %s' % (type(exc).__name__, _first(exc, 300)))


def main():
    out = []
    try:
        run(json.loads(sys.argv[1]), out)
    except Exception as exc:  # pylint: disable=broad-except
        _check(out, 'ray session on the head', False, '%s: %s' % (type(exc).__name__, _first(exc, 300)))
    print(json.dumps(out))


if __name__ == '__main__':
    main()
