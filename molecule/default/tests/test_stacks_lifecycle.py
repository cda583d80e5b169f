"""Lifecycle of the converged stacks (runs after test_stacks.py; it stops and restarts them):
teardown keeps MLflow's data and site.yml brings it back; backup -> drop -> restore brings a run
back. That a settled rerun changes nothing and keeps every container is test_awx_runner.py's."""
import json
import os

import pytest

from cslr_testinfra import Lab, run_playbook, run_site

import test_stacks as stacks

LAB = Lab()
HOSTS = LAB.group("cslr_cluster")
MLFLOW = stacks.MLFLOW
PREFIX = stacks.PREFIX


def ok(res):
    return res.returncode == 0, res.stdout[-5000:] + res.stderr[-2000:]


def run_exists(run_id):
    """The run as MLflow's REST API answers (as its admin) from a host that is not the MLflow host,
    or None when MLflow says it does not exist."""
    reader = [h for h in HOSTS if h != MLFLOW][0]
    code, text = stacks.mlflow_call(reader, "/api/2.0/mlflow/runs/get?run_id=%s" % run_id)
    # 404: no such run; 400/500: MLflow's tables are gone (the restore test drops them: MLflow
    # answers 400 "relation runs does not exist"). 401/403 would be a broken login, not a missing run.
    assert code in (200, 400, 404, 500), (code, text)
    return json.loads(text).get("run") if code == 200 else None


@pytest.fixture(scope="module")
def logged_run():
    """A run logged from a Ray task on a worker, with its metric and artifact."""
    _worker, marker, result = stacks.submit_job("cslr-lifecycle")
    assert run_exists(result["run_id"])
    return result["run_id"], marker


def test_teardown_refuses_to_delete_a_system_directory_and_changes_nothing():
    before = LAB.container_ids()
    res, _recap = run_playbook("playbooks/teardown.yml", "-e", json.dumps(
        {"cslr_teardown_delete_data": True, "cslr_ray_log_dir": "/var/log"}))
    assert res.returncode != 0, res.stdout[-3000:]
    assert "cslr_ray_log_dir = \"/var/log\": is /var/log, a directory of the system" in res.stdout, res.stdout[-3000:]
    assert "no host was contacted or changed" in res.stdout
    assert LAB.container_ids() == before
    assert LAB.host(HOSTS[0]).file("/var/log").is_directory


def test_teardown_keeps_data_and_site_brings_it_back(logged_run):
    run_id, marker = logged_run
    res, _recap = run_playbook("playbooks/teardown.yml")
    assert ok(res)[0], ok(res)[1]
    assert "Keeping the data of %s" % MLFLOW in res.stdout
    for name in HOSTS:
        host = LAB.host(name)
        left = host.check_output("docker ps -aq --filter label=com.docker.compose.project")
        assert left == "", (name, left)
    volumes = set(LAB.host(MLFLOW).check_output("docker volume ls -q").split())
    assert {PREFIX + "-mlflow-postgres", PREFIX + "-mlflow-artifacts"} <= volumes
    res, _recap = run_site()
    assert ok(res)[0], ok(res)[1]
    run = run_exists(run_id)
    assert run and {m["key"]: m["value"] for m in run["data"]["metrics"]} == {"accuracy": 0.875}
    # the artifact is still served too
    name = "cslr-artifact-%s.txt" % marker
    assert marker in stacks.mlflow_get(HOSTS[-1], "/get-artifact?path=%s&run_uuid=%s" % (name, run_id))


def test_backup_drop_restore_round_trip(logged_run, tmp_path):
    run_id, _marker = logged_run
    res, _recap = run_playbook("playbooks/mlflow_backup.yml", "-e", "cslr_mlflow_backup_dir=%s" % tmp_path)
    assert ok(res)[0], ok(res)[1]
    dumps = sorted(p for p in os.listdir(str(tmp_path)) if p.endswith(".dump"))
    assert len(dumps) == 1 and dumps[0].startswith("mlflow-%s-" % MLFLOW), dumps
    assert os.stat(str(tmp_path / dumps[0])).st_size > 0
    # drop every table of MLflow's database
    LAB.host(MLFLOW).check_output(
        "docker exec %s-postgres psql -U mlflow -d mlflow -v ON_ERROR_STOP=1 -qc "
        "'DROP SCHEMA public CASCADE; CREATE SCHEMA public;'" % PREFIX)
    assert run_exists(run_id) is None
    res, _recap = run_playbook("playbooks/mlflow_restore.yml", "-e", "cslr_mlflow_restore_file=%s" % (tmp_path / dumps[0]))
    assert ok(res)[0], ok(res)[1]
    run = run_exists(run_id)
    assert run and {m["key"]: m["value"] for m in run["data"]["metrics"]} == {"accuracy": 0.875}
    assert LAB.host(MLFLOW).run("ls /var/backups/cslr-platform/*.dump").rc != 0  # no copy left on the host


def test_restore_without_a_file_fails_clearly():
    res, _recap = run_playbook("playbooks/mlflow_restore.yml")
    assert res.returncode != 0
    assert "Set cslr_mlflow_restore_file" in res.stdout, res.stdout[-3000:]
