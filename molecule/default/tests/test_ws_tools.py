"""The counterparts of the original tool's everyday commands, on the converged lab:
`ws status` (playbooks/status.yml: one table of every host, the running Ray version, the nodes
alive against the inventory, a host whose health service is down shown as such), `ws logs`
(playbooks/logs.yml: the last lines of a stack's containers prefixed with the host, secrets
masked, --limit to one host) and `ws test` (playbooks/smoke_test.yml: every check passes on the
lab, and a ray:// client from an address outside the admin networks makes it fail)."""
import json
import re
import time

from cslr_testinfra import Lab, run_playbook

LAB = Lab()
HOSTS = LAB.group("cslr_cluster")
HV = LAB.hostvars[HOSTS[0]]
PREFIX = HV.get("cslr_project_name", "cslr")
MLFLOW = LAB.group("cslr_mlflow_hosts")[0]


def messages(res):
    """The strings of every debug msg list in a run with ANSIBLE_CALLBACK_RESULT_FORMAT=json."""
    return [json.loads(m) for m in re.findall(r'^\s+("(?:[^"\\]|\\.)*"),?$', res.stdout, re.M)]


def run_json(playbook, *args):
    return run_playbook(playbook, *args, ANSIBLE_CALLBACK_RESULT_FORMAT="json")


def running_ray_version(name):
    return LAB.host(name).check_output("docker exec %s-ray python3 -c 'import ray; print(ray.__version__)'" % PREFIX)


def row(lines, name):
    found = [ln.split() for ln in lines if ln.split()[:1] == [name]]
    assert len(found) == 1, (name, lines)
    return found[0]


def test_status_is_one_table_of_every_host():
    res, _ = run_json("playbooks/status.yml")
    assert res.returncode == 0, res.stdout[-4000:]
    lines = messages(res)
    assert any(ln.split()[:3] == ["HOST", "ADDRESS", "HEALTH"] for ln in lines), lines
    head = LAB.host(HOSTS[0]).check_output("cat /var/lib/cslr-platform/ray/elected_head").strip()
    for name in HOSTS:
        cells = row(lines, name)
        assert cells[1:3] == [LAB.address(name), "ok"], cells
        assert cells[3] == ("head" if name == head else "worker"), cells
        assert cells[4] == running_ray_version(name).strip(), cells
        assert "health" in cells and "ray" in cells and ("mlflow" in cells) == (name == MLFLOW), cells
    assert "Ray cluster: head %s (%s), %d node(s) alive of %d expected" % (
        head, LAB.address(head), len(HOSTS), len(HOSTS)) in "\n".join(lines), lines
    assert "no problem found" in lines
    assert any(ln.startswith("MLflow: http://%s:" % LAB.address(MLFLOW)) for ln in lines), lines


def test_status_shows_a_host_whose_health_service_is_down():
    name = HOSTS[-1]
    host = LAB.host(name)
    host.check_output("docker stop %s-health", PREFIX)
    try:
        res, _ = run_json("playbooks/status.yml", "-e", "cslr_health_max_retries=0")
        assert res.returncode == 0, res.stdout[-4000:]  # read-only, never failing on a broken host
        lines = messages(res)
        assert row(lines, name)[2:4] == ["NOT", "ANSWERING"], lines
        assert "1 problem(s)" in lines, lines
    finally:
        host.check_output("docker start %s-health", PREFIX)
    deadline = time.time() + 120
    while time.time() < deadline and "healthy" != host.check_output(
            "docker inspect -f '{{.State.Health.Status}}' %s-health", PREFIX).strip():
        time.sleep(2)


def test_logs_show_a_stacks_lines_prefixed_with_the_host_and_mask_secrets():
    res, _ = run_json("playbooks/logs.yml", "-e", "cslr_logs_service=mlflow", "-e", "{\"cslr_logs_lines\": 20}")
    assert res.returncode == 0, res.stdout[-4000:]
    text = "\n".join(messages(res))
    lines = text.split("\n")
    for container in ("%s-mlflow" % PREFIX, "%s-postgres" % PREFIX):
        mine = [ln for ln in lines if ln.startswith("%s %s | " % (MLFLOW, container))]
        assert 0 < len(mine) <= 20, (container, text[-3000:])
        # docker's timestamps first: the merged stdout+stderr lines are in time order
        stamps = [ln.split(" | ", 1)[1].split()[0] for ln in mine]
        assert stamps == sorted(stamps) and re.match(r"^\d{4}-\d\d-\d\dT", stamps[0]), stamps
    others = [h for h in HOSTS if h != MLFLOW]
    for name in others:
        assert "%s: no container of the stack %s-mlflow on this host" % (name, PREFIX) in lines, text[-3000:]
    assert "%s: follow live with: ssh " % MLFLOW in text
    for secret in (LAB.var(MLFLOW, "cslr_mlflow_admin_password"), LAB.var(MLFLOW, "cslr_postgres_password")):
        assert secret not in res.stdout + res.stderr


def test_logs_of_one_host():
    name = HOSTS[1]
    res, _ = run_json("playbooks/logs.yml", "--limit", name, "-e", "cslr_logs_service=ray", "-e", "{\"cslr_logs_lines\": 3}")
    assert res.returncode == 0, res.stdout[-4000:]
    lines = [ln for ln in "\n".join(messages(res)).split("\n") if " | " in ln]
    assert lines and all(ln.startswith("%s %s-ray | " % (name, PREFIX)) for ln in lines), lines
    assert len(lines) <= 3


def test_logs_refuse_an_unknown_stack_before_any_host():
    res, _ = run_json("playbooks/logs.yml", "-e", "cslr_logs_service=postgres")
    assert res.returncode != 0
    assert "cslr_logs_service" in res.stdout and "postgres" in res.stdout, res.stdout[-3000:]


def test_smoke_test_passes_on_the_lab():
    res, _ = run_json("playbooks/smoke_test.yml")
    lines = messages(res)
    assert res.returncode == 0, "\n".join(lines) + res.stdout[-3000:]
    checks = {ln.split("  ")[0]: ln for ln in lines if re.search(r"  (PASS|FAIL|n/a )  ", ln)}
    for name in ("ray nodes alive", "task on every node", "resources against the inventory",
                 "MLflow run from a worker", "ray:// client from a workstation", "etcd round trip"):
        assert "  PASS  " in checks[name], (name, checks)
    assert "  n/a   no GPU host" in checks["GPU task on every GPU node"], checks
    assert "%d of %d expected" % (len(HOSTS), len(HOSTS)) in checks["ray nodes alive"]
    assert "client at 10.213.1.230" in checks["ray:// client from a workstation"] and "Ray 2." in checks["ray:// client from a workstation"]
    assert "all checks passed" in lines
    assert LAB.ray_token() not in res.stdout + res.stderr


def test_smoke_test_fails_for_a_client_outside_the_admin_networks():
    # 10.213.1.199: on the LAN, not a cluster host, not in cslr_admin_networks: the firewall
    # refuses its ray:// session, the check fails and so does the run.
    res, _ = run_json("playbooks/smoke_test.yml", "-e",
                      json.dumps({"cslr_smoke_test_client_docker_args": ["--network", "cslr-mol", "--ip", "10.213.1.199"]}))
    lines = messages(res)
    assert res.returncode != 0, "\n".join(lines)
    assert any(ln.startswith("ray:// client from a workstation") and "  FAIL  " in ln for ln in lines), lines
    assert "1 check(s) failed" in lines
    assert "Smoke test failed: ray:// client from a workstation" in res.stdout
