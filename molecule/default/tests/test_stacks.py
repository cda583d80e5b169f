"""The stacks on the converged scenario: health JSON on every host, a Ray job that runs a task
on every host and logs a metric and an artifact to MLflow from a worker, read back over MLflow's
REST API from a third host; secrets stay out of argv and world-readable files; the optional
Redis and Marimo stacks where the inventory enables them."""
import json
import os
import shlex
import time
import uuid

import pytest

from cslr_testinfra import Lab

LAB = Lab()
HOSTS = LAB.group("cslr_cluster")
CANDIDATES = LAB.group("cslr_ray_head_candidates")
HEAD = CANDIDATES[0]
MLFLOW = LAB.group("cslr_mlflow_hosts")[0]
PREFIX = LAB.var(HEAD, "cslr_project_name", "cslr")
JOB_DIR = os.path.join(os.path.dirname(__file__), "jobs")


def health(name):
    out = LAB.host(name).check_output(
        "python3 -c \"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8888/', timeout=5).read().decode())\"")
    return json.loads(out)


def expected_stacks(name):
    stacks = {PREFIX + "-health": ["docker-ro", "health"], PREFIX + "-ray": ["ray"]}
    if name == MLFLOW:
        stacks[PREFIX + "-mlflow"] = ["mlflow", "postgres"]
    if LAB.var(name, "cslr_redis_enabled"):
        stacks[PREFIX + "-redis"] = ["redis"]
    if LAB.var(name, "cslr_marimo_enabled"):
        stacks[PREFIX + "-marimo"] = ["marimo"]
    if LAB.var(name, "cslr_rendezvous_enabled") and name in LAB.group("cslr_rendezvous_hosts"):
        stacks[PREFIX + "-rendezvous"] = ["etcd"]
    if LAB.var(name, "cslr_monitoring_enabled"):
        stacks[PREFIX + "-exporters"] = ["node-exporter"]
        if name in LAB.group("cslr_monitoring_hosts"):
            stacks[PREFIX + "-monitoring"] = ["prometheus"] + (["grafana"] if LAB.var(name, "cslr_grafana_enabled", True) else [])
    return stacks


# An MLflow REST call from a host: prints "STATUS BODY". Basic auth when a user is given.
_MLFLOW_HTTP = ("import base64, sys, urllib.request, urllib.error\n"
                "url, method, body, user, password = sys.argv[1:6]\n"
                "req = urllib.request.Request(url, data=body.encode() or None, method=method,\n"
                "                             headers={'Content-Type': 'application/json'})\n"
                "if user:\n"
                "    req.add_header('Authorization', 'Basic ' + base64.b64encode(('%s:%s' % (user, password)).encode()).decode())\n"
                "try:\n"
                "    r = urllib.request.urlopen(req, timeout=10); print(r.status, r.read().decode())\n"
                "except urllib.error.HTTPError as e:\n"
                "    print(e.code, e.read().decode()[:500])\n")


def mlflow_admin():
    """(user, password) of MLflow's admin (the scenario's vault)."""
    return LAB.var(MLFLOW, "cslr_mlflow_admin_username", "admin"), LAB.var(MLFLOW, "cslr_mlflow_admin_password")


def mlflow_call(from_host, path, method="GET", body="", auth=True, user=None):
    """(status, body) of a call to http://<MLflow host name>:5000<path> from another host (names
    from /etc/hosts), as its admin (auth=True) or without credentials, as root or as `user`."""
    name, password = mlflow_admin() if auth else ("", "")
    url = "http://%s:5000%s" % (MLFLOW, path)
    prefix = "runuser -u %s -- " % user if user else ""
    out = LAB.host(from_host).check_output(prefix + "python3 -c %s %s %s %s %s %s" % tuple(
        shlex.quote(a) for a in (_MLFLOW_HTTP, url, method, body, name, password or "")))
    code, _, text = out.partition(" ")
    return int(code), text


def mlflow_get(from_host, path):
    """GET <path> from MLflow as its admin, from another host: the body (fails on an HTTP error)."""
    code, text = mlflow_call(from_host, path)
    assert code == 200, (path, code, text)
    return text


