"""Firewall enforcement and image delivery on the simulated hosts.

Firewall: on a cluster host, a plain host process on one of Ray's ports, a host process on a
port nobody opened, and a container publishing a port (Docker's DNAT bypasses ufw's INPUT
rules; the DOCKER-USER block must catch it). A cluster peer reaches the Ray port and the
published port; the outsider (same LAN, not in the inventory's cluster) reaches neither;
nobody reaches the unopened port. The side door: the outsider adds a route to the MLflow
container's own address via the MLflow host and still reaches nothing (Docker accepts such
routed packets for a published port; the DOCKER-USER block drops them, and its counters show
the packets arrived, so the test cannot pass for want of a route). A failed run still leaves the
new block loaded.
"""
import subprocess
import time

import pytest

from cslr_testinfra import Lab, changed_tasks, run_playbook, run_site

LAB = Lab()
HOSTS = LAB.group("cslr_cluster")
OUTSIDER = LAB.group("lab_outsiders")[0]
TARGET = HOSTS[-1]
PEER = HOSTS[0]
HV = LAB.hostvars[TARGET]
RAY_PORT = HV.get("cslr_ray_gcs_port", 6379)
CLOSED_PORT = 18081
PUBLISHED_PORT = 18080

@pytest.fixture(scope="module")
def listeners():
    host = LAB.host(TARGET)
    image = HV["cslr_health_image"]
    host.run("docker rm -f cslr-fwtest")
    for port in (RAY_PORT, CLOSED_PORT):
        host.run("systemctl stop cslr-fwtest-%s", str(port))
        host.check_output("systemd-run --unit=cslr-fwtest-%s python3 -m http.server %s", str(port), str(port))
    host.check_output("docker run -d --name cslr-fwtest -p %s:8000 %s python3 -m http.server 8000",
                      str(PUBLISHED_PORT), image)
    deadline = time.time() + 20
    while time.time() < deadline:
        if all(LAB.reachable(TARGET, "127.0.0.1", p) for p in (RAY_PORT, CLOSED_PORT, PUBLISHED_PORT)):
            break
        time.sleep(0.5)
    else:
        pytest.fail("test listeners did not come up on %s:\n%s" % (
            TARGET, host.run("docker logs cslr-fwtest; ss -ltnp").stdout))
    yield LAB.address(TARGET)
    host.run("docker rm -f cslr-fwtest")
    for port in (RAY_PORT, CLOSED_PORT):
        host.run("systemctl stop cslr-fwtest-%s", str(port))


def test_ufw_active_with_default_deny():
    out = LAB.host(TARGET).check_output("ufw status verbose")
    assert "Status: active" in out and "deny (incoming)" in out, out


def test_cluster_peer_reaches_ray_port(listeners):
    assert LAB.reachable(PEER, listeners, RAY_PORT)


def test_outsider_cannot_reach_ray_port(listeners):
    assert not LAB.reachable(OUTSIDER, listeners, RAY_PORT)


def test_cluster_peer_reaches_published_port(listeners):
    assert LAB.reachable(PEER, listeners, PUBLISHED_PORT)


def test_outsider_cannot_reach_published_port(listeners):
    # Without the DOCKER-USER block this connects: Docker's DNAT skips ufw's INPUT rules.
    assert not LAB.reachable(OUTSIDER, listeners, PUBLISHED_PORT)


def test_nobody_reaches_an_unopened_port(listeners):
    assert not LAB.reachable(PEER, listeners, CLOSED_PORT)
    assert not LAB.reachable(OUTSIDER, listeners, CLOSED_PORT)


MLFLOW_HOST = LAB.group("cslr_mlflow_hosts")[0]


def _docker_user_drops(host):
    """Packets dropped so far by the block's rules for traffic headed into a Docker bridge."""
    out = host.check_output("iptables -w -L DOCKER-USER -v -x -n")
    return sum(int(ln.split()[0]) for ln in out.splitlines()[2:]
               if "DROP" in ln.split()[2:3] and ("docker0" in ln or "br-+" in ln))


def test_outsider_routed_to_a_container_address_reaches_nothing():
    host = LAB.host(MLFLOW_HOST)
    name = LAB.var(MLFLOW_HOST, "cslr_project_name", "cslr-lab") + "-mlflow"
    container_ip = host.check_output(
        "docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' %s", name).split()[0]
    outsider = LAB.host(OUTSIDER)
    outsider.run("ip route del %s/32", container_ip)
    before = _docker_user_drops(host)
    outsider.check_output("ip route add %s/32 via %s", container_ip, LAB.address(MLFLOW_HOST))
    try:
        assert not LAB.reachable(OUTSIDER, container_ip, 5000), "routed straight to MLflow's container"
        # The packets did arrive and were dropped by the block (not lost for want of a route).
        assert _docker_user_drops(host) > before, host.check_output("iptables -w -L DOCKER-USER -v -x -n")
        # The published port stays closed to the outsider too.
        assert not LAB.reachable(OUTSIDER, LAB.address(MLFLOW_HOST), LAB.var(MLFLOW_HOST, "cslr_mlflow_port", 5000))
    finally:
        outsider.run("ip route del %s/32", container_ip)
    # A cluster peer still reaches MLflow through its published port.
    peer = [h for h in HOSTS if h != MLFLOW_HOST][0]
    assert LAB.reachable(peer, LAB.address(MLFLOW_HOST), LAB.var(MLFLOW_HOST, "cslr_mlflow_port", 5000))


