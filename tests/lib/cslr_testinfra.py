"""Helpers for testinfra suites: the hosts of an inventory, reached over SSH as the playbooks
reach them (the lab's sudo user and key, host keys checked against the lab's known_hosts;
commands run with sudo).

CSLR_TEST_INVENTORY names the inventory (molecule's verify sets it). Hosts are read with
`ansible-inventory`, so tests see exactly the groups and variables the playbooks saw (vault
files decrypted with ANSIBLE_VAULT_PASSWORD_FILE, which molecule sets).
"""
import json
import os
import re
import subprocess
import sys

import testinfra


def config_spec():
    """The collection's variable table (the module the validator, the defaults and the docs come from)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "collections")
    if path not in sys.path:
        sys.path.insert(0, path)
    from ansible_collections.cslr.platform.plugins.module_utils import _config_spec
    return _config_spec


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

    def ssh_options(self, name):
        """`ssh -o` options that reach `name` as the playbooks do: the lab's known_hosts, strictly."""
        state = os.path.join(ROOT, ".lab", self.hostvars[name]["lab_network_name"])
        return ["UserKnownHostsFile=%s" % os.path.join(state, "known_hosts"), "StrictHostKeyChecking=yes",
                "IdentitiesOnly=yes", "BatchMode=yes"]

    def ssh_target(self, name):
        """user@address of `name` (the lab user)."""
        return "%s@%s" % (self.hostvars[name].get("ansible_user", "labadmin"), self.address(name))

    def host(self, name, sudo=True):
        """The testinfra host `name` over SSH (as root through sudo, or as the lab user)."""
        key = (name, sudo)
        if key not in self._hosts:
            options = self.ssh_options(name) + ["ControlMaster=auto", "ControlPersist=120s",
                                                "ControlPath=/tmp/cslr-ti-%C"]
            self._hosts[key] = testinfra.get_host(
                "ssh://" + self.ssh_target(name), ssh_identity_file=SSH_KEY,
                ssh_extra_args=" ".join("-o " + o for o in options), timeout=30, sudo=sudo)
        return self._hosts[key]

    def fresh_ssh(self, name, command="true"):
        """`command` over a NEW SSH connection to `name` as the lab user (no shared master)."""
        argv = ["ssh", "-i", SSH_KEY, "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "ConnectTimeout=5"]
        for option in self.ssh_options(name):
            argv += ["-o", option]
        return subprocess.run(argv + [self.ssh_target(name), command], capture_output=True, text=True, timeout=30)

    def reachable(self, src, address, port):
        """Whether a TCP connection from host `src` to address:port succeeds (3 s timeout)."""
        return self.host(src).run("python3 -c %s %s %s", _CONNECT, address, str(port)).rc == 0

    def address(self, name):
        return self.hostvars[name].get("cslr_cluster_address") or self.hostvars[name]["lab_address"]

    def var(self, name, variable, default=None):
        return self.hostvars[name].get(variable, default)

    def setting(self, name, variable):
        """A platform variable as the playbooks see it on host name: the inventory's value, else the
        default of the variable table (plugins/module_utils/_config_spec.py), never a copy of it."""
        if variable in self.hostvars[name]:
            return self.hostvars[name][variable]
        return config_spec().BY_NAME[variable].default

    def ray_token_file(self):
        """The controller's file of the cluster's generated Ray token (cslr_secrets_dir of the lab:
        .lab/<network>/secrets, removed with the lab)."""
        any_host = self.group("cslr_cluster")[0]
        project = self.hostvars[any_host].get("cslr_project_name", "cslr")
        return os.path.join(ROOT, ".lab", self.hostvars[any_host]["lab_network_name"], "secrets",
                            project + "-ray-auth-token")

    def ray_token(self):
        with open(self.ray_token_file()) as handle:
            return handle.read().strip()

    def container_ids(self):
        """{host: sorted IDs of the containers running in its Docker engine}."""
        return {h: sorted(self.host(h).check_output("docker ps -q --no-trunc").split())
                for h in self.group("cslr_cluster")}


ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SSH_KEY = os.path.join(ROOT, ".lab", "ssh", "id_ed25519")   # the lab's key (playbooks/lab/create.yml)
_CONNECT = ("import socket, sys\n"
            "try:\n"
            "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()\n"
            "except OSError as e:\n"
            "    print(e); sys.exit(1)\n")


# A playbook run that hangs must fail its test with what it printed, not stall the suite until CI
# kills it with no report: each run gets PLAYBOOK_TIMEOUT seconds, and never runs past the suite's
# deadline (CSLR_SUITE_DEADLINE, epoch seconds: .ci/run sets it, TEST_BUDGET=SECONDS make test too; see conftest.py).
PLAYBOOK_TIMEOUT = 1500


def suite_deadline():
    """The suite's deadline (epoch seconds) from CSLR_SUITE_DEADLINE, or None."""
    value = os.environ.get("CSLR_SUITE_DEADLINE", "").strip()
    return float(value) if value else None


def run_limit(timeout=None):
    """Seconds a run of a test may take: timeout (else PLAYBOOK_TIMEOUT), never past the suite's
    deadline plus a minute (at least a minute)."""
    import time

    limit = timeout or PLAYBOOK_TIMEOUT
    deadline = suite_deadline()
    if deadline is not None:
        limit = max(60, min(limit, deadline + 60 - time.time()))
    return limit


def run_bounded(argv, timeout=None, **kwargs):
    """subprocess.run(argv, capture_output=True, text=True, **kwargs) with a time limit (timeout, else
    PLAYBOOK_TIMEOUT; never past the suite's deadline plus a minute). On expiry the command's whole
    process group is killed and the test fails with the tail of what it printed."""
    import signal

    limit = run_limit(timeout)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **kwargs)
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        out = err = ""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
                out, err = proc.communicate(timeout=20)
                break
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                out, err = proc.communicate()
                break
        raise AssertionError("%s was stopped after %d s (the time limit of one run; CSLR_SUITE_DEADLINE): "
                             "the end of its output:\n%s\n%s" % (" ".join(argv[:3] + ["..."]), limit,
                                                                   (out or "")[-6000:], (err or "")[-2000:]))
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def run_playbook(playbook, *args, **env_overrides):
    """Run a playbook of the checkout (path relative to its root) against CSLR_TEST_INVENTORY;
    returns (result, {host: changed}). Keyword arguments are environment variables of the run."""
    import re

    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1", **env_overrides)
    env.pop("ANSIBLE_FORCE_COLOR", None)  # molecule forces colour; the recap is parsed below
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
            "-i", os.environ["CSLR_TEST_INVENTORY"], os.path.join(ROOT, playbook)] + list(args)
    res = run_bounded(argv, env=env, cwd=ROOT)
    recap = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", res.stdout, re.M)}
    return res, recap


