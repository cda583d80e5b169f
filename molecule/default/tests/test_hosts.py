"""Host preparation on every simulated host: /etc/hosts block, Docker engine + Compose v2,
daemon.json merged (a user's pre-existing key survives), hosts resolve each other."""
import json

import pytest

from cslr_testinfra import Lab

LAB = Lab()
HOSTS = LAB.group("cslr_cluster")
BEGIN = "# BEGIN cslr.platform cluster hosts"
END = "# END cslr.platform cluster hosts"


def test_inventory_has_hosts():
    assert len(HOSTS) >= 2, HOSTS


@pytest.mark.parametrize("name", HOSTS)
def test_hosts_block_lists_every_cluster_host(name):
    content = LAB.host(name).file("/etc/hosts").content_string
    assert content.count(BEGIN) == 1 and content.count(END) == 1, content
    block = content.split(BEGIN, 1)[1].split(END, 1)[0]
    lines = [ln.split() for ln in block.splitlines()[1:] if ln.strip()]
    assert {ln[0]: ln[1] for ln in lines} == {LAB.address(h): h for h in HOSTS}, content
    mlflow = LAB.group("cslr_mlflow_hosts")[0]
    assert any(ln[0] == LAB.address(mlflow) and "cslr-mlflow" in ln[1:] for ln in lines), content


@pytest.mark.parametrize("name", HOSTS)
def test_peers_resolve_to_cluster_addresses(name):
    host = LAB.host(name)
    for peer in HOSTS:
        out = host.check_output("getent hosts %s", peer)
        assert out.split()[0] == LAB.address(peer), out


@pytest.mark.parametrize("name", HOSTS)
def test_docker_engine_and_compose_v2(name):
    host = LAB.host(name)
    svc = host.service("docker")
    assert svc.is_running and svc.is_enabled
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LiveRestoreEnabled"] is True
    assert info["LoggingDriver"] == "json-file"
    assert host.check_output("docker compose version --short").startswith("2.")
    assert host.socket("unix:///run/docker.sock").is_listening


@pytest.mark.parametrize("name", HOSTS)
def test_daemon_json_merged(name):
    f = LAB.host(name).file("/etc/docker/daemon.json")
    assert f.user == "root" and f.mode == 0o644
    cfg = json.loads(f.content_string)
    assert cfg["live-restore"] is True
    assert cfg["log-opts"]["max-size"] and cfg["log-opts"]["max-file"]
    assert cfg["default-address-pools"], cfg


def test_user_daemon_json_key_survives():
    cfg = json.loads(LAB.host(HOSTS[1]).file("/etc/docker/daemon.json").content_string)
    assert cfg["default-shm-size"] == "128M", cfg
    assert cfg["log-opts"]["labels"] == "user-label", cfg
    assert cfg["log-opts"]["max-file"] == "3", cfg
