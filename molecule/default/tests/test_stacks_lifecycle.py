"""Lifecycle of the converged stacks (runs after test_stacks.py; it stops and restarts them):
deleting data wants the cluster's name typed (nothing changes without it), then deletes and lists
what it deleted; teardown keeps MLflow's data, and site.yml brings every stack back (the one whose
data went, empty); backup -> drop -> restore brings a run back; restores, backups, an MLflow
upgrade and PostgreSQL major versions (issue 18); a stack turned off is removed with its data kept,
and comes back on it. That a settled rerun changes nothing and keeps
every container is test_awx_runner.py's."""
import json
import os
import stat
import subprocess
import tempfile
import time

import pytest

from cslr_testinfra import Lab, changed_tasks, drop_from_controller, run_playbook, run_roles, run_site

import test_stacks as stacks

LAB = Lab()
HOSTS = LAB.group("cslr_cluster")
MLFLOW = stacks.MLFLOW
PREFIX = stacks.PREFIX
HOST_DIR = LAB.var(MLFLOW, "cslr_mlflow_backup_host_dir", "/var/backups/cslr-platform/mlflow")
KEEP = LAB.var(MLFLOW, "cslr_mlflow_backup_keep")


def ok(res):
    return res.returncode == 0, res.stdout[-5000:] + res.stderr[-2000:]


def flat(res):
    """A run's output with YAML's line folding and quote doubling undone, for matching messages."""
    return " ".join((res.stdout + res.stderr).replace("''", "'").split())


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


def test_deleting_data_wants_the_clusters_name_typed_and_changes_nothing_without_it():
    before = LAB.container_ids()
    for confirm in (None, "wrong"):
        extra = {"cslr_teardown_delete_data": True}
        if confirm:
            extra["cslr_teardown_confirm"] = confirm
        res, recap = run_playbook("playbooks/teardown.yml", "-e", json.dumps(extra))
        out = flat(res)
        assert res.returncode != 0, out[-3000:]
        # What would go is listed first, on every host; then the confirmation stops the run.
        line = out.split("DELETING the data of %s: volumes " % MLFLOW, 1)[-1].split(";")[0]
        assert "%s-mlflow-postgres" % PREFIX in line.split(", "), out[-3000:]
        assert "To go on, type the cluster's name: -e cslr_teardown_confirm=%s" % PREFIX in out, out[-3000:]
        assert ("(%s is not it)" % confirm in out) if confirm else "is not it" not in out
        assert set(HOSTS) <= set(recap) and all(recap[h] == 0 for h in HOSTS), recap
    assert LAB.container_ids() == before


DELETED_MARIMO = []   # (host, notebooks directory) whose marimo stack and data the test below deleted


def test_teardown_with_the_name_deletes_a_stacks_data_and_lists_it():
    name = [h for h in HOSTS if LAB.var(h, "cslr_marimo_enabled")][0]
    host = LAB.host(name)
    notebooks = LAB.var(name, "cslr_marimo_notebooks_dir", "/srv/cslr-platform/marimo")
    host.check_output("touch %s/cslr-teardown-marker.py", notebooks)
    res, _recap = run_playbook("playbooks/teardown.yml", "--limit", name, "-e", json.dumps(
        {"cslr_teardown_delete_data": True, "cslr_teardown_confirm": PREFIX, "cslr_teardown_stacks": ["marimo"]}))
    assert ok(res)[0], ok(res)[1]
    out = flat(res)
    assert "Deleted on %s: volumes" % name in out and "directories %s." % notebooks in out, out[-3000:]
    assert not host.file(notebooks).exists
    assert host.run("docker inspect %s-marimo", PREFIX).rc != 0
    # The next test's site.yml run brings the stack back (one run instead of one more).
    DELETED_MARIMO.append((name, notebooks))


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
    # site.yml brings back a stack whose data teardown deleted (the test above), with empty data.
    for name, notebooks in DELETED_MARIMO:
        host = LAB.host(name)
        assert host.check_output("docker inspect -f '{{.State.Running}}' %s-marimo", PREFIX) == "true"
        assert host.file(notebooks).is_directory and not host.file(notebooks + "/cslr-teardown-marker.py").exists
    run = run_exists(run_id)
    assert run and {m["key"]: m["value"] for m in run["data"]["metrics"]} == {"accuracy": 0.875}
    # the artifact is still served too
    name = "cslr-artifact-%s.txt" % marker
    assert marker in stacks.mlflow_get(HOSTS[-1], "/get-artifact?path=%s&run_uuid=%s" % (name, run_id))


