"""The health stack's compose file as Ansible renders it (roles/health/vars/main.yml and
templates/compose.yaml.j2 on the controller, no host): which directories' filesystems the
health service reports (issue 22) and how it reaches them: an empty directory inside each,
mounted read-only, never the directory itself."""
import os

import pytest
import yaml

from cslr_render import ROLES, local_host, run_play


def render(tmp_path, gpu=False, **extra):
    """The health service of the compose file of host node-1 for these variables."""
    extra = dict({"cslr_cluster_address": "10.213.1.13", "role_path": os.path.join(ROLES, "health")}, **extra)
    play = [{"hosts": "node-1", "gather_facts": False, "tasks": [
        {"ansible.builtin.include_vars": os.path.join(ROLES, "config", "defaults", "main.yml")},
        {"ansible.builtin.include_vars": os.path.join(ROLES, "health", "vars", "main.yml")},
        {"ansible.builtin.copy": {
            "dest": str(tmp_path / "compose.yaml"), "mode": "0600",
            "content": "{{ lookup('ansible.builtin.template', '%s') }}"
                       % os.path.join(ROLES, "health", "templates", "compose.yaml.j2")}}]}]
    inventory = {"all": {"children": {
        "cslr_cluster": {"hosts": {"node-1": local_host()}},
        "cslr_gpu_hosts": {"hosts": {"node-1": {}} if gpu else {}}}}}
    run_play(tmp_path, inventory, play, extra)
    return yaml.safe_load((tmp_path / "compose.yaml").read_text())["services"]["health"]


@pytest.mark.parametrize("gpu, extra, disks", [
    # A CPU host with Ray: the platform's data and Ray's logs.
    (False, {}, [("data", "/opt/cslr-platform"), ("ray_logs", "/var/log/cslr-platform/ray")]),
    # A GPU host is a training host (cslr_training_enabled null): its checkpoints too.
    (True, {}, [("data", "/opt/cslr-platform"), ("ray_logs", "/var/log/cslr-platform/ray"),
                ("checkpoints", "/var/lib/cslr-platform/checkpoints")]),
    (False, {"cslr_ray_enabled": False, "cslr_training_enabled": True, "cslr_base_dir": "/srv/cslr",
             "cslr_checkpoint_dir": "/srv/cslr/ckpt"},
     [("data", "/srv/cslr"), ("checkpoints", "/srv/cslr/ckpt")]),
])
def test_the_health_service_reads_each_directorys_filesystem_through_an_empty_mount(tmp_path, gpu, extra, disks):
    health = render(tmp_path, gpu=gpu, **extra)
    assert health["environment"]["CSLR_DISK_ROOT"] == "/cslr-disk"
    assert health["environment"]["CSLR_DISK_PATHS"] == ",".join("%s=%s" % d for d in disks)
    mounts = [v for v in health["volumes"] if ":/cslr-disk/" in v]
    # At /cslr-disk/<name>: nested directories (checkpoints inside the base directory) still mount.
    assert mounts == ["%s/.cslr-disk:/cslr-disk/%s:ro" % (path, name) for name, path in disks]
    # None of those directories is mounted itself.
    for _name, path in disks:
        assert not [v for v in health["volumes"] if v.startswith(path + ":")], health["volumes"]
