"""The training role's derived settings and preflight verdicts, as Ansible renders them (its
vars/main.yml and templates/cslr-train.j2 on the controller, no host), from recorded
cslr.platform.host_preflight results: a lab host (tests/fixtures/preflight_lab_host.json, read
off cslr-mol-3) and the same host as a GPU machine with two RDMA adapters. The lab has neither
GPUs nor InfiniBand: these cases are where the GPU and RDMA parts are checked."""
import copy
import json
import os
import re
import subprocess

import pytest

from cslr_render import ROLES, ROOT, local_host, run_play

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "preflight_lab_host.json")


def recorded():
    with open(FIXTURE) as handle:
        return json.load(handle)


def gpu_rdma_host():
    pf = recorded()
    pf["gpus"] = {"pci": ["0000:17:00.0", "0000:65:00.0"], "device_nodes": ["nvidia0", "nvidia1"]}
    pf["rdma"] = {"hcas": ["mlx5_0", "mlx5_1"], "devices": True, "uverbs": ["uverbs0", "uverbs1"]}
    pf["cap_sys_resource"] = True  # a machine, not a container: any limit can be given
    return pf


def render(tmp_path, preflight, gpu=False, **extra):
    """{env, wrapper, problems, training} of host node-1 for this preflight result and these variables."""
    # The recorded host is a simulated one: no CAP_SYS_RESOURCE, 8 MiB of lockable memory.
    extra = dict({"cslr_cluster_address": "10.213.1.13", "cslr_training_enabled": True,
                  "cslr_training_ulimits": {"memlock": 8388608, "stack": 67108864}}, **extra)
    play = [{"hosts": "node-1", "gather_facts": False,
             "vars": {"__cslr_preflight": preflight},
             "tasks": [
                 {"ansible.builtin.include_vars": os.path.join(ROLES, "config", "defaults", "main.yml")},
                 {"ansible.builtin.include_vars": os.path.join(ROLES, "training", "vars", "main.yml")},
                 {"ansible.builtin.copy": {
                     "dest": str(tmp_path / "out.json"), "mode": "0600",
                     "content": "{{ {'env': _training_env, 'problems': _pf_problems, 'rdma': _training_rdma,"
                                " 'interface': _training_interface, 'shm_mib': _training_shm_mib,"
                                " 'wrapper': lookup('ansible.builtin.template', '%s')} | to_json }}"
                                % os.path.join(ROLES, "training", "templates", "cslr-train.j2")}}]}]
    inventory = {"all": {"children": {
        "cslr_cluster": {"hosts": {"node-1": local_host()}},
        "cslr_gpu_hosts": {"hosts": {"node-1": {}} if gpu else {}}}}}
    run_play(tmp_path, inventory, play, extra)
    return json.loads((tmp_path / "out.json").read_text())


def test_a_lab_host_derives_its_fabric_interface_and_passes(tmp_path):
    out = render(tmp_path, recorded(), cslr_training_address="10.213.2.13", cslr_training_interface="eth1",
                 cslr_time_sync="warn")
    assert out["problems"] == []
    assert out["wrapper"].startswith("#!/bin/bash\n")
    assert out["interface"] == "eth1" and out["env"]["NCCL_SOCKET_IFNAME"] == "=eth1"
    assert out["env"]["CSLR_TRAINING_ADDRESS"] == "10.213.2.13"
    assert "NCCL_IB_HCA" not in out["env"] and out["rdma"] is False
    assert "--shm-size 2048m" in out["wrapper"] and "--gpus" not in out["wrapper"]
    assert "--device /dev/infiniband" not in out["wrapper"]
    assert "--ulimit memlock=8388608:8388608" in out["wrapper"] and "--ulimit stack=67108864:67108864" in out["wrapper"]


