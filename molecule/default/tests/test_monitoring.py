"""The monitoring stack (cslr_monitoring_enabled) on the converged lab: Prometheus on the host of
cslr_monitoring_hosts answers only with its login (generated once on the controller, 0600);
it scrapes every Ray node, node exporter, health service and etcd member, all `up`; its alert
rules pass `promtool check rules` and are loaded; a counter a Ray task increments reaches
Prometheus; the head's Ray dashboard reaches Prometheus with the login (its Metrics tab); the
exporter ports accept the monitoring host only (not another cluster host, not the outsider);
turned off on a host, the stacks go and the data volume stays. Ports and names come from the lab's
inventory."""
import json
import os
import stat
import time
import urllib.parse
import uuid

import pytest

from cslr_testinfra import ROOT, Lab, changed_tasks, run_roles

LAB = Lab()
HOSTS = LAB.group("cslr_cluster")
MON = LAB.group("cslr_monitoring_hosts")[0]
HEAD = LAB.group("cslr_ray_head_candidates")[0]
OUTSIDER = LAB.group("lab_outsiders")[0]
HV = LAB.hostvars[MON]
PREFIX = HV.get("cslr_project_name", "cslr")
USER = HV.get("cslr_monitoring_user", "cslr")
PROM_PORT = HV.get("cslr_prometheus_port", 9090)
NODE_PORT = HV.get("cslr_node_exporter_port", 9100)
DASHBOARD_PORT = HV.get("cslr_ray_dashboard_port", 8265)
PASSWORD_FILE = os.path.join(ROOT, ".lab", HV["lab_network_name"], "secrets", PREFIX + "-monitoring-password")

# A GET from a host with optional basic auth (or a bearer token): prints "STATUS BODY".
_GET = ("import base64, sys, urllib.request, urllib.error\n"
        "url, user, password, token = sys.argv[1:5]\n"
        "req = urllib.request.Request(url)\n"
        "if user:\n"
        "    req.add_header('Authorization', 'Basic ' + base64.b64encode(('%s:%s' % (user, password)).encode()).decode())\n"
        "if token:\n"
        "    req.add_header('Authorization', 'Bearer ' + token)\n"
        "try:\n"
        "    r = urllib.request.urlopen(req, timeout=20); print(r.status, r.read().decode())\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code, e.read().decode()[:500])\n")


def password():
    with open(PASSWORD_FILE) as handle:
        return handle.read().strip()


def get(url, user="", secret="", token="", host=MON):
    out = LAB.host(host).check_output("python3 -c %s %s %s %s %s", _GET, url, user, secret, token)
    code, _, text = out.strip().partition(" ")
    return int(code), text


def api(path):
    code, text = get("http://%s:%s/api/v1/%s" % (LAB.address(MON), PROM_PORT, path), USER, password())
    assert code == 200, (code, text)
    return json.loads(text)["data"]


def wait_for(check, timeout=120, every=3):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        ok, last = check()
        if ok:
            return last
        time.sleep(every)
    pytest.fail("not reached within %ss; last: %s" % (timeout, json.dumps(last, default=str)[:3000]))


def test_password_is_generated_once_and_kept_on_the_controller():
    mode = stat.S_IMODE(os.stat(PASSWORD_FILE).st_mode)
    assert mode == 0o600, oct(mode)
    assert len(password()) >= 32
    # On the host: root-only files, never world-readable; the login is a bcrypt hash there.
    host = LAB.host(MON)
    for name in ("password", "web.yml", "client.yml"):
        f = host.file("/opt/cslr-platform/monitoring/" + name)
        assert f.user == "root" and f.mode & 0o007 == 0, (name, oct(f.mode))
    web = host.check_output("cat /opt/cslr-platform/monitoring/web.yml")
    assert "$2b$" in web and password() not in web


def test_prometheus_refuses_requests_without_its_login():
    url = "http://%s:%s/api/v1/targets" % (LAB.address(MON), PROM_PORT)
    peer = [h for h in HOSTS if h != MON][0]
    assert get(url, host=peer)[0] == 401
    assert get(url, USER, "wrong-password-123456", host=peer)[0] == 401
    assert get(url, USER, password(), host=peer)[0] == 200