def test_turning_redis_off_removes_its_stack_keeps_its_data_and_on_again_brings_it_back():
    """cslr_redis_enabled: false on the Redis host and site.yml (no `when:` gate in site.yml: the redis
    role removes its own stack): the container, the project's network and the rendered files go, the
    data volume stays; a rerun changes nothing; turned on again, Redis comes back on the same volume
    with the key written before."""
    name = [h for h in HOSTS if LAB.var(h, "cslr_redis_enabled")][0]
    host = LAB.host(name)
    port, password = LAB.setting(name, "cslr_redis_port"), LAB.var(name, "cslr_redis_password")
    base = LAB.setting(name, "cslr_base_dir")
    peer = [h for h in HOSTS if h != name][0]
    volume = PREFIX + "-redis-data"
    created = host.check_output("docker volume inspect -f '{{.CreatedAt}}' %s", volume)
    auth = ("AUTH %s\r\n" % password).encode()
    out = stacks.peer_python(peer, stacks.REDIS_TALK % (LAB.address(name), port, auth + b"SET cslr-off-on kept\r\n"))
    assert out.split() == ["+OK", "+OK", "+OK"], out
    try:
        for attempt in (1, 2):
            res, recap = run_site("--limit", name, "-e", '{"cslr_redis_enabled": false}')
            assert ok(res)[0], ok(res)[1]
            if attempt == 2:
                assert recap[name] == 0, changed_tasks(res.stdout)
        assert host.run("docker inspect %s-redis", PREFIX).rc != 0
        assert host.check_output("docker network ls -q --filter label=com.docker.compose.project=%s-redis",
                                 PREFIX) == ""
        assert not host.file(base + "/redis").exists
        assert host.check_output("docker volume inspect -f '{{.CreatedAt}}' %s", volume) == created
    finally:
        # Back on: the two roles that changed (its firewall rule, the stack), not a third site.yml run.
        res, _recap = run_roles(["firewall", "redis"], "--limit", name)
        assert ok(res)[0], ok(res)[1]
    out = stacks.peer_python(peer, stacks.REDIS_TALK % (LAB.address(name), port, auth + b"GET cslr-off-on\r\n"))
    assert out.split() == ["+OK", "$4", "kept", "+OK"], out


def test_backup_drop_restore_round_trip(logged_run, tmp_path):
    run_id, _marker = logged_run
    before_on_host = LAB.host(MLFLOW).run("ls %s/mlflow-*.dump", HOST_DIR).stdout.split()
    res, _recap = run_playbook("playbooks/mlflow_backup.yml", "-e", "cslr_mlflow_backup_dir=%s" % tmp_path)
    assert ok(res)[0], ok(res)[1]
    dumps = sorted(p for p in os.listdir(str(tmp_path)) if p.endswith(".dump"))
    assert len(dumps) == 1 and dumps[0].startswith("mlflow-%s-" % MLFLOW), dumps
    assert os.stat(str(tmp_path / dumps[0])).st_size > 0
    # The dump holds every run: its user's alone on the controller.
    assert stat.S_IMODE(os.stat(str(tmp_path / dumps[0])).st_mode) == 0o600
    # drop every table of MLflow's database
    LAB.host(MLFLOW).check_output(
        "docker exec %s-postgres psql -U mlflow -d mlflow -v ON_ERROR_STOP=1 -qc "
        "'DROP SCHEMA public CASCADE; CREATE SCHEMA public;'" % PREFIX)
    assert run_exists(run_id) is None
    res, _recap = run_playbook("playbooks/mlflow_restore.yml", "-e", "cslr_mlflow_restore_file=%s" % (tmp_path / dumps[0]))
    assert ok(res)[0], ok(res)[1]
    run = run_exists(run_id)
    assert run and {m["key"]: m["value"] for m in run["data"]["metrics"]} == {"accuracy": 0.875}
    # no copy left on the host (the controller target)
    assert LAB.host(MLFLOW).run("ls %s/mlflow-*.dump", HOST_DIR).stdout.split() == before_on_host


