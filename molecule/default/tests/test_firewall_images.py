"""Firewall enforcement and image delivery on the simulated hosts.

Firewall: on a cluster host, a plain host process on one of Ray's ports, a host process on a
port nobody opened, and a container publishing a port (Docker's DNAT bypasses ufw's INPUT
rules; the DOCKER-USER block must catch it). A cluster peer reaches the Ray port and the
published port; the outsider (same LAN, not in the inventory's cluster) reaches neither;
nobody reaches the unopened port.
"""
import subprocess
import time

import pytest

from cslr_testinfra import Lab, run_site

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
