"""Helpers for testinfra suites: the hosts of an inventory, reached over `docker exec`.

CSLR_TEST_INVENTORY names the inventory (molecule's verify sets it). Hosts are read with
`ansible-inventory`, so tests see exactly the groups and variables the playbooks saw.
"""
import json
import os
import subprocess
import sys

import testinfra


def _ansible_inventory_bin():
    return os.path.join(os.path.dirname(sys.executable), "ansible-inventory")


def load_inventory(path=None):
    path = path or os.environ["CSLR_TEST_INVENTORY"]
    out = subprocess.run(
        [_ansible_inventory_bin(), "-i", path, "--list"],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)


class Lab:
    """Groups, host variables and testinfra hosts of one inventory."""

    def __init__(self, inventory=None):
        self.data = load_inventory(inventory)
        self.hostvars = self.data.get("_meta", {}).get("hostvars", {})

    def group(self, name):
        return list(self.data.get(name, {}).get("hosts", []))

    def host(self, name):
        return testinfra.get_host("docker://" + name)

    def address(self, name):
        return self.hostvars[name]["cslr_cluster_address"]


def run_site(*args):
    """Run the checkout's site.yml against CSLR_TEST_INVENTORY; returns (result, {host: changed})."""
    import re

    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(root, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_FORCE_COLOR", None)  # molecule forces colour; the recap is parsed below
    res = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
                          "-i", os.environ["CSLR_TEST_INVENTORY"], os.path.join(root, "site.yml")] + list(args),
                         capture_output=True, text=True, env=env, cwd=root)
    recap = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", res.stdout, re.M)}
    return res, recap