def test_a_gpu_host_with_rdma_gets_gpus_devices_and_its_adapters(tmp_path):
    out = render(tmp_path, gpu_rdma_host(), gpu=True, cslr_time_sync="warn",
                 cslr_training_nccl_env={"NCCL_IB_GID_INDEX": 3, "NCCL_DEBUG": "WARN", "NCCL_P2P_DISABLE": True},
                 cslr_training_ipc="host",
                 cslr_training_ulimits={"memlock": -1, "stack": 67108864})
    assert out["problems"] == [] and out["rdma"] is True
    assert out["env"]["NCCL_IB_HCA"] == "=mlx5_0,mlx5_1"
    assert out["env"]["NCCL_IB_GID_INDEX"] == "3" and out["env"]["NCCL_DEBUG"] == "WARN"
    assert out["env"]["NCCL_P2P_DISABLE"] == "1"
    wrapper = out["wrapper"]
    assert "--gpus all" in wrapper and "--device /dev/infiniband --cap-add IPC_LOCK" in wrapper
    assert "--ipc host" in wrapper and "--shm-size" not in wrapper and "--ulimit memlock=-1:-1" in wrapper


def test_rdma_can_be_turned_off_on_a_host_that_has_it(tmp_path):
    out = render(tmp_path, gpu_rdma_host(), gpu=True, cslr_time_sync="warn", cslr_training_rdma=False)
    assert out["rdma"] is False and "NCCL_IB_HCA" not in out["env"]
    assert "/dev/infiniband" not in out["wrapper"]


@pytest.mark.parametrize("change, variables, expected", [
    (lambda pf: pf, {"cslr_training_address": "10.213.2.99"},
     "node-1: cslr_training_address 10.213.2.99 is held by no interface of the host."),
    (lambda pf: pf, {"cslr_training_address": "10.213.2.13", "cslr_training_interface": "eth0"},
     "node-1: cslr_training_interface eth0 does not hold the training address 10.213.2.13 (it holds 10.213.1.13)."),
    (lambda pf: pf, {"cslr_training_interface": "ib0"}, "node-1: cslr_training_interface ib0 is not an interface of the host"),
    (lambda pf: dict(pf, listeners={"29500": [{"pid": 4242, "comm": "nginx", "cmdline": "nginx: master process",
                                               "address": "0.0.0.0"}]}), {},
     "node-1: torchrun's ports are taken: port 29500 (pid 4242 nginx: nginx: master process)"),
    (lambda pf: dict(pf, rdma={"hcas": [], "devices": False, "uverbs": []}), {"cslr_training_rdma": True},
     "node-1: cslr_training_rdma is true but the host has no /dev/infiniband"),
    (lambda pf: dict(pf, mem_total_bytes=2 * 1024 ** 3), {"cslr_training_shm_size": "4g", "cslr_ray_shm_size": "512m"},
     "node-1: Ray's /dev/shm (512 MiB) plus cslr_training_shm_size 4g is more than the host's memory (2048 MiB)."),
    (lambda pf: dict(pf, clock=dict(pf["clock"], synchronized=False, daemons=["chrony"], container=None)),
     {"cslr_time_sync": "manage"},
     "node-1: the clock is not synchronised (kernel: unsynchronised; NTP client: chrony)."),
    (lambda pf: dict(pf, clock=dict(pf["clock"], synchronized=False, daemons=[], container="docker")),
     {"cslr_time_sync": "manage"},
     "a docker container shares its machine's clock"),
    (lambda pf: pf, {"cslr_training_ulimits": {"memlock": -1, "stack": 67108864}},
     "node-1: cslr_training_ulimits memlock -1 (unlimited) is more than this machine allows (hard limit 8388608, and "
     "no CAP_SYS_RESOURCE to raise it: a container?)"),
])
def test_preflight_problems(tmp_path, change, variables, expected):
    variables = dict({"cslr_time_sync": "warn"}, **variables) if "cslr_time_sync" not in variables else variables
    out = render(tmp_path, change(copy.deepcopy(recorded())), **variables)
    assert any(expected in p for p in out["problems"]), out["problems"]
    assert all(re.match(r"^node-1: .*Fix: ", p) for p in out["problems"]), out["problems"]


def test_a_python_of_a_torch_venv_on_the_master_port_is_a_problem(tmp_path):
    pf = dict(recorded(), listeners={"29500": [{"pid": 8, "comm": "python3", "address": "0.0.0.0",
                                                "cmdline": "/opt/torch/bin/python3 -m http.server 29500"}]})
    assert render(tmp_path, pf, cslr_time_sync="warn")["problems"]


