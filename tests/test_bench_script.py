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
    log.write_text('2026-12-06 10:00:01,250 p=1 u=root n=ansible INFO| TASK [cslr.platform.ray : Read] ***\n'
                   '2026-12-06 10:00:03,500 p=1 u=root n=ansible INFO| TASK [cslr.platform.ray : Elect the Ray head] *\n'
                   '2026-12-06 10:00:09,000 p=1 u=root n=ansible INFO| TASK [cslr.platform.ray : Elect the Ray head] *\n')
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
