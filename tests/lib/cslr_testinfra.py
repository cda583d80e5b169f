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
    """path: one inventory source or a list of them (later ones add hosts and groups)."""
    paths = path if isinstance(path, (list, tuple)) else [path or os.environ["CSLR_TEST_INVENTORY"]]
    args = [a for p in paths for a in ("-i", p)]
    out = subprocess.run(
        [_ansible_inventory_bin()] + args + ["--list"],
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

    def var(self, name, variable, default=None):
        return self.hostvars[name].get(variable, default)

    def container_ids(self):
        """{host: sorted IDs of the containers running in its Docker engine}."""
        return {h: sorted(self.host(h).check_output("docker ps -q --no-trunc").split())
                for h in self.group("cslr_cluster")}


ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def run_playbook(playbook, *args):
    """Run a playbook of the checkout (path relative to its root) against CSLR_TEST_INVENTORY;
    returns (result, {host: changed})."""
    import re

    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_FORCE_COLOR", None)  # molecule forces colour; the recap is parsed below
    res = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
                          "-i", os.environ["CSLR_TEST_INVENTORY"], os.path.join(ROOT, playbook)] + list(args),
                         capture_output=True, text=True, env=env, cwd=ROOT)
    recap = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", res.stdout, re.M)}
    return res, recap


def run_site(*args):
    """Run the checkout's site.yml against CSLR_TEST_INVENTORY; returns (result, {host: changed})."""
    return run_playbook("site.yml", *args)