def test_restore_refuses_a_file_that_is_not_an_mlflow_dump_and_changes_nothing(tmp_path):
    bogus = tmp_path / "mlflow-not-a-dump.dump"
    bogus.write_text("not a pg_dump archive\n")
    before = LAB.container_ids()
    res, recap = run_playbook("playbooks/mlflow_restore.yml", "-e", "cslr_mlflow_restore_file=%s" % bogus,
                              "-e", "cslr_mlflow_backup_dir=%s" % tmp_path)
    out = flat(res)
    assert res.returncode != 0, out[-3000:]
    assert "is not a dump of an MLflow database (pg_restore cannot read it" in out and "Nothing was changed" in out
    assert LAB.container_ids() == before
    assert sorted(os.listdir(str(tmp_path))) == [bogus.name]  # no backup taken either


def test_an_older_dump_wants_confirmation_the_restore_backs_up_first_and_that_backup_brings_the_newer_run_back(
        logged_run, tmp_path):
    older = tmp_path / "older"
    res, _recap = run_playbook("playbooks/mlflow_backup.yml", "-e", "cslr_mlflow_backup_dir=%s" % older)
    assert ok(res)[0], ok(res)[1]
    (dump,) = [older / n for n in os.listdir(str(older))]
    _worker, _marker, newer = stacks.submit_job("cslr-restore-newer")
    assert run_exists(newer["run_id"])
    before = tmp_path / "before"
    restore = ["-e", "cslr_mlflow_restore_file=%s" % dump, "-e", "cslr_mlflow_backup_dir=%s" % before]
    res, recap = run_playbook("playbooks/mlflow_restore.yml", *restore)
    out = flat(res)
    assert res.returncode != 0, out[-3000:]
    assert "has 1 run(s) that the dump %s lacks" % dump in out and "cslr_mlflow_restore_confirm_loss" in out, out[-3000:]
    assert recap.get(MLFLOW) == 0 and run_exists(newer["run_id"])
    res, _recap = run_playbook("playbooks/mlflow_restore.yml", *restore,
                               "-e", json.dumps({"cslr_mlflow_restore_confirm_loss": True}))
    assert ok(res)[0], ok(res)[1]
    (saved,) = [before / n for n in os.listdir(str(before))]
    assert saved.name.endswith("-pre-restore.dump"), saved
    assert "1 newer run(s) dropped); the database before it: %s" % saved in flat(res), flat(res)[-3000:]
    assert run_exists(newer["run_id"]) is None and run_exists(logged_run[0])
    # The backup the restore took holds every run: restoring it loses nothing, no confirmation needed.
    res, _recap = run_playbook("playbooks/mlflow_restore.yml", "-e", "cslr_mlflow_restore_file=%s" % saved,
                               "-e", "cslr_mlflow_backup_dir=%s" % (tmp_path / "again"))
    assert ok(res)[0], ok(res)[1]
    assert run_exists(newer["run_id"]) and run_exists(logged_run[0])


def test_restore_without_a_file_fails_clearly():
    res, _recap = run_playbook("playbooks/mlflow_restore.yml")
    assert res.returncode != 0
    assert "Set cslr_mlflow_restore_file" in res.stdout, res.stdout[-3000:]


def host_dumps():
    out = LAB.host(MLFLOW).run("ls -1 %s", HOST_DIR).stdout.split()
    return sorted(n for n in out if n.startswith("mlflow-%s-" % MLFLOW) and n.endswith(".dump"))


def dump_holds_mlflow(name):
    """`pg_restore --list` of a dump on the MLflow host lists MLflow's tables."""
    listing = LAB.host(MLFLOW).check_output("docker exec -i %s-postgres pg_restore --list < %s/%s", PREFIX, HOST_DIR, name)
    return all(" TABLE public %s " % t in listing for t in ("experiments", "runs", "alembic_version"))


def test_scheduled_backup_writes_valid_dumps_on_the_host_and_keeps_the_newest():
    assert KEEP == 3, "the lab sets cslr_mlflow_backup_keep: 3"
    host = LAB.host(MLFLOW)
    assert host.service("cslr-mlflow-backup.timer").is_enabled and host.service("cslr-mlflow-backup.timer").is_running
    assert host.file(HOST_DIR).mode == 0o700 and host.file(HOST_DIR).user == "root"
    for _ in range(KEEP + 1):
        host.check_output("systemctl start cslr-mlflow-backup.service")
        time.sleep(1.1)  # one dump per second (the name's timestamp)
    dumps = host_dumps()
    assert len(dumps) == KEEP, dumps
    assert dump_holds_mlflow(dumps[-1])
    assert host.file("%s/%s" % (HOST_DIR, dumps[-1])).mode == 0o600


