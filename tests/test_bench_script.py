"""scripts/bench.py's pieces that need no simulated host: the Ansible log reader behind ray_phase_3,
the light-host inventory (valid for the platform's own validator), the ratios and their targets."""
import os
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'scripts'))
import bench  # noqa: E402  pylint: disable=wrong-import-position


def test_task_started_reads_the_task_banner_of_ansible_log(tmp_path):
    log = tmp_path / 'run.ansible.log'
    prefix = ' p=1 u=root n=ansible INFO| TASK [cslr.platform.ray : '
    log.write_text('2026-12-06 10:00:01,250' + prefix + 'Read] ***\n'
                   '2026-12-06 10:00:03,500' + prefix + 'Elect the Ray head] *\n'
                   '2026-12-06 10:00:09,000' + prefix + 'Elect the Ray head] *\n')
    start = time.mktime(time.strptime('2026-12-06 10:00:03', '%Y-%m-%d %H:%M:%S')) + 0.5
    assert bench.task_started(str(log), 'Elect the Ray head') == pytest.approx(start)
    with pytest.raises(RuntimeError, match='no task'):
        bench.task_started(str(log), 'Start the Ray head')


def test_light_inventory_is_valid_for_the_platform(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, 'WORK', str(tmp_path))
    inv = bench.inventory(10, light=True)
    assert sorted(os.listdir(os.path.join(inv, 'host_vars'))) == sorted(
        'cslr-bench-%d.yml' % i for i in range(3, 11))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1')
    res = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', inv,
                          os.path.join(ROOT, 'collections/ansible_collections/cslr/platform/playbooks/validate.yml')],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=600, check=False)
    assert res.returncode == 0, res.stdout[-3000:]
    assert 'The platform configuration of 10 host(s) is valid' in res.stdout
    # Every host's own settings: Ray on the two head candidates only, the heavy stacks off.
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-inventory'), '-i', inv, '--list'],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, check=True).stdout
    assert out.count('"cslr_ray_enabled": false') == 8
    assert '"cslr_mlflow_enabled": false' in out and '"cslr_monitoring_enabled": false' in out


def test_ratios_against_the_issue_targets():
    samples = {'cold_3': [100.0, 90.0, 110.0], 'baseline_3': [50.0], 'rerun_3': [25.0],
               'ray_gone_site_3': [60.0], 'ray_up_3': [30.0], 'ray_phase_3': [27.0], 'raw_floor_3': [16.0]}
    got = {r['ratio']: (r['value'], r['target'], r['met']) for r in bench.ratios(samples)}
    assert got['cold_3 / baseline_3'] == (2.0, 1.6, False)
    assert got['rerun_3 / cold_3'] == (0.25, 0.3, True)
    assert got['ray_gone_site_3 / ray_up_3'] == (2.0, 1.5, False)
    assert got['ray_phase_3 / ray_up_3'] == (0.9, 1.0, True)
    assert got['ray_phase_3 / raw_floor_3'] == (1.688, 1.8, True)
    assert 'light_cold_10 / light_cold_3' not in got  # not measured: no ratio, no error


def test_watch_polls_only_once_the_gate_opens(monkeypatch):
    looks = []
    opened = {'at': None}

    def alive(host, port, token):
        looks.append(time.time())
        return ['10.0.0.1', '10.0.0.2']
    monkeypatch.setattr(bench, 'dashboard_alive', alive)

    def gate():
        if opened['at'] is None and len(gate.calls) >= 3:
            opened['at'] = time.time()
        gate.calls.append(1)
        return opened['at'] is not None
    gate.calls = []
    watch = bench.Watch(['h1'], 8265, False, ['10.0.0.2', '10.0.0.1'], timeout=30, gate=gate)
    when = watch.result('test')
    assert looks and looks[0] >= opened['at'] and when >= opened['at']


def test_watch_gives_up_with_a_clear_error(monkeypatch):
    monkeypatch.setattr(bench, 'dashboard_alive', lambda *a: ['10.0.0.1'])
    with pytest.raises(RuntimeError, match='never listed'):
        bench.Watch(['h1'], 8265, False, ['10.0.0.1', '10.0.0.2'], timeout=1).result('test')


def test_a_hung_docker_exec_is_no_answer(monkeypatch):
    def hung(*args, **kwargs):
        raise subprocess.TimeoutExpired('docker', 30)
    monkeypatch.setattr(bench, 'on', hung)
    assert bench.dashboard_alive('h1', 8265, True) is None


def test_keep_leaves_only_the_last_set_of_the_last_repetition(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, 'WORK', str(tmp_path))
    destroyed, light_destroy = [], []
    monkeypatch.setattr(bench, 'cold', lambda n, samples: str(tmp_path / ('inv-%d' % n)))
    monkeypatch.setattr(bench, 'capture_stacks', lambda hosts: {})
    monkeypatch.setattr(bench, 'rerun', lambda inv, samples, details: samples.setdefault('rerun_3', []).append(1.0))
    monkeypatch.setattr(bench, 'light', lambda n, samples, details, inner, destroy: light_destroy.append((n, destroy)))
    monkeypatch.setattr(bench, 'playbook', lambda inv, path, *a: destroyed.append(os.path.basename(inv)))
    monkeypatch.setattr(bench, 'machine', lambda: {})
    assert bench.main(['--reps', '2', '--sizes', '3', '--sections', 'rerun,light', '--light-sizes', '3,10',
                       '--keep', '--json', str(tmp_path / 'r.json')]) == 0
    assert destroyed == ['inv-3', 'inv-3']          # the cold set of each repetition
    assert light_destroy == [(3, True), (10, True), (3, True), (10, False)]


def test_watch_stops_polling_when_the_measured_block_fails(monkeypatch):
    monkeypatch.setattr(bench, 'dashboard_alive', lambda *a: None)
    with pytest.raises(ValueError):
        with bench.Watch(['h1'], 8265, False, ['10.0.0.1'], timeout=60) as watch:
            raise ValueError('the measured block failed')
    watch.join(5)
    assert watch.stop.is_set() and not watch.is_alive()
