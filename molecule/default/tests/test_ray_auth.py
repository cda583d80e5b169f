"""Ray token authentication, on by default (cslr_ray_auth_mode: token).

Without the token, an unprivileged user of a cluster peer cannot submit a job to the head's Jobs
API (401) nor read the cluster through it; with it, a workstation of the admin network submits a
job that runs. The token is generated once on the controller (0600) and sits in a root-only file
on every Ray host. Rotation (a run with a new token restarts the nodes, the cluster is whole after
it and the old token is refused) is tested with the custom image in test_custom_image.py: the two
share the cluster restarts.
"""
import json
import os
import stat
import subprocess
import time

from cslr_testinfra import Lab

LAB = Lab()
HOSTS = LAB.group("cslr_cluster")
HV = LAB.hostvars[HOSTS[0]]
PROJECT = HV.get("cslr_project_name", "cslr")
DASHBOARD_PORT = HV.get("cslr_ray_dashboard_port", 8265)
AGENT_PORT = HV.get("cslr_ray_dashboard_agent_http_port", 52365)
NETWORK = HV["lab_network_name"]
TOKEN_FILE = "/opt/cslr-platform/ray/auth_token"
BROWSER_IMAGE = os.environ.get("CSLR_BROWSER_IMAGE", "cslr-lab/browser:1")

# An HTTP request from a host, as the user the test names: prints "STATUS BODY".
_HTTP = ("import sys, urllib.request, urllib.error\n"
         "url, method, body, token = sys.argv[1:5]\n"
         "req = urllib.request.Request(url, data=body.encode() or None, method=method,\n"
         "                             headers={'Content-Type': 'application/json'})\n"
         "if token:\n"
         "    req.add_header('Authorization', 'Bearer ' + token)\n"
         "try:\n"
         "    r = urllib.request.urlopen(req, timeout=20); print(r.status, r.read().decode()[:2000])\n"
         "except urllib.error.HTTPError as e:\n"
         "    print(e.code, e.read().decode()[:300])\n")


def head_address():
    out = LAB.host(HOSTS[0]).check_output("cat /var/lib/cslr-platform/ray/gcs_address")
    return out.strip().rsplit(":", 1)[0]


def http_as_nobody(name, url, method="GET", body=""):
    res = LAB.host(name).run("runuser -u nobody -- python3 -c %s %s %s %s ''", _HTTP, url, method, body)
    assert res.rc == 0, res.stderr
    code, _, text = res.stdout.partition(" ")
    return int(code), text


def http_from_workstation(url, method="GET", body="", token=""):
    """The same request from a workstation of the admin network (not a cluster host)."""
    import ipaddress
    ip = str(list(ipaddress.ip_network(HV["cslr_admin_networks"][0]).hosts())[6])
    env = dict(os.environ, CSLR_TOKEN=token)
    res = subprocess.run(["docker", "run", "--rm", "--network", NETWORK, "--ip", ip, "-e", "CSLR_TOKEN",
                          "--entrypoint", "sh", BROWSER_IMAGE, "-c",
                          'exec python3 -c "$0" "$1" "$2" "$3" "$CSLR_TOKEN"', _HTTP, url, method, body],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    code, _, text = res.stdout.strip().partition(" ")
    return int(code), text


def peer():
    head = head_address()
    return [h for h in HOSTS if LAB.address(h) != head][0]


def test_token_is_generated_once_and_kept_root_only():
    mode = os.stat(LAB.ray_token_file()).st_mode
    assert stat.S_IMODE(mode) == 0o600, oct(mode)
    token = LAB.ray_token()
    assert len(token) >= 32
    for name in HOSTS:
        host = LAB.host(name)
        f = host.file(TOKEN_FILE)
        assert f.mode == 0o600 and f.user == "root", (name, oct(f.mode), f.user)
        assert f.content_string.strip() == token, name
        assert host.run("runuser -u nobody -- cat %s", TOKEN_FILE).rc != 0
        env = host.check_output("docker inspect -f '{{json .Config.Env}}' %s-ray", PROJECT)
        assert "RAY_AUTH_MODE=token" in env and token not in env, name


def test_unauthenticated_job_submission_from_a_peer_is_refused():
    url = "http://%s:%s/api/jobs/" % (head_address(), DASHBOARD_PORT)
    code, text = http_as_nobody(peer(), url, "POST", json.dumps({"entrypoint": "id; env"}))
    assert code == 401, (code, text)
    code, text = http_as_nobody(peer(), url)
    assert code == 401, (code, text)


def test_unauthenticated_agent_port_is_refused():
    name = peer()
    url = "http://%s:%s/api/job_agent/jobs/" % (head_address(), AGENT_PORT)
    code, text = http_as_nobody(name, url, "POST", json.dumps({"entrypoint": "id", "submission_id": "cslr-x"}))
    assert code in (401, 403), (code, text)


def test_wrong_token_is_refused():
    url = "http://%s:%s/api/jobs/" % (head_address(), DASHBOARD_PORT)
    code, _ = http_from_workstation(url, token="x" * 48)
    assert code == 403, code


def submit_and_wait(token):
    base = "http://%s:%s/api/jobs/" % (head_address(), DASHBOARD_PORT)
    code, text = http_from_workstation(base, "POST", json.dumps({"entrypoint": "python3 -c 'print(6*7)'"}), token)
    assert code == 200, (code, text)
    job = json.loads(text)["submission_id"]
    deadline = time.time() + 180
    while time.time() < deadline:
        code, text = http_from_workstation(base + job, token=token)
        assert code == 200, (code, text)
        status = json.loads(text)["status"]
        if status in ("SUCCEEDED", "FAILED", "STOPPED"):
            break
        time.sleep(3)
    assert status == "SUCCEEDED", text
    return job


def test_a_workstation_with_the_token_submits_a_job_that_runs():
    submit_and_wait(LAB.ray_token())
