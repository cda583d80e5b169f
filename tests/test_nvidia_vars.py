"""The nvidia role's CUDA requirement, as the role computes it (its vars/main.yml, rendered by
Ansible): from cslr_nvidia_required_cuda, else the GPU image tag (-cu128 -> 12.8), else nothing
to check (gpu_facts is then not given required_cuda: an empty version is an error there)."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VARS = os.path.join(ROOT, "collections", "ansible_collections", "cslr", "platform", "roles", "nvidia", "vars",
                    "main.yml")
FACTS = os.path.join(os.path.dirname(VARS), "..", "tasks", "facts.yml")


@pytest.mark.parametrize("image, required, expected", [
    ("rayproject/ray:2.60.0-py311-gpu", None, None),
    ("rayproject/ray:2.60.0-py311-cu128", None, "12.8"),
    ("rayproject/ray:2.60.0-py311-cu121", None, "12.1"),
    ("rayproject/ray:2.60.0-py311-gpu", "12.4", "12.4"),
    ("rayproject/ray:2.60.0-py311-cu128", "12.6", "12.6"),
])
def test_required_cuda(tmp_path, image, required, expected):
    # The same expression as the gpu_facts task's required_cuda (read from facts.yml).
    expr = [line.split("required_cuda:", 1)[1].strip() for line in open(FACTS)
            if line.strip().startswith("required_cuda:")][0]
    play = [{"hosts": "gpu-1", "gather_facts": False,
             "vars": {"cslr_ray_gpu_image": image, "cslr_nvidia_required_cuda": required},
             "tasks": [{"ansible.builtin.include_vars": VARS},
                       {"ansible.builtin.set_fact": {"result": expr.strip('"').replace("omit", "'<omitted>'")}},
                       {"ansible.builtin.debug": {"msg": "RESULT={{ result | to_json }}"}}]}]
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"cslr_gpu_hosts": {"hosts": {"gpu-1": {"ansible_connection": "local"}}}}))
    path = tmp_path / "play.yml"
    path.write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    res = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory),
                          str(path)], capture_output=True, text=True, cwd=ROOT, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    value = json.loads(res.stdout.split("RESULT=", 1)[1].split("\n")[0].strip().rstrip("'"))
    assert value == (expected if expected is not None else "<omitted>")
