"""Whole-playbook properties on the converged scenario: check mode reports no change, and a
--limit run still writes the complete /etc/hosts block (built from inventory, not facts: the run
is also limited to the hosts_file tag, which gathers no other host's facts either)."""
import re

from cslr_testinfra import Lab, changed_tasks, run_site as playbook

LAB = Lab()
HOSTS = LAB.group("cslr_cluster")


def test_check_mode_reports_no_change():
    res, recap = playbook("--check", "--diff")
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert set(HOSTS) <= set(recap), recap
    assert all(v == 0 for v in recap.values()), (recap, changed_tasks(res.stdout), res.stdout[-4000:])


def test_limit_run_writes_every_host():
    target = HOSTS[-1]
    host = LAB.host(target)
    # /etc/hosts is a bind mount: rewrite it in place (sed -i would rename onto it).
    host.check_output("sed '/cslr.platform cluster hosts/,/cslr.platform cluster hosts/d' /etc/hosts > /tmp/h"
                      " && cat /tmp/h > /etc/hosts")
    assert "cslr.platform" not in host.file("/etc/hosts").content_string
    res, recap = playbook("--limit", target, "--tags", "hosts_file")
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert set(recap) - {"localhost"} == {target}, recap
    content = host.file("/etc/hosts").content_string
    for name in HOSTS:
        assert re.search(r"^%s %s\b" % (re.escape(LAB.address(name)), re.escape(name)), content, re.M), content


def test_invalid_value_stops_before_any_host_task():
    host = LAB.host(HOSTS[0])
    before = host.check_output("stat -c %Y /etc/hosts /etc/docker/daemon.json")
    res, recap = playbook("-e", "cslr_cluster_network=10.213.1.0/33", "-e", "cslr_docker_log_max_file=many")
    assert res.returncode != 0
    assert 'cslr_cluster_network = "10.213.1.0/33": Invalid subnet format' in res.stdout, res.stdout[-3000:]
    assert "cslr_docker_log_max_file" in res.stdout, res.stdout[-3000:]
    assert "PLAY [Prepare hosts]" not in res.stdout, res.stdout[-3000:]
    assert all(v == 0 for v in recap.values()), recap
    assert host.check_output("stat -c %Y /etc/hosts /etc/docker/daemon.json") == before
