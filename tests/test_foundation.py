"""Foundation checks: the collection builds without tests, requirements.yml is satisfied by
the pinned pip package offline, the lab inventory generator, pins are exact."""
import os
import re
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COL = os.path.join(ROOT, "collections", "ansible_collections", "cslr", "platform")
BIN = os.path.dirname(sys.executable)
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import lab_inventory  # noqa: E402


def run(*argv, **kw):
    kw.setdefault("cwd", ROOT)
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def test_collection_builds_without_tests_or_molecule(tmp_path):
    res = run(os.path.join(BIN, "ansible-galaxy"), "collection", "build", COL, "--output-path", str(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    tarballs = list(tmp_path.glob("cslr-platform-*.tar.gz"))
    assert len(tarballs) == 1, res.stdout
    with tarfile.open(tarballs[0]) as tar:
        names = tar.getnames()
    assert "galaxy.yml" not in names and "MANIFEST.json" in names
    assert "meta/runtime.yml" in names
    assert any(n.startswith("roles/docker/") for n in names)
    assert not [n for n in names if n.startswith(("tests/", "molecule/")) or "__pycache__" in n], names


def test_requirements_yml_satisfied_offline(tmp_path):
    # The pinned `ansible` package carries every collection listed: nothing to download.
    env = dict(os.environ, ANSIBLE_GALAXY_SERVER="http://127.0.0.1:9/")
    res = run(os.path.join(BIN, "ansible-galaxy"), "collection", "install", "-r", "requirements.yml", env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Nothing to do" in res.stdout, res.stdout + res.stderr


def test_requirements_yml_lists_the_galaxy_dependencies():
    req = yaml.safe_load(open(os.path.join(ROOT, "requirements.yml")))
    galaxy = yaml.safe_load(open(os.path.join(COL, "galaxy.yml")))
    assert {c["name"] for c in req["collections"]} == set(galaxy["dependencies"])


def test_toolchain_is_pinned():
    for line in open(os.path.join(ROOT, "requirements.txt")):
        line = line.split("#", 1)[0].strip()
        if line:
            assert re.match(r"^[A-Za-z0-9_.\-\[\]]+==[0-9][^ ]*$", line), line


@pytest.mark.parametrize("count", [1, 3, 7])
def test_lab_inventory_shape(count):
    inv = yaml.safe_load(lab_inventory.render(count, "h", "10.9.8", "net"))
    children = inv["all"]["children"]
    hosts = children["cslr_cluster"]["hosts"]
    assert list(hosts) == ["h-%d" % i for i in range(1, count + 1)]
    assert [v["cslr_cluster_address"] for v in hosts.values()] == ["10.9.8.%d" % (10 + i) for i in range(1, count + 1)]
    assert list(children["cslr_ray_head_candidates"]["hosts"]) == list(hosts)[:2]
    assert list(children["cslr_mlflow_hosts"]["hosts"]) == ["h-1"]
    assert inv["all"]["vars"]["cslr_cluster_network"] == "10.9.8.0/24"


def test_lab_inventory_rejects_bad_count():
    with pytest.raises(SystemExit):
        lab_inventory.render(0, "h", "10.9.8", "net")


def test_committed_lab_inventories_are_generated():
    lab = open(os.path.join(ROOT, "inventories", "lab", "hosts.yml")).read()
    assert lab == lab_inventory.render(3, "cslr-lab", "10.213.0", "cslr-lab")
    mol = open(os.path.join(ROOT, "molecule", "default", "inventory", "hosts.yml")).read()
    assert mol == lab_inventory.render(3, "cslr-mol", "10.213.1", "cslr-mol", outsider=True, spares=1, fabric=True)