def test_backup_to_the_host_target_keeps_it_there_and_counts_in_the_retention():
    before = host_dumps()
    res, _recap = run_playbook("playbooks/mlflow_backup.yml", "-e", "cslr_mlflow_backup_target=host")
    assert ok(res)[0], ok(res)[1]
    after = host_dumps()
    new = sorted(set(after) - set(before))
    assert len(new) == 1 and "saved to %s/%s (on %s)" % (HOST_DIR, new[0], MLFLOW) in flat(res), flat(res)[-2000:]
    assert len(after) == KEEP and dump_holds_mlflow(new[0])
    dump = LAB.host(MLFLOW).file("%s/%s" % (HOST_DIR, new[0]))
    assert (dump.user, dump.group, dump.mode) == ("root", "root", 0o600), oct(dump.mode)


def test_an_awx_backup_job_refuses_a_home_directory_that_would_be_thrown_away():
    res, _recap = run_playbook("playbooks/mlflow_backup.yml", "-e", "awx_job_id=4242")
    out = flat(res)
    assert res.returncode != 0, out[-3000:]
    assert "This is an AWX/Tower job: cslr_mlflow_backup_dir" in out and "cslr_mlflow_backup_target: host" in out
    res, _recap = run_playbook("playbooks/mlflow_backup.yml", "-e", "awx_job_id=4242", "-e", "cslr_mlflow_backup_target=host")
    assert ok(res)[0], ok(res)[1]
    LAB.host(MLFLOW).check_output("rm -f %s/mlflow-*.dump", HOST_DIR)


def test_a_new_mlflow_image_starts_only_after_a_backup_of_the_database(logged_run, tmp_path):
    old = LAB.var(MLFLOW, "cslr_mlflow_image")
    new = "%s-upgrade" % old  # another tag (one more layer) of the same MLflow: the trigger is the image
    subprocess.run(["docker", "build", "-q", "-t", new, "-"], check=True, capture_output=True, text=True,
                   input="FROM %s\nLABEL org.cslr.test.upgrade=%s\n" % (old, time.time()))
    try:
        # The new tag reaches the host the production way: pushed to the lab registry (only its
        # config and manifest travel, the layers are there) and pulled by the host, which still has
        # the old one on the way back. The air-gapped path (archive) is the PostgreSQL upgrade's and
        # the rolling update's. The push logs in with a Docker config of its own.
        with tempfile.TemporaryDirectory() as docker_config:
            env = dict(os.environ, DOCKER_CONFIG=docker_config)
            subprocess.run(["docker", "login", "--username", LAB.var(MLFLOW, "cslr_images_registry_username"),
                            "--password-stdin", LAB.var(MLFLOW, "cslr_images_registry_url")], env=env, check=True,
                           capture_output=True, text=True, input=LAB.var(MLFLOW, "cslr_images_registry_password"))
            subprocess.run(["docker", "push", new], env=env, check=True, capture_output=True, text=True)
        # There with site.yml; back with the MLflow role alone (the one role that changes).
        for image, previous in ((new, old), (old, new)):
            args = ("--limit", MLFLOW, "-e", "cslr_mlflow_image=%s" % image, "-e", "cslr_mlflow_backup_dir=%s" % tmp_path)
            res, _recap = run_site(*args) if image == new else run_roles(["mlflow"], *args)
            assert ok(res)[0], ok(res)[1]
            out = flat(res)
            assert "MLflow changes from %s to %s" % (previous, image) in out, out[-3000:]
            assert "the database as it was is in %s/mlflow-%s-" % (tmp_path, MLFLOW) in out, out[-3000:]
            assert LAB.host(MLFLOW).check_output("docker inspect -f '{{.Config.Image}}' %s-mlflow", PREFIX) == image
        dumps = sorted(os.listdir(str(tmp_path)))
        assert len(dumps) == 2 and all(d.startswith("mlflow-%s-" % MLFLOW) and d.endswith("-pre-upgrade.dump")
                                       for d in dumps), dumps
        assert run_exists(logged_run[0])
    finally:
        drop_from_controller(new, force=True)
        LAB.host(MLFLOW).run("docker rmi %s", new)


# PostgreSQL major versions: the lab's cslr-lab/postgres:15 (images/postgres on Debian 12) stands in
# for postgres:15; it exists on the controller only and reaches the MLflow host as an archive.
PG = LAB.var(MLFLOW, "cslr_postgres_image")                       # .../cslr-lab/postgres:17
PG15 = PG.rsplit(":", 1)[0] + ":15"
PG_VOLUME = PREFIX + "-mlflow-postgres"


