"""Helpers for testinfra suites: the hosts of an inventory, reached over SSH as the playbooks
reach them (the lab's sudo user and key, host keys checked against the lab's known_hosts;
commands run with sudo).

CSLR_TEST_INVENTORY names the inventory (molecule's verify sets it). Hosts are read with
`ansible-inventory`, so tests see exactly the groups and variables the playbooks saw (vault
files decrypted with ANSIBLE_VAULT_PASSWORD_FILE, which molecule sets).
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
        self._hosts = {}

    def group(self, name):
        return list(self.data.get(name, {}).get("hosts", []))

    def host(self, name, sudo=True):
        """The testinfra host `name` over SSH (as root through sudo, or as the lab user)."""
        key = (name, sudo)
        if key not in self._hosts:
            hv = self.hostvars[name]
            address = hv.get("cslr_cluster_address") or hv["lab_address"]
            state = os.path.join(ROOT, ".lab", hv["lab_network_name"])
            self._hosts[key] = testinfra.get_host(
                "ssh://%s@%s" % (hv.get("ansible_user", "labadmin"), address),
                ssh_identity_file=os.path.join(ROOT, ".lab", "ssh", "id_ed25519"),
                ssh_extra_args=" ".join([
                    "-o UserKnownHostsFile=%s" % os.path.join(state, "known_hosts"),
                    "-o StrictHostKeyChecking=yes", "-o IdentitiesOnly=yes", "-o BatchMode=yes",
                    "-o ControlMaster=auto", "-o ControlPersist=120s", "-o ControlPath=/tmp/cslr-ti-%C",
                ]),
                timeout=30, sudo=sudo)
        return self._hosts[key]

    def address(self, name):
        return self.hostvars[name].get("cslr_cluster_address") or self.hostvars[name]["lab_address"]

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
