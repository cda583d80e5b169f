"""Elastic training on the simulated hosts (docs/training.md).

Rendezvous: the etcd members on cslr_rendezvous_hosts form one healthy cluster with the v2 API.
Jobs run the way a user runs them: `sudo cslr-train ... -- torchrun ...` over SSH on two hosts at
once, in the job image the platform built from the collection's recipe (torch 2.13 CPU, Ray,
python-etcd), pushed to the lab registry and pulled by the training hosts that run the jobs. cslr-train gives the
job the host network, the host's /etc/cslr/training.env, the ulimits and the /dev/shm of the
configuration. Hosts 2 and 3 have a second "fabric" network (cslr_training_address; host 3 names
its interface too), so NCCL/gloo use eth1 there: gloo's payload must leave through it. Two
rendezvous backends: c10d on one of the job's hosts, and etcd-v2 on the platform's etcd. Both
processes must see world size 2 and all-reduce 1 + 2 = 3 and an 8 MiB payload. Reusing the run id
of a finished etcd-v2 job fails (torch closed that rendezvous). playbooks/rendezvous_clean.yml lists
and removes its state, and the same id then works again. The outsider (same LAN, not in the
cluster) reaches neither etcd nor the training ports. Preflight: an address not held, an interface
that does not hold it, torchrun's port taken by another process and an unsynchronised clock each
stop the run before any change, naming the host, the variable and the fix. Training hosts: the
checkpoint directory, the free-space check, retention, the S3 secrets (root-only env file, in the
Ray container, never in logs or training.env), the kernel port range.
"""
import base64
import ctypes
import json
import os
import resource
import struct
import subprocess
import tempfile
import time

import pytest

from cslr_testinfra import ROOT, SSH_KEY, Lab, run_playbook

LAB = Lab()
HOSTS = LAB.group("cslr_cluster")
MEMBERS = LAB.group("cslr_rendezvous_hosts")
OUTSIDER = (LAB.group("lab_outsiders") or [None])[0]
HV = LAB.hostvars[HOSTS[0]]
PROJECT = HV["cslr_project_name"]
JOB_HOSTS = [h for h in HOSTS if LAB.hostvars[h].get("cslr_training_image")]
JOB_IMAGE = LAB.hostvars[JOB_HOSTS[0]]["cslr_training_image"] if JOB_HOSTS else None
JOBS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jobs")
HOST_JOBS = "/opt/cslr-test-jobs"
C10D_PORT = HV.get("cslr_training_c10d_port", 29400)
ULIMITS = HV.get("cslr_training_ulimits", {"memlock": -1, "stack": 67108864})
SHM_MIB = 2048  # cslr_training_shm_size default 2g
RAY_SHM_MIB = 512  # the lab's cslr_ray_shm_size
S3_SECRET = HV["cslr_checkpoint_s3_secret_access_key"]
CLIENT_PORT = HV.get("cslr_rendezvous_client_port", 2379)
MASTER_PORT = HV.get("cslr_training_master_port", 29500)
RANGE = (HV.get("cslr_training_min_port", 40000), HV.get("cslr_training_max_port", 49999))
# A port inside that range with nothing on it, found on the host when the test starts: the range is
# the kernel's ephemeral range there, so any fixed port may be the local end of a Ray connection.
FREE_IN_RANGE = ("import socket, sys\n"
                 "for port in range(int(sys.argv[1]), int(sys.argv[2])):\n"
                 "    s = socket.socket()\n"
                 "    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                 "    try:\n"
                 "        s.bind(('0.0.0.0', port))\n"
                 "    except OSError:\n"
                 "        continue\n"
                 "    finally:\n"
                 "        s.close()\n"
                 "    print(port); break\n")
TRAINER_LABEL = "org.cslr.training.job=true"

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


def flat(res):
    """A run's output with YAML's line folding and quote doubling undone, for matching messages."""
    return " ".join((res.stdout + res.stderr).replace("''", "'").split())


def training_address(name):
    return LAB.hostvars[name].get("cslr_training_address") or LAB.address(name)


def remove_trainers():
    """Job containers cslr-train left on the hosts (an aborted run)."""
    for name in HOSTS:
        LAB.host(name).run("docker ps -aq --filter label=%s | xargs -r docker rm -f", TRAINER_LABEL)


