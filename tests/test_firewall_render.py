"""The firewall role's rules as Ansible renders them (its vars/main.yml on the controller, no host):
each host's own rules and those a host of a --limit run adds on a peer outside it, from the
services catalog's plan of THAT host. The molecule scenario checks real ufw rules on the lab; this
covers the combinations the lab does not have (a Ray-less host, health off, Grafana off, DCGM on a
GPU host, a fabric address)."""
import json
import os

import pytest
import yaml

from cslr_render import ROLES, local_host, run_play

RAY = "6379,6800,6801,6804,6802,52365,6803,11000:11999"
TRAINING = "29500,29400,40000:49999"
CLUSTER = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
HOSTS = {
    # MLflow host; a fabric address, but not a training host (no GPU, cslr_training_enabled null)
    "h1": {"cslr_cluster_address": "10.0.0.1", "cslr_training_address": "192.168.5.1"},
    # GPU host with Redis: training by default, DCGM exporter
    "h2": {"cslr_cluster_address": "10.0.0.2", "cslr_redis_enabled": True},
    # Ray off, Marimo on, training asked for
    "h3": {"cslr_cluster_address": "10.0.0.3", "cslr_marimo_enabled": True, "cslr_ray_enabled": False,
           "cslr_training_enabled": True},
    # monitoring and rendezvous host, health and Grafana off
    "h4": {"cslr_cluster_address": "10.0.0.4", "cslr_health_enabled": False, "cslr_grafana_enabled": False},
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fw")
    defaults = yaml.safe_load(open(os.path.join(ROLES, "config", "defaults", "main.yml")))
    inventory = {"all": {
        "vars": dict(defaults, cslr_admin_networks=["192.0.2.0/24"], cslr_monitoring_enabled=True,
                     cslr_rendezvous_enabled=True, cslr_firewall_ssh_sources=["10.0.0.0/24"]),
        "children": {"cslr_cluster": {"hosts": {h: local_host(**v) for h, v in HOSTS.items()}},
                     "cslr_mlflow_hosts": {"hosts": {"h1": {}}}, "cslr_gpu_hosts": {"hosts": {"h2": {}}},
                     "cslr_monitoring_hosts": {"hosts": {"h4": {}}}, "cslr_rendezvous_hosts": {"hosts": {"h4": {}}}}}}
    tasks = [{"ansible.builtin.copy": {"dest": str(tmp / "{{ inventory_hostname }}.json"), "mode": "0600",
                                       "content": "{{ _firewall_rules | to_json }}"}}]
    for peer in HOSTS:
        # as peers.yml does: the role's vars with _firewall_host set to the peer
        tasks.append({"ansible.builtin.copy": {"dest": str(tmp / ("{{ inventory_hostname }}-on-%s.json" % peer)),
                                               "mode": "0600", "content": "{{ _firewall_peer_rules | to_json }}"},
                      "vars": {"_firewall_host": peer}})
    play = [{"hosts": "cslr_cluster", "gather_facts": False,
             "vars_files": [os.path.join(ROLES, "firewall", "vars", "main.yml")], "tasks": tasks}]
    run_play(tmp, inventory, play)
    return {f.name[:-5]: json.loads(f.read_text()) for f in tmp.glob("h*.json")}


def rules(found):
    """{comment: (port spec, [sources])} of a rule list (each comment's port spec is the same)."""
    out = {}
    for rule in found:
        port, sources = out.setdefault(rule["comment"], (rule["port"], []))
        assert port == rule["port"], rule
        sources.append(rule["from_ip"])
    return out


def test_a_gpu_host_with_redis(rendered):
    assert rules(rendered["h2"]) == {
        "cslr ssh": ("22", ["10.0.0.0/24"]),
        "cslr ray": (RAY, CLUSTER),
        "cslr services": ("8265,10001,8888,6381", CLUSTER + ["192.0.2.0/24"]),
        "cslr training": (TRAINING, CLUSTER + ["192.168.5.1"]),   # fabric addresses of every host
        "cslr monitoring": ("9100,9400", ["10.0.0.4"]),
    }


def test_the_mlflow_host_and_a_host_without_ray(rendered):
    assert rules(rendered["h1"])["cslr services"] == ("8265,10001,8888,5000", CLUSTER + ["192.0.2.0/24"])
    assert "cslr training" not in rules(rendered["h1"])
    got = rules(rendered["h3"])
    assert "cslr ray" not in got
    assert got["cslr services"] == ("8888,8080", CLUSTER + ["192.0.2.0/24"])
    assert got["cslr training"][0] == TRAINING


def test_the_monitoring_and_rendezvous_host(rendered):
    got = rules(rendered["h4"])
    assert got["cslr services"] == ("8265,10001,9090", CLUSTER + ["192.0.2.0/24"])
    assert got["cslr rendezvous"] == ("2379,2380", CLUSTER)
    assert got["cslr monitoring"] == ("9100", ["10.0.0.4"])


def test_what_a_host_of_a_limit_run_adds_on_a_peer(rendered):
    # h1 on h2: its own address on each of h2's rules (its fabric address too on training's)
    assert rules(rendered["h1-on-h2"]) == {
        "cslr ray": (RAY, ["10.0.0.1"]),
        "cslr services": ("8265,10001,8888,6381", ["10.0.0.1"]),
        "cslr training": (TRAINING, ["10.0.0.1", "192.168.5.1"]),
    }
    # the monitoring host adds itself on the exporters' rule too; no SSH rule on a peer
    assert rules(rendered["h4-on-h2"])["cslr monitoring"] == ("9100,9400", ["10.0.0.4"])
    assert "cslr ssh" not in rules(rendered["h4-on-h2"])
    # a peer without Ray gets no Ray rule
    assert "cslr ray" not in rules(rendered["h2-on-h3"])
