"""Elastic training on the simulated hosts (docs/training.md).

Rendezvous: the etcd members on cslr_rendezvous_hosts form one healthy cluster with the v2 API.
A real torch.distributed elastic rendezvous (torchrun --rdzv-backend=etcd-v2, torch 2.13 CPU from
the cslr-lab/torch image) runs across two hosts: each torchrun runs in a host's network namespace
(`docker run --network container:HOST` on the controller's engine) with that host's
/etc/cslr/training.env. So it uses the derived GLOO_SOCKET_IFNAME, the rendezvous endpoint, and
the ports the host's firewall and kernel port range allow. Both processes must see world size 2
and all-reduce 1 + 2 = 3. Reusing the run id of a finished job fails (torch closed that
rendezvous). playbooks/rendezvous_clean.yml lists and removes its state, and the same id then works
again. The outsider (same LAN, not in the cluster) reaches neither etcd nor the training ports.
Training hosts: the checkpoint directory, the free-space check, retention, the S3 secrets (root-only
env file, in the Ray container, never in logs or training.env), the kernel port range.
"""
import json
import os
import subprocess
import tempfile
import time

import pytest

from cslr_testinfra import ROOT, Lab, run_playbook

LAB = Lab()
HOSTS = LAB.group("cslr_cluster")
MEMBERS = LAB.group("cslr_rendezvous_hosts")
OUTSIDER = (LAB.group("lab_outsiders") or [None])[0]
HV = LAB.hostvars[HOSTS[0]]
PROJECT = HV["cslr_project_name"]
TORCH_IMAGE = "cslr-lab/torch:2.13.0"
JOBS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jobs")
S3_SECRET = HV["cslr_checkpoint_s3_secret_access_key"]
CLIENT_PORT = HV.get("cslr_rendezvous_client_port", 2379)
MASTER_PORT = HV.get("cslr_training_master_port", 29500)
RANGE = (HV.get("cslr_training_min_port", 40000), HV.get("cslr_training_max_port", 49999))
RANGE_PORT = 45000  # inside that range
TRAINER_PREFIX = "cslr-test-torch-"

CONNECT = ("import socket, sys\n"
           "try:\n"
           "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()\n"
           "except OSError as e:\n"
           "    print(e); sys.exit(1)\n")
V2_GET = ("import sys, urllib.request, urllib.error\n"
          "try:\n"
          "    print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())\n"
          "except urllib.error.HTTPError as e:\n"
          "    print(e.code); sys.exit(2)\n")


def reachable(src, address, port):
    return LAB.host(src).run("python3 -c %s %s %s", CONNECT, address, str(port)).rc == 0


def training_env(name):
    """VARIABLE -> value of the host's /etc/cslr/training.env."""
    out = LAB.host(name).check_output("cat /etc/cslr/training.env")
    return dict(line.split("=", 1) for line in out.splitlines() if line and not line.startswith("#"))


def v2_key(path):
    """(rc, body) of GET /v2/keys<path> on the first member's local etcd."""
    res = LAB.host(MEMBERS[0]).run("python3 -c %s %s", V2_GET,
                                   "http://127.0.0.1:%s/v2/keys%s" % (CLIENT_PORT, path))
    return res.rc, res.stdout


def remove_trainers():
    names = subprocess.run(["docker", "ps", "-aq", "--filter", "name=" + TRAINER_PREFIX],
                           capture_output=True, text=True).stdout.split()
    if names:
        subprocess.run(["docker", "rm", "-f"] + names, capture_output=True)