def test_docker_user_block_on_both_families():
    host = LAB.host(TARGET)
    for path, tool in (("/etc/ufw/after.rules", "iptables"), ("/etc/ufw/after6.rules", "ip6tables")):
        assert "BEGIN cslr.platform DOCKER-USER" in host.check_output("cat %s", path), path
        rules = host.check_output("%s -w -S DOCKER-USER", tool)
        assert "-o br-+ -j DROP" in rules and "--ctstate DNAT -j DROP" in rules, (tool, rules)


def test_a_failed_run_still_loads_the_new_block():
    # The block is loaded by the task after it, not by an end-of-play handler that a failed host
    # never runs: a run that fails later in the play (here: the images role cannot pull an image
    # the registry does not have) leaves the new rules live.
    host = LAB.host(TARGET)
    marker = "10.213.1.222/32"
    missing = LAB.var(TARGET, "cslr_health_image").rsplit(":", 1)[0] + ":no-such-tag"
    try:
        res, _ = run_site("--limit", TARGET, "--tags", "firewall,images",
                          "-e", '{"cslr_admin_networks": ["%s"], "cslr_health_image": "%s"}' % (marker, missing))
        assert res.returncode != 0, "the run with a missing image did not fail:\n" + res.stdout[-3000:]
        assert "-s %s" % marker in host.check_output("iptables -w -S DOCKER-USER"), res.stdout[-3000:]
    finally:
        res, _ = run_site("--limit", TARGET, "--tags", "firewall")
        assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "-s %s" % marker not in host.check_output("iptables -w -S DOCKER-USER")


def _controller_id(image):
    return subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", image],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.parametrize("name", HOSTS)
def test_images_present_with_controller_ids(name):
    hv = LAB.hostvars[name]
    images = [hv["cslr_ray_image"], hv["cslr_health_image"]]
    if name in LAB.group("cslr_mlflow_hosts"):
        images += [hv["cslr_mlflow_image"], hv["cslr_postgres_image"]]
    host = LAB.host(name)
    for image in images:
        got = host.check_output("docker image inspect --format '{{.Id}}' %s", image)
        assert got == _controller_id(image), image
    # Archives are removed once loaded.
    assert host.run("ls /var/cache/cslr-platform/images/*.tar").rc != 0


def test_rules_for_addresses_no_longer_in_the_cluster_are_removed():
    # As if a host had left the inventory: its address keeps no access to Ray's ports.
    host = LAB.host(TARGET)
    rules = host.check_output("ufw show added")
    ray_rule = [ln for ln in rules.splitlines() if "comment 'cslr ray'" in ln][0]
    stale = ray_rule.replace("from %s " % LAB.address(PEER), "from 10.213.1.99 ")
    assert stale != ray_rule, ray_rule
    host.check_output(stale)
    assert "10.213.1.99" in host.check_output("ufw show added")
    res, recap = run_site("--limit", TARGET, "--tags", "firewall")
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    after = host.check_output("ufw show added")
    assert "10.213.1.99" not in after, after
    assert ray_rule in after, after


def test_prune_images_removes_only_the_platforms_unneeded_tags():
    """playbooks/prune_images.yml: an old tag of a platform repository goes (check mode lists it
    first and removes nothing); the tags the stacks need and another user's image stay; no
    container is touched; a rerun changes nothing."""
    host = LAB.host(TARGET)
    ray_image = HV["cslr_ray_image"]
    leftover = ray_image.rsplit(":", 1)[0] + ":0.0.1-leftover"
    foreign = "lab-user/own-image:1"
    host.check_output("docker tag %s %s && docker tag %s %s", ray_image, leftover, ray_image, foreign)
    before = host.check_output("docker ps -q --no-trunc")
    try:
        res, _recap = run_playbook("playbooks/prune_images.yml", "--limit", TARGET, "--check")
        assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
        assert "would remove %s" % leftover in res.stdout, res.stdout[-3000:]
        assert host.run("docker image inspect %s", leftover).rc == 0
        res, recap = run_playbook("playbooks/prune_images.yml", "--limit", TARGET)
        assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
        assert host.run("docker image inspect %s", leftover).rc != 0
        for kept in (ray_image, HV["cslr_health_image"], foreign):
            assert host.run("docker image inspect %s", kept).rc == 0, kept
        assert host.check_output("docker ps -q --no-trunc") == before
        res, recap = run_playbook("playbooks/prune_images.yml", "--limit", TARGET)
        assert res.returncode == 0 and recap[TARGET] == 0, changed_tasks(res.stdout)
    finally:
        host.run("docker rmi %s %s", leftover, foreign)
