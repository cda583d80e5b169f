"""Real-host conditions on the converged scenario: the controller reaches every host over SSH as
the non-root lab user and escalates with sudo (the playbooks declare become); ufw can never lock
the controller out; images came from the lab registry (pull mode, TLS with the lab's CA, a
login from the vault), and a wrong registry password stops a run before any stack changes.

SSH checks open NEW connections (no ControlMaster reuse): a rule that only spares established
sessions would pass with a persisted connection and still lock the next run out.
"""
import pytest

from cslr_testinfra import Lab, run_site

LAB = Lab()
HOSTS = LAB.group("cslr_cluster")
OUTSIDER = LAB.group("lab_outsiders")[0]
TARGET = HOSTS[-1]
PEER = HOSTS[0]
HV = LAB.hostvars[TARGET]
REGISTRY = HV["cslr_images_registry_url"]

def ok(res):
    """True when the run succeeded; else fails the test with the run's last output."""
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-2000:]
    return True


@pytest.fixture(scope="module")
def controller_address():
    """The controller's address as the hosts see it (the source of its SSH connections)."""
    out = LAB.fresh_ssh(TARGET, "printenv SSH_CONNECTION")
    assert out.returncode == 0, out.stderr
    return out.stdout.split()[0]


def test_ansible_logs_in_as_the_lab_user_and_escalates_with_sudo():
    out = LAB.fresh_ssh(TARGET, "id -un; sudo -n id -un")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [HV.get("ansible_user", "labadmin"), "root"]
    # No root login, no passwords: key only.
    sshd = LAB.host(TARGET).check_output("sshd -T")
    assert "permitrootlogin no" in sshd and "passwordauthentication no" in sshd


def test_ssh_stays_open_when_ufw_goes_from_inactive_to_active(controller_address):
    host = LAB.host(TARGET)
    host.check_output("ufw --force disable")
    assert "Status: inactive" in host.check_output("ufw status")
    res, _ = run_site("--limit", TARGET, "--tags", "firewall")
    assert ok(res)
    assert "Status: active" in host.check_output("ufw status")
    assert LAB.fresh_ssh(TARGET).returncode == 0
    assert LAB.reachable(OUTSIDER, LAB.address(TARGET), 22)      # default: SSH from anywhere


def test_narrowed_ssh_sources_keep_the_controller_and_shut_out_the_rest(controller_address):
    narrow = '{"cslr_firewall_ssh_sources": ["%s/32"]}' % controller_address
    try:
        res, _ = run_site("--limit", TARGET, "--tags", "firewall", "-e", narrow)
        assert ok(res)
        assert LAB.fresh_ssh(TARGET).returncode == 0, "the controller was locked out"
        assert not LAB.reachable(OUTSIDER, LAB.address(TARGET), 22), "the outsider still reaches SSH"
        assert not LAB.reachable(PEER, LAB.address(TARGET), 22), "a host outside the SSH sources reaches SSH"
        ssh_rules = [ln for ln in LAB.host(TARGET).check_output("ufw show added").splitlines() if "'cslr ssh'" in ln]
        assert ssh_rules and all("from %s" % controller_address in ln for ln in ssh_rules), ssh_rules
    finally:
        res, _ = run_site("--limit", TARGET, "--tags", "firewall")
        assert ok(res)
    assert LAB.reachable(OUTSIDER, LAB.address(TARGET), 22)


def test_ssh_sources_without_the_controller_are_refused_before_any_rule_changes(controller_address):
    host = LAB.host(TARGET)
    before = host.check_output("ufw show added")
    res, _ = run_site("--limit", TARGET, "--tags", "firewall", "-e", '{"cslr_firewall_ssh_sources": ["192.0.2.0/24"]}')
    assert res.returncode != 0
    assert "does not include %s" % controller_address in res.stdout and "lock it out" in res.stdout, res.stdout[-3000:]
    assert host.check_output("ufw show added") == before
    assert LAB.fresh_ssh(TARGET).returncode == 0


@pytest.mark.parametrize("name", HOSTS)
def test_images_were_pulled_from_the_lab_registry_over_tls(name):
    host = LAB.host(name)
    image = LAB.hostvars[name]["cslr_ray_image"]
    assert image.startswith(REGISTRY + "/")
    digests = host.check_output("docker image inspect --format '{{join .RepoDigests \" \"}}' %s", image)
    assert digests.startswith(REGISTRY + "/"), digests   # a pulled image has the registry's digest
    assert host.file("/etc/docker/certs.d/%s/ca.crt" % REGISTRY).contains("BEGIN CERTIFICATE")
    daemon = host.file("/etc/docker/daemon.json").content_string
    assert "insecure-registries" not in daemon


def test_the_registry_refuses_anonymous_pulls():
    res = LAB.host(TARGET).run("docker logout %s >/dev/null; docker pull %s/cslr-lab/health:1", REGISTRY, REGISTRY)
    assert res.rc != 0 and ("no basic auth credentials" in res.stderr or "unauthorized" in res.stderr.lower()), res.stderr


def test_a_wrong_registry_password_stops_the_run_before_any_stack_changes():
    before = LAB.container_ids()
    res, _ = run_site("-e", '{"cslr_images_registry_password": "not-the-password"}')
    assert res.returncode != 0
    out = res.stdout
    assert "logging in to the registry %s" % REGISTRY in out and "cslr_images_registry_password" in out, out[-4000:]
    assert "not-the-password" not in out + res.stderr
    assert "Deploy the stacks" not in out, "the run went on to the stacks"
    assert LAB.container_ids() == before
    # The right password works again (and logs the hosts back in).
    res, changed = run_site("--tags", "images")
    assert ok(res)