def elastic_job(run_id, hosts, timeout=240):
    """Run torchrun on each host at once (etcd-v2 rendezvous); [(host, rc, output, json or None)]."""
    procs = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in hosts:
            env = training_env(name)
            env_file = os.path.join(tmp, name + ".env")
            with open(env_file, "w") as handle:
                handle.write("".join("%s=%s\n" % kv for kv in sorted(env.items())))
            cmd = ["docker", "run", "--rm", "--name", TRAINER_PREFIX + name, "--network", "container:" + name,
                   "--env-file", env_file, "-e", "EXPECTED_WORLD_SIZE=%d" % len(hosts),
                   "-v", JOBS + ":/jobs:ro", TORCH_IMAGE,
                   "timeout", str(timeout - 10), "torchrun", "--nnodes=%d" % len(hosts), "--nproc-per-node=1",
                   "--rdzv-backend=etcd-v2", "--rdzv-endpoint=" + env["CSLR_RDZV_ENDPOINT"],
                   "--rdzv-id=" + run_id, "--local-addr=" + env["CSLR_CLUSTER_ADDRESS"],
                   "/jobs/elastic_allreduce.py"]
            procs.append((name, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
        results = []
        for name, proc in procs:
            try:
                out, _ = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
            lines = [ln for ln in out.splitlines() if ln.startswith("{")]
            results.append((name, proc.returncode, out, json.loads(lines[-1]) if lines else None))
    remove_trainers()
    return results


def assert_job_ok(results):
    report = "\n".join("--- %s rc=%s\n%s" % (n, rc, out[-3000:]) for n, rc, out, _ in results)
    for name, rc, _out, data in results:
        assert rc == 0 and data, report
        assert data["world_size"] == 2 and data["sum"] == 3 and data["ok"], report
        env = training_env(name)
        assert data["gloo_socket_ifname"] == env["GLOO_SOCKET_IFNAME"], report
        # gloo's interface carries the host's cluster address: derived, not typed.
        assert data["ifname_addr"] == LAB.address(name), report
        # The store port torchrun's agent picked at random is inside the port range the firewall
        # opens: the kernel's ephemeral range was set to it.
        assert RANGE[0] <= int(data["master_port"]) <= RANGE[1], report
    assert sorted(d["rank"] for _n, _rc, _o, d in results) == [0, 1], report


@pytest.fixture(scope="module")
def trainers():
    subprocess.run(["docker", "image", "inspect", TORCH_IMAGE], check=True, capture_output=True)
    remove_trainers()
    yield HOSTS[1:3]
    remove_trainers()


# ------------------------------------------------------------------ rendezvous stack

def test_etcd_members_form_one_healthy_cluster():
    assert len(MEMBERS) == 3, MEMBERS
    for name in MEMBERS:
        host = LAB.host(name)
        state = host.check_output("docker inspect --format '{{.State.Health.Status}}' %s-etcd", PROJECT)
        assert state == "healthy", name
        members = host.check_output("docker exec %s-etcd etcdctl --endpoints=http://127.0.0.1:%s member list",
                                    PROJECT, str(CLIENT_PORT))
        assert sorted(ln.split(", ")[2] for ln in members.splitlines()) == sorted(MEMBERS), members
        assert all(", started, " in ln for ln in members.splitlines()), members


def test_v2_api_serves_the_keyspace():
    rc, body = v2_key("/")
    assert rc == 0 and json.loads(body)["action"] == "get", body


def test_training_env_names_the_cluster_interface():
    for name in HOSTS:
        iface = LAB.host(name).check_output("ip -o -4 addr show to %s", LAB.address(name)).split()[1]
        env = training_env(name)
        assert env["GLOO_SOCKET_IFNAME"] == iface and env["NCCL_SOCKET_IFNAME"] == "=" + iface, env
        assert env["CSLR_RDZV_ENDPOINT"] == "%s:%s" % (LAB.address(MEMBERS[0]), CLIENT_PORT), env
        assert env["CSLR_RDZV_BACKEND"] == "etcd-v2"
        assert "AWS_SECRET_ACCESS_KEY" not in env and S3_SECRET not in str(env), env
        assert LAB.host(name).file("/etc/cslr/training.env").mode == 0o644
        assert LAB.host(name).check_output("sysctl -n net.ipv4.ip_local_port_range").split() == [str(p) for p in RANGE]


# ------------------------------------------------------------------ torch across two hosts

def test_elastic_rendezvous_across_two_hosts_then_stale_state_cleaned(trainers):
    run_id = "cslr-test-%d" % time.time()
    assert_job_ok(elastic_job(run_id, trainers))
    rc, body = v2_key("/torch/elastic/rendezvous/" + run_id)
    assert rc == 0, body

    # torch closed that rendezvous when the job finished: the same id is refused now.
    again = elastic_job(run_id, trainers, timeout=120)
    assert all(rc != 0 for _n, rc, _o, _d in again), "\n".join(o[-2000:] for _n, _rc, o, _d in again)

    res, _recap = run_playbook("playbooks/rendezvous_clean.yml")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert run_id in res.stdout and "Nothing deleted" in res.stdout, res.stdout[-3000:]

    res, _recap = run_playbook("playbooks/rendezvous_clean.yml", "--check",
                               "-e", json.dumps({"cslr_rendezvous_clean_runs": [run_id]}))
    assert res.returncode == 0 and "Would delete" in res.stdout, res.stdout[-3000:]
    assert v2_key("/torch/elastic/rendezvous/" + run_id)[0] == 0

    res, recap = run_playbook("playbooks/rendezvous_clean.yml",
                              "-e", json.dumps({"cslr_rendezvous_clean_runs": [run_id]}))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "Deleted" in res.stdout and recap.get(MEMBERS[0]) == 1, res.stdout[-3000:]
    assert v2_key("/torch/elastic/rendezvous/" + run_id)[0] == 2
    # Every member serves the deletion.
    for name in MEMBERS:
        got = LAB.host(name).run("python3 -c %s %s", V2_GET, "http://127.0.0.1:%s/v2/keys/torch/elastic/rendezvous/%s"
                                 % (CLIENT_PORT, run_id))
        assert got.rc == 2, (name, got.stdout)

    assert_job_ok(elastic_job(run_id, trainers))
    run_playbook("playbooks/rendezvous_clean.yml", "-e", json.dumps({"cslr_rendezvous_clean_runs": [run_id]}))


# ------------------------------------------------------------------ firewall

@pytest.fixture(scope="module")
def training_listeners():
    target = HOSTS[-1]
    host = LAB.host(target)
    for port in (MASTER_PORT, RANGE_PORT):
        host.run("systemctl stop cslr-trtest-%s", str(port))
        host.check_output("systemd-run --unit=cslr-trtest-%s python3 -m http.server %s", str(port), str(port))
    deadline = time.time() + 20
    while not all(reachable(target, "127.0.0.1", p) for p in (MASTER_PORT, RANGE_PORT)):
        assert time.time() < deadline, host.run("ss -ltnp").stdout
        time.sleep(0.5)
    yield target
    for port in (MASTER_PORT, RANGE_PORT):
        host.run("systemctl stop cslr-trtest-%s", str(port))


def test_cluster_hosts_reach_etcd_and_training_ports(training_listeners):
    assert reachable(HOSTS[0], LAB.address(MEMBERS[-1]), CLIENT_PORT)
    for port in (MASTER_PORT, RANGE_PORT):
        assert reachable(HOSTS[0], LAB.address(training_listeners), port), port


def test_outsider_reaches_neither_etcd_nor_training_ports(training_listeners):
    assert OUTSIDER, "the inventory has no host in lab_outsiders to test from"
    for name in MEMBERS:
        assert not reachable(OUTSIDER, LAB.address(name), CLIENT_PORT), name
    for port in (MASTER_PORT, RANGE_PORT):
        assert not reachable(OUTSIDER, LAB.address(training_listeners), port), port


# ------------------------------------------------------------------ checkpoints, S3

def test_checkpoint_dir_retention_and_s3_secrets():
    name = HOSTS[-1]
    host = LAB.host(name)
    ckpt = HV.get("cslr_checkpoint_dir", "/var/lib/cslr-platform/checkpoints")
    d = host.file(ckpt)
    assert d.is_directory and d.user == "root" and d.mode == 0o770
    assert host.service("cslr-checkpoint-retention.timer").is_enabled
    assert host.service("cslr-checkpoint-retention.timer").is_running
    assert "-mtime +13" in host.file("/etc/systemd/system/cslr-checkpoint-retention.service").content_string
    secrets = host.file("/opt/cslr-platform/ray/training-s3.env")
    assert secrets.mode == 0o600 and secrets.user == "root"
    assert S3_SECRET not in host.file("/opt/cslr-platform/ray/compose.yaml").content_string
    env = host.check_output("docker exec %s-ray env", PROJECT)
    assert "AWS_SECRET_ACCESS_KEY=" + S3_SECRET in env and "GLOO_SOCKET_IFNAME=" in env
    assert "CSLR_CHECKPOINT_DIR=" + ckpt in env
    host.check_output("docker exec %s-ray test -d %s", PROJECT, ckpt)


def test_too_little_free_space_stops_the_run_naming_host_and_variable():
    name = HOSTS[-1]
    with tempfile.NamedTemporaryFile("w", suffix=".yml", dir=ROOT, prefix=".cslr-test-") as play:
        play.write("- hosts: %s\n  become: true\n  gather_facts: false\n  roles: [cslr.platform.training]\n" % name)
        play.flush()
        res, _recap = run_playbook(play.name, "-e", json.dumps({"cslr_checkpoint_min_free": "900t"}))
    out = res.stdout + res.stderr
    assert res.returncode != 0, out[-3000:]
    assert "%s: cslr_checkpoint_dir" % name in out and "cslr_checkpoint_min_free 900t" in out, out[-3000:]
    assert S3_SECRET not in out
