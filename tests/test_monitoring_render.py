"""The monitoring stack's files as Ansible renders them (roles/monitoring on the controller, no
host): the parts the lab cannot run (Grafana, not packaged by Debian; the DCGM exporter, no GPU)
are checked here: Grafana's provisioning parses and points at Prometheus with the login from the
environment, the compose files with Grafana and with the DCGM exporter parse with the expected
services and options (on a host the compose role checks each with `docker compose config` before
writing it), and Prometheus's configuration lists the inventory's hosts. The lab runs the rest
(molecule/default/tests/test_monitoring.py)."""
import json
import os

import pytest
import yaml

from cslr_render import ROLES, local_host, run_play

TEMPLATES = os.path.join(ROLES, "monitoring", "templates")
NAMES = ("exporters.compose.yaml", "monitoring.compose.yaml", "prometheus.yml", "client.yml",
         "grafana-datasources.yml", "grafana-dashboards.yml")


def render(tmp_path, host="node-2", **extra):
    """Every template of the role for `host` of a 3-host inventory (node-3 a GPU host, node-2 the
    monitoring host) -> {name: text}."""
    extra = dict({"cslr_monitoring_enabled": True, "cslr_monitoring_password": "a-long-monitoring-password",
                  "__monitoring_config_hash": "c0ffee", "__monitoring_grafana_hash": "beef"}, **extra)
    # The platform's defaults as the role sees them, less the per-host address (include_vars would
    # put its null above the inventory's value; role defaults sit below it).
    with open(os.path.join(ROLES, "config", "defaults", "main.yml")) as handle:
        defaults = yaml.safe_load(handle)
    defaults.pop("cslr_cluster_address")
    (tmp_path / "defaults.json").write_text(json.dumps(defaults))
    tasks = [{"ansible.builtin.include_vars": str(tmp_path / "defaults.json")},
             {"ansible.builtin.include_vars": os.path.join(ROLES, "monitoring", "vars", "main.yml")}]
    for name in NAMES:
        tasks.append({"ansible.builtin.copy": {
            "dest": str(tmp_path / name), "mode": "0600",
            "content": "{{ lookup('ansible.builtin.template', '%s') }}" % os.path.join(TEMPLATES, name + ".j2")}})
    play = [{"hosts": host, "gather_facts": False, "tasks": tasks}]
    hosts = dict(("node-%d" % i, local_host(cslr_cluster_address="10.213.1.1%d" % i)) for i in (1, 2, 3))
    inventory = {"all": {"children": {
        "cslr_cluster": {"hosts": hosts},
        "cslr_gpu_hosts": {"hosts": {"node-3": {}}},
        "cslr_monitoring_hosts": {"hosts": {"node-2": {}}}}}}
    run_play(tmp_path, inventory, play, extra)
    return dict((name, (tmp_path / name).read_text()) for name in NAMES)


def compose_services(text):
    """The services of a rendered compose file. (`docker compose config` runs on the hosts, where the
    compose role validates every file before writing it; this machine may lack the plugin.)"""
    data = yaml.safe_load(text)
    assert set(data) <= {"services", "volumes"}, sorted(data)
    for name, service in data["services"].items():
        assert service["container_name"].startswith("cslr-") and service["restart"] == "unless-stopped", name
        assert service["image"].count(":") >= 1, name
    return data["services"]


def test_grafana_is_provisioned_with_prometheus_and_the_login_from_its_environment(tmp_path):
    out = render(tmp_path)
    sources = yaml.safe_load(out["grafana-datasources.yml"])["datasources"]
    assert sources == [{"name": "Prometheus", "uid": "prometheus", "type": "prometheus", "access": "proxy",
                        "url": "http://10.213.1.12:9090", "isDefault": True, "editable": False, "basicAuth": True,
                        "basicAuthUser": "cslr",
                        "secureJsonData": {"basicAuthPassword": "$CSLR_PROMETHEUS_PASSWORD"}}]
    assert "a-long-monitoring-password" not in "".join(out.values())
    provider = yaml.safe_load(out["grafana-dashboards.yml"])["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/ray" and provider["folder"] == "Ray"


def test_monitoring_compose_with_grafana(tmp_path):
    out = render(tmp_path)
    services = compose_services(out["monitoring.compose.yaml"])
    assert sorted(services) == ["grafana", "prometheus"]
    grafana = services["grafana"]
    assert grafana["network_mode"] == "host" and grafana["depends_on"]["prometheus"]["condition"] == "service_healthy"
    assert grafana["env_file"] == ["grafana.env"] and grafana["user"] == "472"
    assert "/var/lib/grafana" in [v.split(":")[1] for v in grafana["volumes"]]
    assert grafana["environment"]["GF_SERVER_HTTP_ADDR"] == "10.213.1.12"
    assert grafana["environment"]["GF_SECURITY_ALLOW_EMBEDDING"] == "true"
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    prometheus = services["prometheus"]
    assert "--web.config.file=/etc/prometheus/web.yml" in prometheus["command"]
    assert "--web.listen-address=10.213.1.12:9090" in prometheus["command"]
    assert prometheus["user"] == "65534:65534"


def test_without_grafana_only_prometheus_and_a_size_limit_in_its_unit(tmp_path):
    out = render(tmp_path, cslr_grafana_enabled=False, cslr_prometheus_retention_size="20g")
    services = compose_services(out["monitoring.compose.yaml"])
    assert sorted(services) == ["prometheus"]
    assert "--storage.tsdb.retention.size=20GB" in services["prometheus"]["command"]


@pytest.mark.parametrize("host, services", [("node-1", ["node-exporter"]), ("node-3", ["dcgm-exporter", "node-exporter"])])
def test_exporters_compose_with_dcgm_on_gpu_hosts(tmp_path, host, services):
    out = render(tmp_path, host=host)
    rendered = compose_services(out["exporters.compose.yaml"])
    assert sorted(rendered) == services
    if host == "node-3":
        dcgm = rendered["dcgm-exporter"]
        assert dcgm["command"] == ["-a", "10.213.1.13:9400"]
        assert dcgm["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert "--web.listen-address=%s:9100" % ("10.213.1.11" if host == "node-1" else "10.213.1.13") \
        in rendered["node-exporter"]["command"]


def test_prometheus_scrapes_the_inventorys_hosts(tmp_path):
    config = yaml.safe_load(render(tmp_path)["prometheus.yml"])
    assert config["global"]["scrape_interval"] == "15s" and config["rule_files"] == ["/etc/prometheus/rules.yml"]
    jobs = dict((j["job_name"], [c["labels"]["host"] for c in j["static_configs"]]) for j in config["scrape_configs"])
    assert jobs == {"node": ["node-1", "node-2", "node-3"], "ray": ["node-1", "node-2", "node-3"],
                    "cslr-health": ["node-1", "node-2", "node-3"], "dcgm": ["node-3"], "prometheus": ["node-2"]}
    # (no etcd job: the rendezvous stack is off by default)
