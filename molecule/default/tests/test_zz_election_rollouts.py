"""Election across hosts, --limit rollouts, rolling update and head failover (issue 6).

Runs LAST in the scenario (file name): it adds a host, replaces the Ray image and stops head
hosts, in this order, each step starting from the state the previous one left:
  1. the first head candidate is head and sees every host;
  2. a 4th host (lab_spares: created bare with the scenario) added to the inventory and rolled
     out with `--limit`: it joins, and no container of the other hosts is recreated;
  3. playbooks/rolling_update.yml to another Ray image tag (delivered as an archive, the
     air-gapped path): workers first, head last, every node on the new image, the cluster whole
     after every batch;
  4. playbooks/rolling_update.yml to another Ray version (the previous release, also an
     archive) with a job running: head first, every worker in one batch, every node on the new
     version, the job ended by the head's replacement, a task runs on every node;
  5. the head host stopped, site.yml rerun: the second candidate is head, every remaining host
     is in its cluster and runs a Ray task; the old head host comes back as a worker;
  6. the new head host stopped, NO rerun: the entrypoints alone elect the first candidate again
     and every remaining node rejoins it.
The concurrency rule (two candidates starting together -> one head, repeated) is tested on the
entrypoint itself: tests/election/test_entrypoint_race.py.
"""
import json
import re
import shlex
import subprocess
import time

import pytest

from cslr_testinfra import Lab, drop_from_controller, run_playbook, run_site

BASE = Lab()
CANDIDATES = BASE.group("cslr_ray_head_candidates")
HOSTS = BASE.group("cslr_cluster")
SPARE = BASE.group("lab_spares")[0]
SPARE_ADDRESS = BASE.var(SPARE, "lab_address")
PREFIX = BASE.var(CANDIDATES[0], "cslr_project_name", "cslr")
RAY = PREFIX + "-ray"
OLD_IMAGE = BASE.var(CANDIDATES[0], "cslr_ray_image")
NEW_IMAGE = "%s:%s-rolling" % tuple(OLD_IMAGE.rsplit(":", 1))   # REGISTRY:PORT/NAME:TAG-rolling
# The new image exists on the controller only (not in the lab registry): it reaches the hosts by
# the air-gapped path, so that path is tested too.
IMAGE_VARS = ["-e", "cslr_ray_image=" + NEW_IMAGE, "-e", "cslr_ray_gpu_image=" + NEW_IMAGE,
              "-e", "cslr_images_source=archive"]


@pytest.fixture(scope="module")
def extra_inventory(tmp_path_factory):
    """The scenario's inventory plus the spare host as a cluster member."""
    path = tmp_path_factory.mktemp("inv") / "spare.yml"
    path.write_text("all:\n  children:\n    cslr_cluster:\n      hosts:\n        %s:\n          cslr_cluster_address: %s\n"
                    % (SPARE, SPARE_ADDRESS))
    return str(path)


@pytest.fixture(scope="module")
def new_image():
    """Another tag of the Ray image (same Ray version, one more layer), built on the controller,
    removed afterwards with its archive."""
    subprocess.run(["docker", "build", "-q", "-t", NEW_IMAGE, "-"], check=True, capture_output=True, text=True,
                   input="FROM %s\nLABEL org.cslr.test.rolling=%s\n" % (OLD_IMAGE, time.time()))
    yield NEW_IMAGE
    drop_from_controller(NEW_IMAGE, force=True)


def host(name):
    return BASE.host(name)


def ray_role(name):
    return host(name).run("cat /var/lib/cslr-platform/ray/role").stdout.strip()


def alive_ips(head):
    res = host(head).run("docker exec %s ray list nodes --format json --filter state=ALIVE --limit 10000" % RAY)
    if res.rc != 0:
        return None
    try:
        return sorted(n["node_ip"] for n in json.loads(res.stdout))
    except ValueError:   # not JSON: the state API answered while the head was still starting; ask again
        return None


def container_ids(names):
    return {h: sorted(host(h).check_output("docker ps -q --no-trunc").split()) for h in names}


def address(name):
    return SPARE_ADDRESS if name == SPARE else BASE.address(name)


def ok(res):
    """True when the run succeeded; else fails the test with the run's last output."""
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
    return True