def pg_version():
    """The PG_VERSION of the data in MLflow's database volume, as the running server reads it."""
    return LAB.host(MLFLOW).check_output("docker exec %s-postgres sh -c 'cat \"$PGDATA/PG_VERSION\"'", PREFIX).strip()


def test_a_postgres_image_of_another_major_is_refused_before_any_host_changes():
    before = LAB.container_ids()
    res, recap = run_site("-e", "cslr_postgres_image=%s" % PG15)
    out = flat(res)
    assert res.returncode != 0, out[-3000:]
    # An older major than the data's: a downgrade, refused with no opt-in to offer.
    assert ('%s: cslr_postgres_image = "%s" is PostgreSQL 15, older than the data in the volume %s (PostgreSQL 17): '
            'a downgrade is not supported' % (MLFLOW, PG15, PG_VOLUME)) in out, out[-3000:]
    assert "Nothing was changed" in out and "cslr_postgres_major_upgrade" not in out, out[-3000:]
    assert "PLAY [Prepare hosts]" not in res.stdout, res.stdout[-3000:]
    assert all(v == 0 for v in recap.values()), (recap, changed_tasks(res.stdout))
    assert LAB.container_ids() == before


@pytest.fixture
def pg15_on_the_controller():
    subprocess.run(["docker", "tag", "cslr-lab/postgres:15", PG15], check=True, capture_output=True)
    yield PG15
    drop_from_controller(PG15)


def test_the_opt_in_upgrade_from_15_to_17_keeps_every_run_and_the_old_data(pg15_on_the_controller):
    host = LAB.host(MLFLOW)
    # MLflow on a fresh PostgreSQL 15 (its data deleted first: the earlier tests' runs go), and a run.
    res, _recap = run_playbook("playbooks/teardown.yml", "--limit", MLFLOW, "-e", json.dumps(
        {"cslr_teardown_delete_data": True, "cslr_teardown_confirm": PREFIX, "cslr_teardown_stacks": ["mlflow"],
         "cslr_teardown_backup": False}))
    assert ok(res)[0], ok(res)[1]
    res, _recap = run_site("--limit", MLFLOW, "-e", "cslr_postgres_image=%s" % PG15, "-e", "cslr_images_source=archive")
    assert ok(res)[0], ok(res)[1]
    assert pg_version() == "15"
    _worker, _marker, run = stacks.submit_job("cslr-pg-upgrade")
    assert run_exists(run["run_id"])
    try:
        # Back to the default image (17): refused without the opt-in, upgraded with it.
        before = LAB.container_ids()
        res, _recap = run_site("--limit", MLFLOW)
        out = flat(res)
        assert res.returncode != 0 and "is PostgreSQL 17, but the data in the volume %s is PostgreSQL 15" % PG_VOLUME \
            in out, out[-3000:]
        assert "-e '{\"cslr_postgres_major_upgrade\": true}'" in out.replace('\\"', '"'), out[-3000:]
        assert "PLAY [Prepare hosts]" not in res.stdout, res.stdout[-3000:]   # refused by the preflight
        assert LAB.container_ids() == before and pg_version() == "15"
        res, _recap = run_site("--limit", MLFLOW, "-e", json.dumps({"cslr_postgres_major_upgrade": True}))
        assert ok(res)[0], ok(res)[1]
        out = flat(res)
        assert "%s: PostgreSQL upgraded from 15 to 17: all " % MLFLOW in out, out[-3000:]
        assert "The old data stays in the volume %s-pg15" % PG_VOLUME in out, out[-3000:]
        assert pg_version() == "17"
        assert host.check_output("docker inspect -f '{{.Config.Image}}' %s-postgres", PREFIX) == PG
        assert run_exists(run["run_id"])
        kept = host.check_output("docker run --rm -v %s-pg15:/d --entrypoint cat %s /d/PG_VERSION", PG_VOLUME, PG)
        assert kept.strip() == "15"
        # Settled: the next run changes nothing on the MLflow host.
        res, recap = run_site("--limit", MLFLOW)
        assert ok(res)[0], ok(res)[1]
        assert recap.get(MLFLOW) == 0, (recap, changed_tasks(res.stdout))
    finally:
        host.run("docker volume rm %s-pg15", PG_VOLUME)
        host.run("rm -f %s/mlflow-%s-*-pre-pg17-*.dump", HOST_DIR, MLFLOW)
        host.run("docker rmi %s", PG15)
