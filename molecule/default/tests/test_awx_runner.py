"""site.yml run the way AWX runs it: through ansible-runner (AWX's engine), by FQCN
(`cslr.platform.site`) from the collection built and installed into a fresh collections path,
against the converged scenario hosts. Per-host results are read from the job events, as AWX
reads them: every host ok, nothing changed (the scenario is converged), nothing failed, and
every container kept (the same IDs before and after: a settled rerun recreates nothing).
At -vvv: no secret of the scenario's vault appears in the output, the job events or any file
runner wrote (AWX keeps all three).
Runs first in verify (file name), while the cluster is as the converge left it."""
import configparser
import os
import subprocess
import sys

import ansible_runner
import yaml

from cslr_testinfra import ROOT, Lab, run_limit

COL = os.path.join(ROOT, "collections", "ansible_collections", "cslr", "platform")
BIN = os.path.dirname(sys.executable)
LAB = Lab()


def project_with_installed_collection(base):
    """An AWX-like project dir: ansible.cfg as the checkout's, but collections only from the tarball."""
    version = yaml.safe_load(open(os.path.join(COL, "galaxy.yml")))["version"]
    colpath = os.path.join(base, "collections")
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(os.path.join(ROOT, "ansible.cfg"))
    cfg["defaults"]["collections_path"] = colpath
    cfg.remove_option("defaults", "inventory")
    with open(os.path.join(base, "ansible.cfg"), "w") as handle:
        cfg.write(handle)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(base, "ansible.cfg"))
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    for argv in (["collection", "build", COL, "--output-path", base, "--force"],
                 ["collection", "install", os.path.join(base, "cslr-platform-%s.tar.gz" % version), "-p", colpath,
                  "--no-deps", "--force"]):
        res = subprocess.run([os.path.join(BIN, "ansible-galaxy")] + argv, capture_output=True, text=True, cwd=base,
                             env=env)
        assert res.returncode == 0, res.stdout + res.stderr
    return colpath


def vault_secrets():
    """{name: value} of every secret in the scenario's vault (the values the output must not show)."""
    vault = os.path.join(ROOT, "molecule", "default", "inventory", "group_vars", "all", "vault.yml")
    res = subprocess.run([os.path.join(BIN, "ansible-vault"), "view", vault], capture_output=True, text=True,
                         cwd=ROOT, env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg")))
    assert res.returncode == 0, res.stderr
    secrets = {k: str(v) for k, v in yaml.safe_load(res.stdout).items()}
    assert len(secrets) >= 6 and all(len(v) >= 8 for v in secrets.values()), sorted(secrets)
    return secrets


def secrets_in_tree(base, secrets):
    """(file, secret name) for every file under base that holds a secret value."""
    hits = []
    for root, _, files in os.walk(base):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                data = handle.read()
            hits += [(os.path.relpath(path, base), k) for k, v in secrets.items() if v.encode() in data]
    return hits


def test_site_through_ansible_runner_by_fqcn(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "runner").mkdir()
    colpath = project_with_installed_collection(str(project))
    before = LAB.container_ids()
    envvars = {"ANSIBLE_CONFIG": str(project / "ansible.cfg"), "ANSIBLE_COLLECTIONS_PATH": colpath,
               "ANSIBLE_NOCOLOR": "1", "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
    runner = ansible_runner.run(
        private_data_dir=str(tmp_path / "runner"), project_dir=str(project), playbook="cslr.platform.site",
        inventory=os.path.abspath(os.environ["CSLR_TEST_INVENTORY"]), envvars=envvars, quiet=True,
        verbosity=3, timeout=run_limit())   # ansible-runner kills it on expiry
    events = list(runner.events)
    stdout = runner.stdout.read()
    assert runner.status == "successful" and runner.rc == 0, stdout[-6000:]

    # No secret at -vvv: not in the output, the events, nor any artifact runner kept.
    secrets = vault_secrets()
    secrets["generated Ray token"] = LAB.ray_token()
    assert "ESTABLISH SSH CONNECTION" in stdout, "the run was not at -vvv"
    shown = sorted(k for k, v in secrets.items() if v in stdout)
    assert not shown, "secrets printed at -vvv: %s" % shown
    in_events = sorted({k for e in events for k, v in secrets.items() if v in str(e)})
    assert not in_events, "secrets in the job events: %s" % in_events
    assert not secrets_in_tree(str(tmp_path / "runner"), secrets), secrets_in_tree(str(tmp_path / "runner"), secrets)

    # The collection the run used is the installed copy, not the checkout's.
    starts = [e for e in events if e["event"] == "playbook_on_start"]
    assert starts and starts[0]["event_data"]["playbook"] == os.path.join(colpath, "ansible_collections", "cslr",
                                                                         "platform", "playbooks", "site.yml")
    task_paths = {e["event_data"].get("task_path", "") for e in events if e["event"] == "playbook_on_task_start"}
    role_paths = [p for p in task_paths if "/roles/" in p]
    assert role_paths and all(p.startswith(colpath) for p in role_paths), sorted(task_paths)[:5]

    # Per-host results from the job events, as AWX shows them.
    hosts = sorted(LAB.group("cslr_cluster"))
    stats = [e for e in events if e["event"] == "playbook_on_stats"][-1]["event_data"]
    assert sorted(h for h in stats["ok"] if h in hosts) == hosts, stats
    assert not stats["failures"] and not stats["dark"], stats
    assert not {h: n for h, n in stats["changed"].items() if n}, "a converged platform must not change: %s" % stats
    assert LAB.container_ids() == before, "a settled rerun recreated a container"
    # Every stack was found settled (cslr.platform.project_files's compose_project check): no `docker compose
    # up --wait` ran (a settled stack does not even include it); the message names the stacks that were not,
    # with the check's reason.
    ups = [(e["event"], e["event_data"]["host"], e["event_data"]["task"]) for e in events
           if e["event"] in ("runner_on_ok", "runner_on_skipped")
           and e["event_data"].get("task", "").startswith("Start and wait until healthy, stack")]
    states = [(e["event_data"]["host"], e["event_data"]["res"].get("compose_project"),
               e["event_data"]["res"].get("compose_state")) for e in events if e["event"] == "runner_on_ok"
              and e["event_data"].get("task", "").startswith("Write the compose file, secrets and mounted files")]
    assert len(states) >= len(hosts), ("fewer stacks rendered than hosts", states)
    ran = sorted((host, task) for event, host, task in ups if event != "runner_on_skipped")
    assert not ran, (ran, [s for s in states if s[2] != "every service runs as its compose file wants"])
    assert all(s[2] == "every service runs as its compose file wants" for s in states), states
    failed = [e for e in events if e["event"] == "runner_on_failed" and not e["event_data"].get("ignore_errors")]
    assert not failed, [(e["event_data"]["host"], e["event_data"]["task"]) for e in failed]
    # Every host reported the Ray node task and the health stack of its own (per-host events).
    for task in ("Create the Ray log directory (root-only) and record the election for the entrypoint and the "
                 "health service",):
        seen = {e["event_data"]["host"] for e in events
                if e["event"] == "runner_on_ok" and e["event_data"].get("task") == task}
        assert seen == set(hosts), (task, seen)
    elected = [e for e in events if e["event"] == "runner_on_ok"
               and e["event_data"].get("task") == "Elect the Ray head"]
    assert len(elected) == 1 and elected[0]["event_data"]["res"]["action"] == "keep", elected
