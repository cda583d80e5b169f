"""Custom images (cslr_images_build, the original `ws up --build`) and the rotation of the Ray
token, which share three restarts of the whole cluster:
  1. a run with a new token restarts every node: the cluster is whole, the old token is refused,
     the new one submits a job that runs;
  2. a run back on the generated token that also names a custom image (a small Dockerfile on top
     of the lab Ray image, built once on the controller, pushed to the lab registry, pulled by
     every host): every node runs it (the file it adds is inside), the cluster is whole, the
     generated token works again and the rotated one is refused;
  3. back on the stock image (the Ray role alone): every node runs it, the cluster is whole.
That a rerun of a build from Docker's cache changes nothing is the molecule idempotence step's:
the lab's converge builds the job image the same way (cslr_images_build). An image whose Ray is
another version is refused after the build, before any host changes."""
import json
import os
import subprocess
import tempfile
import uuid

import pytest

from cslr_testinfra import Lab, run_roles, run_site

import test_ray_auth as auth

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


def ray_inspect(field):
    """{host: one field of its Ray container's `docker inspect`}, e.g. ray_inspect(".Id")."""
    return {h: LAB.host(h).check_output("docker inspect -f %s %s-ray", "{{%s}}" % field, PREFIX).strip()
            for h in HOSTS}


def alive_nodes():
    host = LAB.host(HOSTS[0])
    out = host.check_output("docker exec %s-ray python3 -c %s", PREFIX,
                            "import ray, json; ray.init(address='auto', logging_level='ERROR'); "
                            "print(json.dumps(sorted(n['NodeManagerAddress'] for n in ray.nodes() if n['Alive'])))")
    return json.loads(out.strip().splitlines()[-1])


def cleanup(image):
    subprocess.run(["docker", "rmi", "-f", image], capture_output=True)
    for name in HOSTS:
        LAB.host(name).run("docker rmi %s", image)


def test_rotation_then_a_custom_image_then_back_each_restarts_every_node():
    generated = LAB.ray_token()
    rotated = "rotated" + "Q7" * 20
    expected = sorted(LAB.address(h) for h in HOSTS)
    jobs_url = "http://%s:%s/api/jobs/" % (auth.head_address(), auth.DASHBOARD_PORT)
    marker = uuid.uuid4().hex[:8]
    image = "%s/cslr-lab/ray-custom:%s-%s" % (REGISTRY, VERSION, marker)
    try:
        # 1. Rotation alone.
        started = ray_inspect(".State.StartedAt")
        res, _ = run_site("-e", json.dumps({"cslr_ray_auth_token": rotated}))
        assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-2000:]
        assert rotated not in res.stdout + res.stderr, "the token is printed"
        assert all(v != started[h] for h, v in ray_inspect(".State.StartedAt").items()), "a node was not restarted"
        for name in HOSTS:
            assert LAB.host(name).file(auth.TOKEN_FILE).content_string.strip() == rotated, name
        assert alive_nodes() == expected
        assert auth.http_from_workstation(jobs_url, token=generated)[0] == 403
        auth.submit_and_wait(rotated)

        # 2. Back on the generated token, on a custom image.
        res, _ = run_site("-e", build_vars(image, context(marker)))
        assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-2000:]
        assert "Build each custom image" in res.stdout
        assert ray_inspect(".Config.Image") == {h: image for h in HOSTS}
        for name in HOSTS:
            assert LAB.host(name).check_output("docker exec %s-ray cat /opt/cslr-custom-marker", PREFIX).strip() \
                == "cslr custom image %s" % marker, name
        assert LAB.ray_token() == generated, "the generated token changed"
        assert alive_nodes() == expected
        assert auth.http_from_workstation(jobs_url, token=rotated)[0] == 403
        auth.submit_and_wait(generated)
    finally:
        # 3. Back on the stock image (and the generated token, also when the test failed): the Ray
        # role alone, the one that changes (the stock image is on every host since the converge).
        res, _ = run_roles(["ray"])
        assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-2000:]
        cleanup(image)
    assert ray_inspect(".Config.Image") == {h: BASE for h in HOSTS}
    assert alive_nodes() == expected


def test_a_custom_ray_image_of_another_ray_version_is_refused_before_any_host_changes():
    marker = uuid.uuid4().hex[:8]
    image = "%s/cslr-lab/ray-custom:%s-%s" % (REGISTRY, VERSION, marker)
    before = ray_inspect(".Id")
    try:
        res, recap = run_site("-e", build_vars(image, context(marker, FAKE_RAY)))
        assert res.returncode != 0
        assert "holds Ray 2.59.0" in res.stdout and "the cluster runs Ray %s" % VERSION in res.stdout, res.stdout[-4000:]
        # Nothing changed on any host: the one change is the build, on the controller (reported for
        # the host that ran the run-once task).
        changed = {block.split("]", 1)[0] for block in res.stdout.split("TASK [")[1:] if "\nchanged: [" in block}
        assert changed == {"cslr.platform.images : Build each custom image"}, changed
        assert ray_inspect(".Id") == before
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