def submit_job(experiment):
    """ray job submit on the head (Jobs API, working dir uploaded) -> the job's JSON line."""
    worker = [h for h in HOSTS if h not in (MLFLOW, HEAD)][0]
    head = LAB.host(HEAD)
    marker = uuid.uuid4().hex[:8]
    with open(os.path.join(JOB_DIR, "cluster_job.py")) as f:
        source = f.read()
    head.check_output("mkdir -p /root/cslr-job && cat > /root/cslr-job/cluster_job.py << 'CSLR_EOF'\n%s\nCSLR_EOF" % source)
    head.check_output("docker cp /root/cslr-job %s-ray:/tmp/" % PREFIX)
    out = head.check_output(
        "docker exec %s-ray ray job submit --address http://127.0.0.1:8265 --working-dir /tmp/cslr-job "
        "-- python3 cluster_job.py %s %s %s" % (PREFIX, LAB.address(worker), experiment, marker))
    line = [ln for ln in out.splitlines() if ln.startswith('{"ran_on"')]
    assert line, out[-3000:]
    return worker, marker, json.loads(line[-1])


@pytest.mark.parametrize("name", HOSTS)
def test_health_json(name):
    data = health(name)
    assert data["host"] == name
    assert data["cluster_address"] == LAB.address(name)
    assert data["ray_role"] == ("head" if name == HEAD else "worker")
    assert data["ray_version"] == LAB.var(name, "cslr_ray_version")
    assert data["gpu_count"] == 0
    assert data["docker"] == "ok"
    stacks = data["stacks"]
    assert sorted(stacks) == sorted(expected_stacks(name)), stacks
    for project, services in expected_stacks(name).items():
        assert sorted(m["service"] for m in stacks[project]) == services
        for member in stacks[project]:
            assert (member["state"], member["health"]) == ("running", "healthy"), (project, member)