def expected_targets():
    out = set()
    for h in HOSTS:
        out.add(("node", h))
        if LAB.var(h, "cslr_ray_enabled", True):
            out.add(("ray", h))
        if LAB.var(h, "cslr_health_enabled", True):
            out.add(("cslr-health", h))
        if LAB.var(h, "cslr_rendezvous_enabled") and h in LAB.group("cslr_rendezvous_hosts"):
            out.add(("etcd", h))
    out.add(("prometheus", MON))
    return out


def test_prometheus_scrapes_every_ray_node_exporter_health_service_and_etcd():
    def check():
        active = api("targets?state=active")["activeTargets"]
        seen = {(t["labels"]["job"], t["labels"].get("host")): t["health"] for t in active}
        ok = set(seen) == expected_targets() and all(v == "up" for v in seen.values())
        return ok, {"%s/%s" % k: v for k, v in seen.items()} if not ok else seen
    wait_for(check, timeout=180)
    # A node exporter's sample of each host, and the health service's Ray role per host.
    hosts_up = {r["metric"]["host"] for r in api("query?query=node_uname_info")["result"]}
    assert hosts_up == set(HOSTS)
    heads = [r["metric"]["host"] for r in api("query?query=cslr_ray_role%7Brole%3D%22head%22%7D%3D%3D1")["result"]]
    assert heads == [HEAD]


def test_alert_rules_pass_promtool_and_are_loaded():
    host = LAB.host(MON)
    for kind, path in (("rules", "/etc/prometheus/rules.yml"), ("config", "/etc/prometheus/prometheus.yml"),
                       ("web-config", "/etc/prometheus/web.yml")):
        res = host.run("docker exec %s-prometheus promtool check %s %s", PREFIX, kind, path)
        assert res.rc == 0, (kind, res.stdout, res.stderr)
    groups = api("rules")["groups"]
    rules = {r["name"]: r for g in groups for r in g["rules"]}
    for name in ("CslrHostDown", "CslrDiskAlmostFull", "CslrRayNodeDown", "CslrRayHeadChanged", "CslrRayNoSingleHead",
                 "CslrEtcdNoLeader", "CslrGpuXidError", "CslrGpuEccDoubleBitErrors"):
        assert name in rules, sorted(rules)
    assert all(r["health"] == "ok" for r in rules.values()), [(n, r.get("lastError")) for n, r in rules.items()]
    # Nothing fires on a healthy cluster: one head, every target up, disks below 90 %. The one
    # alert that may: CslrRayHeadChanged for a host whose head role Prometheus saw move in its
    # 15-minute window (the earlier tests restart every Ray node: token rotation, custom image;
    # a slow machine stops the head's container for longer than a scrape interval). It is right
    # then: a restarted head ends the jobs on it.
    moved_query = "query?query=" + urllib.parse.quote('changes(cslr_ray_role{role="head"}[15m]) > 0')

    def quiet():
        firing = [a for a in api("alerts")["alerts"] if a["state"] == "firing"]
        others = [a for a in firing if a["labels"].get("alertname") != "CslrRayHeadChanged"]
        assert not others, firing
        moved = {r["metric"].get("host") for r in api(moved_query)["result"]}
        unexplained = [a for a in firing if a["labels"].get("host") not in moved]
        return not unexplained, {"unexplained": unexplained, "head role moved on": sorted(moved)}
    # Asked again only for a CslrRayHeadChanged whose change just left the window: an alert
    # outlives its condition by one evaluation.
    wait_for(quiet, timeout=60, every=10)


