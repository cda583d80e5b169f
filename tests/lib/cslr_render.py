"""Render a role's vars and templates on the controller, no host: the tests/test_*_render.py
tests run a small play with ansible-playbook against a local inventory and read what it wrote."""
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ROLES = os.path.join(ROOT, "collections", "ansible_collections", "cslr", "platform", "roles")


def local_host(**variables):
    """An inventory host run on this machine, with this Python, and `variables`."""
    return dict(variables, ansible_connection="local", ansible_python_interpreter=sys.executable)


def run_play(tmp_path, inventory, play, extra=None):
    """ansible-playbook of `play` (a list of plays) against `inventory` (a dict), with the extra
    variables `extra` (a dict) when given; the test fails with the run's output when it fails."""
    (tmp_path / "hosts.json").write_text(json.dumps(inventory))
    (tmp_path / "play.json").write_text(json.dumps(play))
    args = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
            "-i", str(tmp_path / "hosts.json"), str(tmp_path / "play.json")]
    if extra is not None:
        (tmp_path / "extra.json").write_text(json.dumps(extra))
        args += ["-e", "@" + str(tmp_path / "extra.json")]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    res = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    return res