def test_an_unreadable_clock_is_not_an_unsynchronised_one(tmp_path):
    pf = recorded()
    pf["clock"] = {"synchronized": None, "state": None, "maxerror_us": None, "esterror_us": None,
                   "error": "adjtimex is not available", "daemons": [], "container": None}
    assert render(tmp_path, pf, cslr_time_sync="check")["problems"] == []


def test_a_torch_job_on_the_master_port_is_not_a_problem(tmp_path):
    pf = dict(recorded(), listeners={"29500": [{"pid": 7, "comm": "python3", "address": "0.0.0.0",
                                                "cmdline": "/opt/torch/bin/python3 /opt/torch/bin/torchrun --nnodes=2"}]})
    assert render(tmp_path, pf, cslr_time_sync="warn")["problems"] == []


def test_manage_on_a_machine_without_ntp_client_is_left_to_the_install(tmp_path):
    pf = recorded()
    pf["clock"] = dict(pf["clock"], synchronized=False, daemons=[], container=None)
    assert render(tmp_path, pf, cslr_time_sync="manage")["problems"] == []
    assert render(tmp_path, pf, cslr_time_sync="check")["problems"]


@pytest.fixture(scope="module")
def wrapper(tmp_path_factory):
    """The rendered cslr-train of a lab host, with a `docker` on PATH that prints its arguments."""
    tmp = tmp_path_factory.mktemp("wrapper")
    out = render(tmp, recorded(), cslr_time_sync="warn", cslr_training_image="registry:5000/job:1")
    (tmp / "bin").mkdir()
    script = tmp / "bin" / "cslr-train"
    script.write_text(out["wrapper"])
    docker = tmp / "bin" / "docker"
    docker.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    for path in (script, docker):
        path.chmod(0o755)
    return str(script), dict(os.environ, PATH=str(tmp / "bin") + os.pathsep + os.environ["PATH"])


def run_wrapper(wrapper, *args, image=None):
    script, env = wrapper
    if image is not None:
        env = dict(env, CSLR_TRAINING_IMAGE=image)
    res = subprocess.run(["bash", script] + list(args), capture_output=True, text=True, env=env)
    argv = res.stdout.splitlines()
    if "registry:5000/job:1" in argv or (image and image in argv):
        at = argv.index(image or "registry:5000/job:1")
        return res.returncode, argv[:at], argv[at + 1:]
    return res.returncode, argv, res.stderr


@pytest.mark.parametrize("args, options, command", [
    (["-v", "/data:/data", "-w", "/job", "--", "torchrun", "--nnodes=2", "--", "x"],
     ["-v", "/data:/data", "-w", "/job"], ["torchrun", "--nnodes=2", "--", "x"]),
    (["python", "train.py", "--", "--lr", "1"], [], ["python", "train.py", "--", "--lr", "1"]),
    (["bash", "-c", "echo a -- b"], [], ["bash", "-c", "echo a -- b"]),
    (["--", "python3", "-c", "print(1)"], [], ["python3", "-c", "print(1)"]),
])
def test_cslr_train_splits_docker_options_from_the_command(wrapper, args, options, command):
    rc, before, after = run_wrapper(wrapper, *args)
    assert rc == 0, (before, after)
    assert before[:2] == ["run", "--rm"] and "--network" in before and "/etc/cslr/training.env" in before
    assert before[-len(options):] == options if options else True
    assert after == command


def test_cslr_train_image_from_the_environment_and_errors(wrapper):
    rc, _before, after = run_wrapper(wrapper, "--", "true", image="other:2")
    assert rc == 0 and after == ["true"]
    script, env = wrapper
    printed = subprocess.run(["bash", script, "--print", "--", "echo", "a b"], capture_output=True, text=True, env=env)
    assert printed.returncode == 0 and printed.stdout.startswith("docker run --rm") and "echo a\\ b" in printed.stdout
    none = subprocess.run(["bash", script], capture_output=True, text=True, env=env)
    assert none.returncode == 2 and "no command" in none.stderr