_RAY_COUNTER = """
import sys, time, ray
from ray.util.metrics import Counter
ray.init(address="auto")

@ray.remote
class Ticker:
    def __init__(self, name):
        self.c = Counter(name, description="cslr test counter", tag_keys=("marker",))
    def tick(self, marker, n):
        self.c.inc(n, tags={"marker": marker})
        return ray.get_runtime_context().get_node_id()

t = Ticker.options(name="cslr-ticker-" + sys.argv[2], lifetime="detached").remote(sys.argv[1])
print(ray.get(t.tick.remote(sys.argv[2], 3)))
"""


def test_a_ray_task_metric_reaches_prometheus():
    marker = uuid.uuid4().hex[:8]
    name = "cslr_test_ticks"
    head = LAB.host(HEAD)
    head.check_output("docker exec %s-ray python3 -c %s %s %s", PREFIX, _RAY_COUNTER, name, marker)
    try:
        query = 'sum({__name__=~"ray_%s(_total)?",marker="%s"})' % (name, marker)

        def check():
            result = api("query?query=" + urllib.parse.quote(query))["result"]
            return bool(result) and float(result[0]["value"][1]) == 3.0, result
        wait_for(check, timeout=120)
    finally:
        head.run("docker exec %s-ray python3 -c %s", PREFIX,
                 "import ray; ray.init(address='auto'); ray.kill(ray.get_actor('cslr-ticker-%s'))" % marker)


def test_ray_dashboard_reaches_prometheus_with_the_login():
    head_address = LAB.host(HOSTS[0]).check_output("cat /var/lib/cslr-platform/ray/gcs_address").rsplit(":", 1)[0]
    token = LAB.ray_token()
    code, text = get("http://%s:%s/api/prometheus_health" % (head_address, DASHBOARD_PORT), token=token)
    assert code == 200, (code, text)
    assert json.loads(text)["result"] is True, text
    head = [h for h in HOSTS if LAB.address(h) == head_address][0]
    env = LAB.host(head).check_output("docker inspect -f '{{json .Config.Env}}' %s-ray", PREFIX)
    assert "RAY_PROMETHEUS_HOST=http://%s:%s" % (LAB.address(MON), PROM_PORT) in env
    assert password() not in env and "RAY_PROMETHEUS_HEADERS" in env  # from the root-only env file


def test_exporter_ports_accept_the_monitoring_host_only():
    others = [h for h in HOSTS if h != MON]
    for target in HOSTS:
        address = LAB.address(target)
        assert LAB.reachable(MON, address, NODE_PORT), target
        assert not LAB.reachable(OUTSIDER, address, NODE_PORT), target
        for src in others:
            if src != target:
                assert not LAB.reachable(src, address, NODE_PORT), (src, target)


def test_turning_monitoring_off_removes_the_stacks_and_keeps_the_data():
    """cslr_monitoring_enabled: false on the monitoring host: its exporters and monitoring stacks
    go (containers, networks, rendered files), Prometheus's data volume stays; a rerun changes
    nothing; on again, Prometheus comes back on the same volume with the samples from before."""
    host = LAB.host(MON)
    volume = "%s-monitoring_prometheus-data" % PREFIX
    volume_id = host.check_output("docker volume inspect -f '{{.CreatedAt}}' %s", volume)
    before = float(api("query?query=count(up)")["result"][0]["value"][0])
    try:
        for attempt in (1, 2):
            res, recap = run_roles(["monitoring"], "--limit", MON,
                                      "-e", "cslr_monitoring_enabled=false")
            assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
            if attempt == 2:
                assert recap[MON] == 0, changed_tasks(res.stdout)
        for container in ("prometheus", "node-exporter"):
            assert host.run("docker inspect %s-%s", PREFIX, container).rc != 0, container
        assert not host.file("/opt/cslr-platform/monitoring").exists
        assert not host.file("/opt/cslr-platform/exporters").exists
        assert host.check_output("docker volume inspect -f '{{.CreatedAt}}' %s", volume) == volume_id
    finally:
        res, _recap = run_roles(["monitoring"], "--limit", MON)
        assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    # Samples scraped before the stack went away are still there.
    result = api("query?query=count(up)&time=%s" % before)["result"]
    assert result and float(result[0]["value"][1]) > 0, result