def ssh_argv(name):
    argv = ["ssh", "-i", SSH_KEY, "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "ConnectTimeout=10"]
    for option in LAB.ssh_options(name):
        argv += ["-o", option]
    return argv + [LAB.ssh_target(name)]


def torch_job(run_id, hosts, backend, timeout=240):
    """`sudo cslr-train ... torchrun` on each host at once over SSH, as a user runs a job;
    [(host, rc, output, json or None)]. backend: etcd-v2 (the platform's etcd, CSLR_RDZV_ENDPOINT)
    or c10d (the store on the first host, at its cluster address)."""
    procs = []
    for name in hosts:
        env = training_env(name)
        # c10d: the store on the first host, at the address its name resolves to (its cluster address).
        endpoint = (env["CSLR_RDZV_ENDPOINT"] if backend == "etcd-v2"
                    else "%s:%s" % (LAB.address(hosts[0]), C10D_PORT))
        command = ("sudo timeout %d cslr-train -v %s:/jobs:ro -e EXPECTED_WORLD_SIZE=%d -- torchrun --nnodes=%d "
                   "--nproc-per-node=1 --rdzv-backend=%s --rdzv-endpoint=%s --rdzv-id=%s --local-addr=%s "
                   "/jobs/elastic_allreduce.py" % (timeout - 10, HOST_JOBS, len(hosts), len(hosts), backend, endpoint,
                                                   run_id, env["CSLR_TRAINING_ADDRESS"]))
        procs.append((name, subprocess.Popen(ssh_argv(name) + [command], stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT, text=True)))
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


def elastic_job(run_id, hosts, timeout=240):
    return torch_job(run_id, hosts, "etcd-v2", timeout)


def assert_job_ok(results):
    report = "\n".join("--- %s rc=%s\n%s" % (n, rc, out[-3000:]) for n, rc, out, _ in results)
    for name, rc, _out, data in results:
        assert rc == 0 and data, report
        assert data["world_size"] == 2 and data["sum"] == 3 and data["ok"], report
        env = training_env(name)
        assert data["gloo_socket_ifname"] == env["GLOO_SOCKET_IFNAME"], report
        # gloo's interface carries the host's training address (the fabric on hosts 2 and 3), and
        # the payload left through it.
        assert data["ifname_addr"] == training_address(name), report
        assert data["ifname_tx_bytes"] >= data["payload_bytes"] // 2, report
        # cslr-train's limits and /dev/shm, as the job sees them.
        assert data["memlock"] == ULIMITS["memlock"] and data["stack"] == ULIMITS["stack"], report
        assert data["shm_bytes"] == SHM_MIB * 1048576, report
        # The store port torchrun's agent picked at random is inside the port range the firewall
        # opens: the kernel's ephemeral range was set to it.
        assert RANGE[0] <= int(data["master_port"]) <= RANGE[1], report
    assert sorted(d["rank"] for _n, _rc, _o, d in results) == [0, 1], report


@pytest.fixture(scope="module")
def trainers():
    remove_trainers()
    with open(os.path.join(JOBS, "elastic_allreduce.py"), "rb") as handle:
        job = base64.b64encode(handle.read()).decode()
    for name in HOSTS:
        LAB.host(name).check_output("mkdir -p %s && echo %s | base64 -d > %s/elastic_allreduce.py",
                                    HOST_JOBS, job, HOST_JOBS)
    yield HOSTS[1:3]
    remove_trainers()
    for name in HOSTS:
        LAB.host(name).run("rm -rf %s", HOST_JOBS)


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


def test_training_env_names_the_training_interface():
    assert [h for h in HOSTS if LAB.hostvars[h].get("cslr_training_address")], "the lab has no fabric network"
    for name in HOSTS:
        iface = LAB.host(name).check_output("ip -o -4 addr show to %s", training_address(name)).split()[1]
        env = training_env(name)
        assert env["GLOO_SOCKET_IFNAME"] == iface and env["NCCL_SOCKET_IFNAME"] == "=" + iface, env
        assert iface == LAB.hostvars[name].get("cslr_training_interface", iface)
        assert env["CSLR_TRAINING_ADDRESS"] == training_address(name), env
        # c10d's store: on the first training host, at the address its name resolves to.
        assert env["CSLR_C10D_ENDPOINT"] == "%s:%s" % (LAB.address(HOSTS[0]), C10D_PORT), env
        assert env["CSLR_RDZV_ENDPOINT"] == "%s:%s" % (LAB.address(MEMBERS[0]), CLIENT_PORT), env
        assert env["CSLR_RDZV_BACKEND"] == "etcd-v2"
        assert "AWS_SECRET_ACCESS_KEY" not in env and S3_SECRET not in str(env), env
        assert LAB.host(name).file("/etc/cslr/training.env").mode == 0o644
        assert LAB.host(name).check_output("sysctl -n net.ipv4.ip_local_port_range").split() == [str(p) for p in RANGE]


# ------------------------------------------------------------------ torch across two hosts

def kib(limit):
    """A limit in bytes as `ulimit -l`/`-s` prints it."""
    return "unlimited" if limit == -1 else str(limit // 1024)


def test_cslr_train_and_the_job_image_on_the_training_hosts_that_have_one():
    assert JOB_HOSTS == HOSTS[1:3], JOB_HOSTS  # the lab's host_vars: the hosts the jobs run on
    for name in HOSTS:
        assert LAB.host(name).file("/usr/local/bin/cslr-train").mode == 0o755, name
    for name in JOB_HOSTS:
        host = LAB.host(name)
        wrapper = host.file("/usr/local/bin/cslr-train")
        assert wrapper.mode == 0o755 and wrapper.user == "root", name
        labels = json.loads(host.check_output("docker image inspect -f '{{json .Config.Labels}}' %s", JOB_IMAGE))
        assert labels["org.cslr.training.torch"] == "2.13.0" and labels["org.cslr.training.variant"] == "cpu", labels
        printed = host.check_output("cslr-train --print -- true")
        for flag in ("--network host", "--shm-size %dm" % SHM_MIB,
                     "--ulimit memlock=%d:%d" % (ULIMITS["memlock"], ULIMITS["memlock"]),
                     "--ulimit stack=%d:%d" % (ULIMITS["stack"], ULIMITS["stack"]), "--env-file /etc/cslr/training.env"):
            assert flag in printed, (name, printed)
        versions = json.loads(host.check_output("cslr-train -- python3 /opt/cslr/cslr_training_versions.py"))
        assert versions["torch"] == "2.13.0+cpu" and versions["python_etcd"] and versions["ray"] == "2.60.0", versions


def test_ray_containers_of_training_hosts_get_the_limits_and_shm():
    for name in HOSTS:
        host = LAB.host(name)
        cfg = json.loads(host.check_output("docker inspect -f '{{json .HostConfig}}' %s-ray", PROJECT))
        limits = {u["Name"]: (u["Soft"], u["Hard"]) for u in cfg["Ulimits"] or []}
        assert limits == {k: (v, v) for k, v in ULIMITS.items()}, (name, limits)
        assert cfg["ShmSize"] == (RAY_SHM_MIB + SHM_MIB) * 1048576, (name, cfg["ShmSize"])
        inside = host.check_output("docker exec %s-ray sh -c 'ulimit -l; ulimit -s'", PROJECT).split()
        assert inside == [kib(ULIMITS["memlock"]), kib(ULIMITS["stack"])], (name, inside)


def test_c10d_job_across_two_hosts_on_the_fabric(trainers):
    assert_job_ok(torch_job("cslr-c10d-%d" % time.time(), trainers, "c10d"))


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
    """A listener on torchrun's master port and one on a free port of the training range, on the
    last host: (host, that range port)."""
    target = HOSTS[-1]
    host = LAB.host(target)
    range_port = int(host.check_output("python3 -c %s %s %s", FREE_IN_RANGE, str(RANGE[0] + 5000), str(RANGE[1])))
    units = [("cslr-trtest-%s" % port, port) for port in (MASTER_PORT, range_port)]

    def stop():
        for unit, _port in units:
            host.run("systemctl stop %s; systemctl reset-failed %s", unit, unit)

    stop()   # leftovers of an aborted run
    try:
        for unit, port in units:
            host.check_output("systemd-run --unit=%s python3 -m http.server %s", unit, str(port))
        deadline = time.time() + 20
        while not all(reachable(target, "127.0.0.1", p) for _u, p in units):
            assert time.time() < deadline, "\n".join(
                [host.run("systemctl status --no-pager -n 20 %s", u).stdout for u, _p in units] + [host.run("ss -ltnp").stdout])
            time.sleep(0.5)
    except BaseException:
        # A listener left running would fail every later site.yml on this host (torchrun's port taken).
        stop()
        raise
    yield target, range_port
    stop()


def test_cluster_hosts_reach_etcd_and_training_ports(training_listeners):
    target, range_port = training_listeners
    assert reachable(HOSTS[0], LAB.address(MEMBERS[-1]), CLIENT_PORT)
    for port in (MASTER_PORT, range_port):
        assert reachable(HOSTS[0], LAB.address(target), port), port


def test_preflight_stops_site_yml_when_torchruns_port_is_taken(training_listeners):
    target, _range_port = training_listeners
    res, recap = run_playbook("site.yml", "--limit", target)
    out = flat(res)
    assert res.returncode != 0, out[-3000:]
    assert "%s: torchrun's ports are taken: port %s (pid " % (target, MASTER_PORT) in out, out[-3000:]
    assert "http.server" in out and "cslr_training_master_port" in out, out[-3000:]
    # Stopped in the preflight: nothing changed on the host.
    assert recap.get(target) == 0, out[-3000:]


def test_outsider_reaches_neither_etcd_nor_training_ports(training_listeners):
    target, range_port = training_listeners
    assert OUTSIDER, "the inventory has no host in lab_outsiders to test from"
    for name in MEMBERS:
        assert not reachable(OUTSIDER, LAB.address(name), CLIENT_PORT), name
    for port in (MASTER_PORT, range_port):
        assert not reachable(OUTSIDER, LAB.address(target), port), port


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
    # The retention run: an old checkpoint and an old empty directory go; a new checkpoint and the
    # health service's disk probe (.cslr-disk, empty and never modified) stay.
    host.check_output("mkdir -p %s/old-run %s/new-run && touch %s/old-run/ckpt.pt %s/new-run/ckpt.pt && "
                      "mkdir -p %s/old-empty && touch -d '30 days ago' %s/old-run/ckpt.pt %s/old-empty %s/.cslr-disk",
                      ckpt, ckpt, ckpt, ckpt, ckpt, ckpt, ckpt, ckpt)
    host.check_output("systemctl start cslr-checkpoint-retention.service")
    assert host.run("test -e %s/old-run/ckpt.pt || test -e %s/old-empty", ckpt, ckpt).rc != 0
    assert host.file(ckpt + "/new-run/ckpt.pt").exists and host.file(ckpt + "/.cslr-disk").is_directory
    host.check_output("rm -rf %s/old-run %s/new-run", ckpt, ckpt)
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


# ------------------------------------------------------------------ preflight

def kernel_clock_synchronised():
    """What adjtimex(2) says of this machine's clock, which the simulated hosts share."""
    buf = ctypes.create_string_buffer(512)
    rc = ctypes.CDLL(None).adjtimex(buf)
    return rc != 5 and not struct.unpack_from("i", buf, 40)[0] & 0x40


def overlay(directory, host, **host_vars):
    """A second inventory source giving `host` other variables (later sources win)."""
    path = os.path.join(str(directory), "overlay.yml")
    with open(path, "w") as handle:
        json.dump({"all": {"hosts": {host: host_vars}}}, handle)
    return path


def test_preflight_stops_on_an_address_no_interface_holds(tmp_path):
    name = HOSTS[-1]
    assert LAB.hostvars[name].get("cslr_training_interface") == "eth1"
    res, recap = run_playbook("playbooks/preflight.yml", "-i", overlay(tmp_path, name, cslr_training_address="10.213.2.99"),
                              "--limit", name)
    out = flat(res)
    assert res.returncode != 0, out[-3000:]
    assert "%s: cslr_training_address 10.213.2.99 is held by no interface of the host" % name in out, out[-3000:]
    assert ("%s: cslr_training_interface eth1 does not hold the training address 10.213.2.99 (it holds %s)"
            % (name, training_address(name))) in out, out[-3000:]
    assert recap.get(name) == 0


def test_preflight_refuses_limits_the_machine_cannot_give():
    # The lab's hosts lack CAP_SYS_RESOURCE: the default (unlimited locked memory) cannot be given
    # to a container there, and the preflight says so before anything changes.
    name = HOSTS[0]
    hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)[1]  # this machine's, which the hosts share
    res, recap = run_playbook("playbooks/preflight.yml", "--limit", name,
                              "-e", json.dumps({"cslr_training_ulimits": {"memlock": -1, "stack": 67108864}}))
    out = flat(res)
    if hard == resource.RLIM_INFINITY:
        assert res.returncode == 0, out[-3000:]
        return
    assert res.returncode != 0, out[-3000:]
    assert ("%s: cslr_training_ulimits memlock -1 (unlimited) is more than this machine allows (hard limit %d"
            % (name, hard)) in out, out[-3000:]
    assert recap.get(name) == 0


def test_preflight_checks_the_clock_as_cslr_time_sync_asks():
    name = HOSTS[0]
    res, _recap = run_playbook("playbooks/preflight.yml", "--limit", name, "-e", "cslr_time_sync=check")
    out = flat(res)
    if kernel_clock_synchronised():
        assert res.returncode == 0 and "not synchronised" not in out, out[-3000:]
    else:
        assert res.returncode != 0, out[-3000:]
        assert "%s: the clock is not synchronised" % name in out, out[-3000:]
        assert "container shares its machine's clock" in out and "cslr_time_sync: warn" in out, out[-3000:]
        # The lab's own setting (warn) goes on, saying so.
        res, _recap = run_playbook("playbooks/preflight.yml", "--limit", name)
        assert res.returncode == 0 and "WARNING: %s: the clock is not synchronised" % name in flat(res), res.stdout[-3000:]
