"""The MLflow role's PostgreSQL major-version values, as Ansible renders them (its vars/main.yml
and templates/compose.yaml.j2 on the controller, no host), from recorded module results: the data
directory's PG_VERSION in either official layout (up to 17: at the volume's root; from 18: in
<major>/docker), the image's PG_MAJOR or its tag, and where the compose file mounts the volume.
The lab has no PostgreSQL 18 image: the 18 layout is checked here."""
import json
import os

import pytest

from cslr_render import ROLES, local_host, run_play

MOUNT = "/var/lib/docker/volumes/cslr-mlflow-postgres/_data"


def registered(version_files, env, image="postgres:17"):
    """The registered results postgres_major.yml reads, for a volume holding version_files."""
    return {
        "test_image": image,  # set_fact below: include_vars of the defaults beats host vars
        "__pg_volume": {"exists": True, "volume": {"Mountpoint": MOUNT}},
        # postgres_major.yml stats <volume>/PG_VERSION and <volume>/<N>/docker/PG_VERSION for each
        # directory N found: the stat results of those paths, the existing ones being version_files.
        "__pg_version_files": {"results": [{"stat": {"exists": p in version_files, "path": MOUNT + p}}
                                           for p in ["/PG_VERSION"] + [v for v in version_files if v != "/PG_VERSION"]]},
        "__pg_image": {"images": [{"Config": {"Env": env}}] if env is not None else []},
    }


HOSTS = {
    # up to 17: PGDATA is the volume
    "pg17": registered(["/PG_VERSION"], ["PG_MAJOR=17", "PATH=/bin"]),
    # the official 18 image: the volume is /var/lib/postgresql, PGDATA is 18/docker
    "pg18": registered(["/18/docker/PG_VERSION"], ["PG_MAJOR=18"], "postgres:18.1"),
    # the image is not on the host yet (check mode, the preflight): its tag says
    "tagonly": registered(["/PG_VERSION"], None, "registry.example:5000/postgres:18-trixie"),
    # neither PG_MAJOR nor a version in the tag
    "unknown": registered([], [], "postgres:latest"),
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pg")
    out = str(tmp / "{{ inventory_hostname }}.json")
    play = [{"hosts": "cslr_cluster", "gather_facts": False, "tasks": [
        {"ansible.builtin.include_vars": os.path.join(ROLES, "config", "defaults", "main.yml")},
        {"ansible.builtin.include_vars": os.path.join(ROLES, "mlflow", "vars", "main.yml")},
        {"ansible.builtin.set_fact": {"cslr_postgres_image": "{{ test_image }}"}},
        {"ansible.builtin.set_fact": {"__pg_image_major": "{{ _pg_image_major }}",
                                      "cslr_postgres_password": "x" * 16}},
        {"ansible.builtin.copy": {
            "dest": out, "mode": "0600",
            "content": "{{ {'file': _pg_version_file, 'layout': _pg_version_layout, 'image_major': _pg_image_major,"
                       " 'mount': _postgres_data_mount | trim,"
                       " 'compose': lookup('ansible.builtin.template', '%s')} | to_json }}"
                       % os.path.join(ROLES, "mlflow", "templates", "compose.yaml.j2")}}]}]
    hosts = {h: local_host(role_path=os.path.join(ROLES, "mlflow"), **v) for h, v in HOSTS.items()}
    run_play(tmp, {"all": {"children": {"cslr_cluster": {"hosts": hosts}}}}, play)
    return {h: json.loads((tmp / ("%s.json" % h)).read_text()) for h in HOSTS}


@pytest.mark.parametrize("host, file, layout, major, mount", [
    ("pg17", "/PG_VERSION", "root", "17", "/var/lib/postgresql/data"),
    ("pg18", "/18/docker/PG_VERSION", "versioned", "18", "/var/lib/postgresql"),
    ("tagonly", "/PG_VERSION", "root", "18", "/var/lib/postgresql"),
    ("unknown", "", "", "", "/var/lib/postgresql/data"),
])
def test_version_file_image_major_and_mount(rendered, host, file, layout, major, mount):
    got = rendered[host]
    assert got["file"] == (MOUNT + file if file else "")
    assert got["layout"] == layout
    assert got["image_major"] == major
    assert got["mount"] == mount
    assert "- postgres-data:%s\n" % mount in got["compose"], got["compose"]
