"""A settled stack is not brought up again, and one that is not as its compose file wants is, though its
files did not change (cslr.platform.project_files's compose_project check, the compose role's up.yml):
a container created from another configuration (what a run that wrote the files and then failed
leaves behind) is recreated from the compose file, a stopped one is started, and a rerun afterwards
skips `docker compose up --wait` and changes nothing. On the exporters stack of one host, through
tests/playbooks/roles_only.yml (the monitoring role alone, no whole site.yml run). A settled site.yml rerun skipping every
stack's `compose up` is checked by test_awx_runner.py."""
from cslr_testinfra import Lab, changed_tasks, run_roles, task_results

import test_stacks as stacks

LAB = Lab()
HOST = LAB.group("cslr_cluster")[-1]
PROJECT = stacks.PREFIX + "-exporters"
DIR = "/opt/cslr-platform/exporters"
CONTAINER = stacks.PREFIX + "-node-exporter"
UP_TASK = "cslr.platform.compose : Start and wait until healthy, stack exporters"
UP_INCLUDE = "cslr.platform.compose : Bring up stack exporters"  # a settled stack does not include UP_TASK
COMPOSE = "docker compose --project-directory %s --project-name %s --file %s/compose.yaml" % (DIR, PROJECT, DIR)
OVERRIDE = "/tmp/cslr-test-drift.yaml"


def results(stdout, task):
    """{host: 'ok' | 'changed' | 'skipping' | ...} of one task of a playbook's default output."""
    return {host: status for name, status, host in task_results(stdout) if name == task}


def converge(host):
    res, recap = run_roles(["monitoring"], "--limit", HOST)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    return res, recap


def compose_hash(host):
    """Compose's configuration hash of node-exporter (`config --hash` matches the container label for a
    service without env_file, docker/compose#14001)."""
    return host.check_output(COMPOSE + " config --hash node-exporter").split()[1]


def label(host, name):
    return host.check_output("docker inspect -f '{{index .Config.Labels \"%s\"}}' %s" % (name, CONTAINER))


def test_a_container_from_another_configuration_and_a_stopped_one_are_brought_back_then_skipped():
    host = LAB.host(HOST)
    converge(host)
    files = host.check_output("sha256sum %s/compose.yaml", DIR)
    try:
        # What an aborted run leaves: the container of another configuration, the files of this one.
        host.check_output("printf 'services:\\n  node-exporter:\\n    labels: {cslr.test.drift: \"1\"}\\n' > %s",
                          OVERRIDE)
        host.check_output(COMPOSE + " --file %s up --detach --wait node-exporter", OVERRIDE)
        assert label(host, "cslr.test.drift") == "1"
        assert label(host, "com.docker.compose.config-hash") != compose_hash(host)
        res, recap = converge(host)
        assert results(res.stdout, UP_TASK) == {HOST: "changed"}, res.stdout[-4000:]
        assert label(host, "cslr.test.drift") == ""
        assert label(host, "com.docker.compose.config-hash") == compose_hash(host)

        host.check_output("docker stop %s", CONTAINER)
        res, recap = converge(host)
        assert results(res.stdout, UP_TASK) == {HOST: "changed"}, res.stdout[-4000:]
        assert host.check_output("docker inspect -f '{{.State.Running}}' %s", CONTAINER) == "true"

        before = host.check_output("docker inspect -f '{{.Id}}' %s", CONTAINER)
        res, recap = converge(host)
        assert recap[HOST] == 0, changed_tasks(res.stdout)
        assert results(res.stdout, UP_INCLUDE) == {HOST: "skipping"}, res.stdout[-4000:]
        assert results(res.stdout, UP_TASK) == {}, res.stdout[-4000:]
        assert host.check_output("docker inspect -f '{{.Id}}' %s", CONTAINER) == before
        assert host.check_output("sha256sum %s/compose.yaml", DIR) == files
    finally:
        host.run("rm -f %s", OVERRIDE)
        converge(host)
