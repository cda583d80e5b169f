"""Custom images (cslr_images_build, the original `ws up --build`): a small Dockerfile on top of
the lab Ray image is built once on the controller, pushed to the lab registry, pulled by every
host and run as the Ray image (the cluster whole on it, the file it adds inside every node); an
image whose Ray is another version is refused after the build, before any host changes. The
cluster is back on the stock image afterwards."""
import json
import os
import subprocess
import tempfile
import uuid

import pytest

from cslr_testinfra import Lab, changed_tasks, run_site

LAB = Lab()
HOSTS = LAB.group("cslr_cluster")
HV = LAB.hostvars[HOSTS[0]]
PREFIX = HV.get("cslr_project_name", "cslr")
REGISTRY = HV["cslr_images_registry_url"]
BASE = HV["cslr_ray_image"]
VERSION = HV["cslr_ray_version"]

DOCKERFILE = """ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN echo "cslr custom image %(marker)s" > /opt/cslr-custom-marker
%(extra)s
"""
# Shadows the real Ray module: `import ray` reports another version (no network needed).
FAKE_RAY = ("RUN mkdir -p /opt/fake-ray/ray && echo \"__version__ = '2.59.0'\" > /opt/fake-ray/ray/__init__.py\n"
            "ENV PYTHONPATH=/opt/fake-ray")


def context(marker, extra=""):
    path = tempfile.mkdtemp(prefix="cslr-custom-")
    with open(os.path.join(path, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE % {"marker": marker, "extra": extra})
    return path


def build_vars(image, ctx):
    return json.dumps({"cslr_images_build": [{"image": image, "context": ctx, "args": {"BASE_IMAGE": BASE}}],
                       "cslr_ray_image": image, "cslr_ray_gpu_image": image})


def ray_container_ids():
    return {h: LAB.host(h).check_output("docker inspect -f '{{.Id}}' %s-ray", PREFIX).strip() for h in HOSTS}


def cleanup(image):
    subprocess.run(["docker", "rmi", "-f", image], capture_output=True)
    for name in HOSTS:
        LAB.host(name).run("docker rmi %s", image)


def test_a_custom_ray_image_builds_ships_and_runs_on_every_host():
    marker = uuid.uuid4().hex[:8]
    image = "%s/cslr-lab/ray-custom:%s-%s" % (REGISTRY, VERSION, marker)
    ctx = context(marker)
    try:
        res, recap = run_site("-e", build_vars(image, ctx))
        assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-2000:]
        assert "Build each custom image" in res.stdout
        for name in HOSTS:
            host = LAB.host(name)
            assert host.check_output("docker inspect -f '{{.Config.Image}}' %s-ray", PREFIX).strip() == image, name
            assert host.check_output("docker exec %s-ray cat /opt/cslr-custom-marker", PREFIX).strip() \
                == "cslr custom image %s" % marker, name
        # A rerun builds again from the cache (same ID) and changes nothing.
        res, recap = run_site("-e", build_vars(image, ctx))
        assert res.returncode == 0, res.stdout[-5000:]
        assert set(recap.values()) == {0}, (recap, changed_tasks(res.stdout))
    finally:
        res, _ = run_site()
        assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-2000:]
        cleanup(image)
    for name in HOSTS:
        assert LAB.host(name).check_output("docker inspect -f '{{.Config.Image}}' %s-ray", PREFIX).strip() == BASE


def test_a_custom_ray_image_of_another_ray_version_is_refused_before_any_host_changes():
    marker = uuid.uuid4().hex[:8]
    image = "%s/cslr-lab/ray-custom:%s-%s" % (REGISTRY, VERSION, marker)
    before = ray_container_ids()
    try:
        res, recap = run_site("-e", build_vars(image, context(marker, FAKE_RAY)))
        assert res.returncode != 0
        assert "holds Ray 2.59.0" in res.stdout and "the cluster runs Ray %s" % VERSION in res.stdout, res.stdout[-4000:]
        # Nothing changed on any host: the one change is the build, on the controller (reported for
        # the host that ran the run-once task).
        changed = {block.split("]", 1)[0] for block in res.stdout.split("TASK [")[1:] if "\nchanged: [" in block}
        assert changed == {"cslr.platform.images : Build each custom image"}, changed
        assert ray_container_ids() == before
        for name in HOSTS:  # never pushed, never pulled
            assert LAB.host(name).run("docker image inspect %s", image).rc != 0
    finally:
        cleanup(image)


@pytest.mark.parametrize("image, message", [
    ("cslr-lab/ray-custom:2.60.0-x", "does not name cslr_images_registry_url"),
])
def test_a_custom_image_outside_the_registry_is_refused_by_the_validator(image, message):
    res, _ = run_site("-e", build_vars(image, "/nonexistent"))
    assert res.returncode != 0
    assert message in res.stdout and "no host was contacted or changed" in res.stdout, res.stdout[-3000:]