def task_results(stdout):
    """(task, status, host) of each host's result line in a playbook's default output, status being
    ok, changed, skipping, failed or fatal, task the name of the TASK or RUNNING HANDLER above it."""
    import re

    task, out = None, []
    for line in stdout.splitlines():
        m = re.match(r"^(TASK|RUNNING HANDLER) \[(.*)\]", line)
        if m:
            task = m.group(2)
            continue
        m = re.match(r"^(ok|changed|skipping|failed|fatal): \[([^\]]+)\]", line)
        if m:
            out.append((task, m.group(1), m.group(2)))
    return out


def changed_tasks(stdout):
    """The tasks of a playbook's output that reported a change, as 'TASK name: host' lines (for
    assertion messages: a recap count alone does not say what changed)."""
    return ["%s: %s" % (task, host) for task, status, host in task_results(stdout) if status == "changed"]


def run_roles(roles, *args):
    """Run only the collection's roles named in roles, in order (tests/playbooks/roles_only.yml: facts
    gathered as site.yml's host preparation does), against CSLR_TEST_INVENTORY; returns (result,
    {host: changed})."""
    return run_playbook("tests/playbooks/roles_only.yml", "-e", json.dumps({"test_roles": list(roles)}), *args)


def run_site(*args):
    """Run the checkout's site.yml against CSLR_TEST_INVENTORY; returns (result, {host: changed})."""
    return run_playbook("site.yml", *args)


def controller_archive(ref):
    """Where the images role keeps the controller's archive of image ref for cslr_images_source
    archive (cslr_images_archive_dir's default, the name with / : @ as _)."""
    return os.path.expanduser("~/.cache/cslr-platform/images/%s.tar" % re.sub(r"[/:@]", "_", ref))


def drop_from_controller(ref, force=False):
    """Remove a test's image ref from the controller's engine (docker rmi, -f with force) and its
    archive, if the run made one."""
    subprocess.run(["docker", "rmi"] + (["-f"] if force else []) + [ref], capture_output=True)
    archive = controller_archive(ref)
    if os.path.exists(archive):
        os.unlink(archive)