def recap(res):
    """{host: {"unreachable": n, "failed": n}} from the play recap."""
    return {m.group(1): {"unreachable": int(m.group(2)), "failed": int(m.group(3))}
            for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=\d+\s+unreachable=(\d+)\s+failed=(\d+)", res.stdout, re.M)}


def wait_for(predicate, timeout, what):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            last = predicate()
        except RuntimeError as e:  # testinfra: ssh itself failed (a host still booting): ask again
            last = e
        if last and not isinstance(last, RuntimeError):
            return last
        time.sleep(5)
    raise AssertionError("timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))


def run_on_every_node(head, expected_ips):
    """A Ray task pinned to each alive node, from a driver in the head container: {node_ip}."""
    code = (
        "import ray, socket\n"
        "from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy as A\n"
        "ray.init(address='auto', logging_level='ERROR')\n"
        "@ray.remote(num_cpus=0)\n"
        "def where():\n    return ray.util.get_node_ip_address()\n"
        "nodes = [n['NodeID'] for n in ray.nodes() if n['Alive']]\n"
        "print(sorted(set(ray.get([where.options(scheduling_strategy=A(n, soft=False)).remote() for n in nodes], timeout=120))))\n")
    out = host(head).check_output("docker exec %s python3 -c %s" % (RAY, shlex.quote(code)))
    assert json.loads(out.strip().splitlines()[-1].replace("'", '"')) == sorted(expected_ips)


def test_first_candidate_is_head_and_sees_every_host():
    head = CANDIDATES[0]
    assert ray_role(head) == "head"
    assert [ray_role(h) for h in HOSTS if h != head] == ["worker"] * (len(HOSTS) - 1)
    assert alive_ips(head) == sorted(BASE.address(h) for h in HOSTS)
    assert "Active:" in host(head).check_output("docker exec %s ray status" % RAY)


def test_limit_rollout_of_a_new_host_leaves_the_others_alone(extra_inventory):
    before = container_ids(HOSTS)
    res, _ = run_site("-i", extra_inventory, "--limit", SPARE)
    assert ok(res)
    assert container_ids(HOSTS) == before, "a container of a host outside the limit was recreated"
    head = CANDIDATES[0]
    assert ray_role(head) == "head" and ray_role(SPARE) == "worker"
    assert alive_ips(head) == sorted([BASE.address(h) for h in HOSTS] + [SPARE_ADDRESS])
    # The peers learnt the new host: firewall rule and /etc/hosts entry, nothing else.
    for peer in HOSTS:
        assert "from %s" % SPARE_ADDRESS in host(peer).check_output("ufw show added"), peer
        assert SPARE in host(peer).file("/etc/hosts").content_string, peer
    # A rerun of the same rollout changes nothing.
    res, changed = run_site("-i", extra_inventory, "--limit", SPARE)
    assert ok(res) and changed.get(SPARE) == 0, changed


def test_rolling_update_to_another_image_workers_first_head_last(extra_inventory, new_image):
    everyone = HOSTS + [SPARE]
    res, _ = run_playbook("playbooks/rolling_update.yml", "-i", extra_inventory, *IMAGE_VARS)
    assert ok(res)
    plays = re.findall(r"^PLAY \[(Update the Ray [^\]]*)\]", res.stdout, re.M)
    assert plays[-1] == "Update the Ray head last (same Ray version)", plays
    assert plays.count("Update the Ray workers") == len(everyone) - 1, plays   # serial 1
    assert len(re.findall(r"node\(s\) alive after updating", res.stdout)) == len(everyone), res.stdout[-3000:]
    for name in everyone:
        image = host(name).check_output("docker inspect -f '{{.Config.Image}}' %s" % RAY)
        assert image == new_image, name
    head = CANDIDATES[0]
    assert ray_role(head) == "head"
    assert wait_for(lambda: alive_ips(head) == sorted(address(h) for h in everyone), 180, "every node back")


# The previous Ray release (scripts/images.sh builds cslr-lab/ray:2.59.0 from images/ray), on the
# controller only: it reaches the hosts as an archive, like NEW_IMAGE.
PREVIOUS_VERSION = "2.59.0"
PREVIOUS_IMAGE = "%s:%s" % (OLD_IMAGE.rsplit(":", 1)[0], PREVIOUS_VERSION)   # REGISTRY:PORT/cslr-lab/ray:2.59.0
# What the head-loss tests' site.yml runs name: the cluster as the version test leaves it.
PREVIOUS_VARS = ["-e", "cslr_ray_image=" + PREVIOUS_IMAGE, "-e", "cslr_ray_gpu_image=" + PREVIOUS_IMAGE,
                 "-e", "cslr_ray_version=" + PREVIOUS_VERSION, "-e", "cslr_images_source=archive"]


@pytest.fixture(scope="module")
def previous_image():
    """Module-scoped: the head-loss tests rerun site.yml on it. The hosts' copies go with the
    scenario's hosts (molecule destroy)."""
    subprocess.run(["docker", "tag", "cslr-lab/ray:%s" % PREVIOUS_VERSION, PREVIOUS_IMAGE], check=True,
                   capture_output=True, text=True)
    yield PREVIOUS_IMAGE
    drop_from_controller(PREVIOUS_IMAGE)


def ray_versions(names):
    return {n: host(n).check_output("docker exec %s ray --version" % RAY).split()[-1] for n in names}


def submit_sleeper(head):
    """A job that runs for 10 minutes, submitted without waiting: its submission ID."""
    out = host(head).check_output("docker exec %s ray job submit --address http://127.0.0.1:8265 --no-wait "
                                  "--submission-id cslr-upgrade-%d -- sleep 600" % (RAY, int(time.time())))
    return re.search(r"(cslr-upgrade-[0-9]+)", out).group(1)


def job_status(head, job_id):
    res = host(head).run("docker exec %s ray job status --address http://127.0.0.1:8265 %s" % (RAY, job_id))
    return res.rc, res.stdout + res.stderr


def test_rolling_update_across_ray_versions_head_first_every_node_on_the_new_version(extra_inventory,
                                                                                     previous_image):
    """To the previous release: a new Ray version either way (the head-first path, the same for an
    upgrade and a downgrade), every worker in one batch (cslr_rolling_update_serial; one at a time
    is the test above's), with a job running, which the head's replacement ends."""
    everyone = HOSTS + [SPARE]
    head = CANDIDATES[0]
    workers = len(everyone) - 1
    job = submit_sleeper(head)
    assert wait_for(lambda: "RUNNING" in job_status(head, job)[1], 120, "the job to run")
    res, _ = run_playbook("playbooks/rolling_update.yml", "-i", extra_inventory,
                          *PREVIOUS_VARS, "-e", json.dumps({"cslr_rolling_update_serial": workers}))
    assert ok(res)
    plays = re.findall(r"^PLAY \[(Update the Ray [^\]]*)\]", res.stdout, re.M)
    assert plays[0] == "Update the Ray head first (new Ray version)", plays
    assert plays.count("Update the Ray workers") == 1, plays   # one play per batch
    assert ray_role(head) == "head"
    assert wait_for(lambda: alive_ips(head) == sorted(address(h) for h in everyone), 180, "every node back")
    assert ray_versions(everyone) == {n: PREVIOUS_VERSION for n in everyone}
    for name in everyone:
        assert host(name).check_output("docker inspect -f '{{.Config.Image}}' %s" % RAY) == previous_image, name
    # docs/operations.md: replacing the head ends every running job (the new head does not know it).
    rc, out = job_status(head, job)
    assert rc != 0 or "RUNNING" not in out, out
    # A job runs on the updated cluster, on every node.
    run_on_every_node(head, [address(h) for h in everyone])


def test_head_lost_rerun_elects_the_second_candidate(extra_inventory, previous_image):
    old_head, new_head = CANDIDATES[0], CANDIDATES[1]
    remaining = [h for h in HOSTS + [SPARE] if h != old_head]
    subprocess.run(["docker", "stop", old_head], check=True, capture_output=True)
    try:
        # Workers one at a time (cslr_ray_worker_serial): each batch joins before the next starts.
        res, _ = run_site("-i", extra_inventory, "-e", '{"cslr_ray_worker_serial": 1}', *PREVIOUS_VARS)
        # The lost host fails (the play goes on without it); nothing else may fail.
        stats = recap(res)
        assert old_head in stats and all(h in stats for h in remaining), res.stdout[-6000:] + res.stderr[-2000:]
        assert stats[old_head]["failed"] + stats[old_head]["unreachable"] >= 1, res.stdout[-3000:]
        assert all(stats[h] == {"failed": 0, "unreachable": 0} for h in remaining), res.stdout[-6000:]
        assert "Ray head: %s" % new_head in res.stdout
        workers = [h for h in remaining if h != new_head]
        for n, host in enumerate(workers, 1):
            assert "Ray workers, batch %d of %d: %s" % (n, len(workers), host) in res.stdout, res.stdout[-6000:]
        assert ray_role(new_head) == "head"
        assert alive_ips(new_head) == sorted(address(h) for h in remaining)
        run_on_every_node(new_head, [address(h) for h in remaining])
    finally:
        # The old head host comes back (also when the test failed: the next test needs it): its
        # node joins the new head as a worker (no second head).
        subprocess.run(["docker", "start", old_head], check=True, capture_output=True)
    everyone = sorted(address(h) for h in HOSTS + [SPARE])
    wait_for(lambda: alive_ips(new_head) == everyone, 240, "the old head host to rejoin")
    assert ray_role(old_head) == "worker" and ray_role(new_head) == "head"


def test_head_lost_entrypoints_fail_over_without_a_rerun():
    lost, survivor = CANDIDATES[1], CANDIDATES[0]
    remaining = [h for h in HOSTS + [SPARE] if h != lost]
    subprocess.run(["docker", "stop", lost], check=True, capture_output=True)
    # Workers' raylets give up on the lost GCS (Ray: 60 s), their containers restart, the
    # remaining candidate claims the head and everyone joins it. No Ansible involved.
    wait_for(lambda: ray_role(survivor) == "head" and alive_ips(survivor) == sorted(address(h) for h in remaining),
             420, "the entrypoints to elect %s and rejoin" % survivor)
    assert [ray_role(h) for h in remaining if h != survivor] == ["worker"] * (len(remaining) - 1)
    run_on_every_node(survivor, [address(h) for h in remaining])