@pytest.mark.parametrize("name", HOSTS)
def test_ray_node_uses_host_network_and_pinned_ports(name):
    host = LAB.host(name)
    inspect = json.loads(host.check_output("docker inspect %s-ray" % PREFIX))[0]
    assert inspect["HostConfig"]["NetworkMode"] == "host"
    assert inspect["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    # cslr_ray_shm_size (512m, the object store's), plus cslr_training_shm_size (2g) on training hosts
    training = 2048 if LAB.var(name, "cslr_training_enabled") else 0
    assert inspect["HostConfig"]["ShmSize"] == (512 + training) * 1024 * 1024
    assert inspect["HostConfig"]["Memory"] == 2 * 1024 ** 3
    # raylet listens on the pinned node manager port on the cluster address
    listening = host.check_output("docker exec %s-ray sh -c 'cat /proc/net/tcp'" % PREFIX)
    assert ":%04X " % 6800 in listening
    # Ray's session directories (logs) are on the host (session_latest links inside the container)
    assert host.run("ls -d /var/log/cslr-platform/ray/tmp/session_2*/logs/raylet.out").rc == 0
    # The container's CPU limit (cslr_ray_cpu_limit) and memory limit (cslr_ray_memory).
    limits = host.check_output("docker inspect -f '{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}' %s-ray" % PREFIX)
    memory = LAB.var(name, "cslr_ray_memory")
    expected = int(memory[:-1]) * 1024 ** (3 if memory[-1] in "gG" else 2)
    assert limits.split() == ["%d" % (float(LAB.var(name, "cslr_ray_cpu_limit")) * 1e9), "%d" % expected], limits
    # Ray makes its temp directory world-writable; the directory around it is root-only.
    logs = host.file("/var/log/cslr-platform/ray")
    assert (logs.user, logs.mode) == ("root", 0o700), oct(logs.mode)
    assert host.run("runuser -u nobody -- ls /var/log/cslr-platform/ray/tmp").rc != 0


def test_ray_job_runs_everywhere_and_logs_to_mlflow_from_a_worker():
    worker, marker, result = submit_job("cslr-molecule")
    assert result["ran_on"] == sorted(LAB.address(h) for h in HOSTS)
    assert result["logged_from"] == LAB.address(worker)
    reader = [h for h in HOSTS if h not in (worker,)][-1]
    run = json.loads(mlflow_get(reader, "/api/2.0/mlflow/runs/get?run_id=" + result["run_id"]))["run"]
    assert {m["key"]: m["value"] for m in run["data"]["metrics"]} == {"accuracy": 0.875}
    assert run["info"]["artifact_uri"].startswith("mlflow-artifacts:/")
    listing = json.loads(mlflow_get(reader, "/api/2.0/mlflow/artifacts/list?run_id=" + result["run_id"]))
    name = "cslr-artifact-%s.txt" % marker
    assert [f["path"] for f in listing["files"]] == [name]
    content = mlflow_get(reader, "/get-artifact?path=%s&run_uuid=%s" % (name, result["run_id"]))
    assert content.strip() == "artifact %s from %s" % (marker, LAB.address(worker))


@pytest.mark.parametrize("name", CANDIDATES[1:])
def test_candidate_new_container_held_its_claim_and_joined(name):
    """A head candidate's new container holds its claim (CSLR_CLAIM_HOLD_SECONDS) for the
    elected head, joins it, and never claims the head itself."""
    logs = LAB.host(name).check_output("docker logs %s-ray 2>&1", PREFIX)
    assert "first start of this container: the elected head %s gets" % HEAD in logs, logs[-3000:]
    assert "claiming the head" not in logs, logs[-3000:]
    env = LAB.host(name).check_output(
        "docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' %s-ray", PREFIX).split()
    assert "CSLR_CLAIM_HOLD_SECONDS=60" in env, env


@pytest.mark.parametrize("name", HOSTS)
def test_health_reports_disk_space_and_prometheus_metrics(name):
    """Issue 22: `disk` in the JSON is the filesystem of each platform directory, as df on the host
    shows it; /metrics is Prometheus' text format (parsed by prometheus_client, in the Ray image),
    reachable from another cluster host, with the same facts."""
    host = LAB.host(name)
    disk = health(name)["disk"]
    expected = {"data": LAB.var(name, "cslr_base_dir", "/opt/cslr-platform"),
                "ray_logs": LAB.var(name, "cslr_ray_log_dir", "/var/log/cslr-platform/ray")}
    if LAB.var(name, "cslr_training_enabled"):
        expected["checkpoints"] = LAB.var(name, "cslr_checkpoint_dir", "/var/lib/cslr-platform/checkpoints")
    assert {k: v["path"] for k, v in disk.items()} == expected, disk
    for key, path in expected.items():
        # df on the host, in 1024-byte blocks: the filesystem's size and what non-root users may write.
        total, avail = [int(x) for x in host.check_output("df -k --output=size,avail %s | tail -1", path).split()]
        assert disk[key]["total_bytes"] == total * 1024, (key, disk[key])
        assert abs(disk[key]["free_bytes"] - avail * 1024) < 256 << 20, (key, disk[key])
        assert 0 < disk[key]["used_percent"] < 100
    # The data directories are not in the health container: an empty directory of each is.
    mounts = json.loads(host.check_output("docker inspect -f '{{json .Mounts}}' %s-health" % PREFIX))
    for key, path in expected.items():
        probe = [(m["Destination"], m["RW"]) for m in mounts if m["Source"] == path + "/.cslr-disk"]
        assert probe == [("/cslr-disk/" + key, False)], mounts
        assert not [m for m in mounts if m["Source"] == path], mounts
        assert host.check_output("ls -A %s/.cslr-disk | wc -l", path) == "0"
    # /metrics from another cluster host, parsed by Prometheus' own client library.
    peer = [h for h in HOSTS if h != name][0]
    parse = ("import sys, urllib.request\n"
             "from prometheus_client.parser import text_string_to_metric_families as parse\n"
             "text = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()\n"
             "for family in parse(text):\n"
             "    for s in family.samples:\n"
             "        print(s.name, ','.join('%s=%s' % kv for kv in sorted(s.labels.items())), s.value)\n")
    out = LAB.host(peer).check_output("docker exec %s-ray python3 -c %s %s" % (
        PREFIX, shlex.quote(parse), "http://%s:8888/metrics" % LAB.address(name)))
    samples = {tuple(line.split(" ")[:2]): float(line.split(" ")[2]) for line in out.splitlines()}
    assert samples[("cslr_docker_up", "")] == 1
    role = "head" if name == HEAD else "worker"
    assert samples[("cslr_ray_role", "role=" + role)] == 1 and samples[("cslr_ray_role", "role=none")] == 0
    assert samples[("cslr_container_running", "container=%s-ray,project=%s-ray,service=ray" % (PREFIX, PREFIX))] == 1
    assert samples[("cslr_container_healthy", "container=%s-ray,project=%s-ray,service=ray" % (PREFIX, PREFIX))] == 1
    for key, path in expected.items():
        labels = "name=%s,path=%s" % (key, path)
        assert samples[("cslr_disk_total_bytes", labels)] == disk[key]["total_bytes"]
        assert 0 < samples[("cslr_disk_used_ratio", labels)] < 1


def test_health_service_holds_no_docker_socket():
    # It reads the engine through the read-only proxy of its stack: listing works, anything
    # that changes the engine is refused (403), and the real socket is not in its container.
    host = LAB.host(HOSTS[0])
    mounts = host.check_output("docker inspect -f '{{json .Mounts}}' %s-health" % PREFIX)
    assert "docker.sock" not in mounts and '"Source":"/run/cslr-health"' in mounts, mounts
    probe = ("import http.client, socket, sys\n"
             "class C(http.client.HTTPConnection):\n"
             "    def connect(self):\n"
             "        self.sock = socket.socket(socket.AF_UNIX); self.sock.connect('/run/cslr-health/docker.sock')\n"
             "for method, path in (('GET', '/containers/json'), ('POST', '/containers/create'),\n"
             "                     ('GET', '/containers/x/json'), ('DELETE', '/containers/x')):\n"
             "    c = C('docker'); c.request(method, path, body='{}' if method == 'POST' else None)\n"
             "    print(method, path, c.getresponse().status)\n")
    out = host.check_output("docker exec %s-health python3 -c %s" % (PREFIX, shlex.quote(probe)))
    assert out.split("\n") == ["GET /containers/json 200", "POST /containers/create 403",
                                "GET /containers/x/json 403", "DELETE /containers/x 403"], out


def test_mlflow_refuses_calls_without_credentials():
    peer = [h for h in HOSTS if h != MLFLOW][0]
    body = json.dumps({"name": "cslr-unauthenticated-%s" % uuid.uuid4().hex[:6]})
    code, text = mlflow_call(peer, "/api/2.0/mlflow/experiments/create", "POST", body, auth=False, user="nobody")
    assert code == 401, (code, text)
    code, text = mlflow_call(peer, "/api/2.0/mlflow/experiments/search?max_results=5", auth=False, user="nobody")
    assert code == 401, (code, text)
    assert mlflow_call(peer, "/health", auth=False, user="nobody")[0] == 200
    # A wrong password is refused too; the admin's is accepted.
    name, password = mlflow_admin()
    code, _ = mlflow_call(peer, "/api/2.0/mlflow/experiments/search?max_results=5")
    assert code == 200
    host = LAB.host(peer)
    out = host.check_output("python3 -c %s %s GET '' %s %s", _MLFLOW_HTTP,
                            "http://%s:5000/api/2.0/mlflow/experiments/search?max_results=5" % MLFLOW, name,
                            password + "-wrong")
    assert out.startswith("401"), out


def test_mlflow_users_live_in_their_own_database():
    host = LAB.host(MLFLOW)
    db = LAB.var(MLFLOW, "cslr_mlflow_auth_db", "mlflow_auth")
    users = host.check_output("docker exec %s-postgres psql -U mlflow -d %s -tAc 'SELECT username, is_admin FROM users'"
                              % (PREFIX, db))
    assert "%s|t" % mlflow_admin()[0] in users.split(), users
    env = host.check_output("docker inspect -f '{{json .Config.Env}}' %s-mlflow" % PREFIX)
    assert mlflow_admin()[1] in env  # from the root-only env file (docker inspect needs root)
    assert host.run("runuser -u nobody -- cat /opt/cslr-platform/mlflow/mlflow.env").rc != 0


def test_mlflow_data_in_postgres_and_artifact_volume():
    host = LAB.host(MLFLOW)
    count = host.check_output("docker exec %s-postgres psql -U mlflow -d mlflow -tAc 'SELECT count(*) FROM runs'" % PREFIX)
    assert int(count) >= 1
    volumes = host.check_output("docker volume ls -q").split()
    assert {PREFIX + "-mlflow-postgres", PREFIX + "-mlflow-artifacts"} <= set(volumes)


def test_secrets_only_in_root_only_env_files():
    host = LAB.host(MLFLOW)
    password = LAB.var(MLFLOW, "cslr_postgres_password")
    base = "/opt/cslr-platform/mlflow"
    for name in ("postgres.env", "mlflow.env"):
        f = host.file("%s/%s" % (base, name))
        assert (f.user, f.mode) == ("root", 0o600)
    compose = host.file(base + "/compose.yaml")
    assert compose.mode == 0o640
    assert password not in compose.content_string
    for container in ("mlflow", "postgres"):
        inspect = json.loads(host.check_output("docker inspect %s-%s" % (PREFIX, container)))[0]
        assert password not in " ".join(inspect["Args"] + [inspect["Path"]])
    assert password not in host.check_output("ps -eo args")


def peer_python(peer, code):
    return LAB.host(peer).check_output("python3 -c %s" % shlex.quote(code)).strip()


REDIS_TALK = """
import socket
s = socket.create_connection((%r, %d), timeout=10)
s.sendall(%r + b'QUIT\\r\\n')
data = b''
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
print(data.decode().replace('\\r\\n', ' ').strip())
"""

HTTP_STATUS = """
import http.client
c = http.client.HTTPConnection(%r, %d, timeout=10)
c.request('GET', %r)
print(c.getresponse().status)
"""


def test_redis_requires_its_password():
    hosts = [h for h in HOSTS if LAB.var(h, "cslr_redis_enabled")]
    assert hosts, "the scenario enables Redis on one host"
    name = hosts[0]
    host, password = LAB.host(name), LAB.var(name, "cslr_redis_password")
    peer = [h for h in HOSTS if h != name][0]
    # from a peer host, over the published port (RESP inline commands)
    port = LAB.setting(name, "cslr_redis_port")
    out = peer_python(peer, REDIS_TALK % (LAB.address(name), port, b"PING\r\n"))
    assert out.startswith("-NOAUTH"), out
    out = peer_python(peer, REDIS_TALK % (LAB.address(name), port,
                                          ("AUTH %s\r\nSET cslr-k v\r\nGET cslr-k\r\n" % password).encode()))
    assert out.split() == ["+OK", "+OK", "$1", "v", "+OK"], out
    assert password not in host.check_output("ps -eo args")
    assert "cslr-lab-redis-data" in host.check_output("docker volume ls -q").split()


def test_marimo_serves_notebooks_with_a_token():
    hosts = [h for h in HOSTS if LAB.var(h, "cslr_marimo_enabled")]
    assert hosts, "the scenario enables Marimo on one host"
    name = hosts[0]
    host, token = LAB.host(name), LAB.var(name, "cslr_marimo_token")
    peer = [h for h in HOSTS if h != name][0]
    address = LAB.address(name)
    assert peer_python(peer, HTTP_STATUS % (address, 8080, "/health")) == "200"
    assert peer_python(peer, HTTP_STATUS % (address, 8080, "/api/status")) == "401"   # no token: refused
    assert peer_python(peer, HTTP_STATUS % (address, 8080, "/")) == "303"             # to the login page
    assert peer_python(peer, HTTP_STATUS % (address, 8080, "/?access_token=" + token)) == "200"
    assert host.file("/srv/cslr-platform/marimo").is_directory
    assert token not in host.check_output("ps -eo args")
    # Marimo prints its URL at start; the token is cut from it (the compose file patches that).
    logs = host.check_output("docker logs %s-marimo 2>&1", PREFIX)
    assert "http://" in logs and token not in logs, logs[-2000:]


def test_ray_container_start_prunes_old_sessions():
    """cslr_ray_sessions_keep: a worker's Ray container restarted with more old sessions than it keeps
    removes the oldest before Ray starts; the newest `keep` remain, the one in use among them (a
    worker joins the head's session: Ray names sessions on the head only)."""
    name = [h for h in HOSTS if h not in CANDIDATES][-1]
    host = LAB.host(name)
    keep = LAB.var(name, "cslr_ray_sessions_keep", 5)
    temp = "/var/log/cslr-platform/ray/tmp"
    listing = "cd %s && ls -d session_2* | sort" % temp
    # Sessions of 2020 (older than every real one), one more than it keeps, each with a log.
    for i in range(keep + 1):
        old = "%s/session_2020-01-01_00-00-%02d_000000_1/logs" % (temp, i)
        host.check_output("mkdir -p %s && echo x > %s/raylet.out", old, old)
    before = host.check_output(listing).split()
    since = host.check_output("date -u +%Y-%m-%dT%H:%M:%SZ")
    host.check_output("docker restart %s-ray", PREFIX)
    deadline = time.time() + 240
    while True:
        logs = host.run("docker logs --since %s %s-ray 2>&1", since, PREFIX).stdout
        status = host.run("docker inspect -f '{{.State.Health.Status}}' %s-ray", PREFIX).stdout.strip()
        if "old Ray session(s) from /tmp/ray (CSLR_RAY_SESSIONS_KEEP=%d)" % keep in logs and status == "healthy":
            break
        assert time.time() < deadline, (status, logs[-3000:])
        time.sleep(3)
    # session_latest: a link to /tmp/ray/session_... (the path in the container)
    latest = os.path.basename(host.check_output("readlink %s/session_latest", temp))
    after = host.check_output(listing).split()
    assert after == sorted(set(before[-keep:]) | {latest}), (before, after, latest)
    assert before[0] not in after and len(after) <= keep + 1, (before, after)
