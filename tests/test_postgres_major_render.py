"""The MLflow role's PostgreSQL major-version values, as Ansible renders them (its vars/main.yml
and templates/compose.yaml.j2 on the controller, no host), from recorded results of its read: the data
directory's PG_VERSION in either official layout (up to 17: at the volume's root; from 18: in
<major>/docker), the image's PG_MAJOR or its tag, and where the compose file mounts the volume; and
that read itself (_pg_read_script) on directories laid out as each case leaves them, with a docker
command that answers as the engine does. The lab has no PostgreSQL 18 image: the 18 layout is
checked here."""
import json
import os
import subprocess
import sys

import pytest

from cslr_render import ROLES, local_host, run_play

MOUNT = "/var/lib/docker/volumes/cslr-mlflow-postgres/_data"


def registered(version_files, env, image="postgres:17"):
    """The registered result postgres_major.yml reads (its one command, _pg_read_script), for a volume
    holding version_files: the script reports the first of <volume>/PG_VERSION, <volume>/<N>/docker/PG_VERSION."""
    order = ["/PG_VERSION"] + sorted(v for v in version_files if v != "/PG_VERSION")
    found = [p for p in order if p in version_files]
    return {
        "test_image": image,  # set_fact below: include_vars of the defaults beats host vars
        "__pg_read": {"stdout": json.dumps({"docker": True, "version_file": MOUNT + found[0] if found else "",
                                            "data_major": "", "image_env": env, "pending": {}})},
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


@pytest.fixture(scope="module")
def read_script(tmp_path_factory):
    """_pg_read_script as Ansible renders it."""
    tmp = tmp_path_factory.mktemp("pgread")
    out = tmp / "script.py"
    play = [{"hosts": "cslr_cluster", "gather_facts": False, "tasks": [
        {"ansible.builtin.include_vars": os.path.join(ROLES, "config", "defaults", "main.yml")},
        {"ansible.builtin.include_vars": os.path.join(ROLES, "mlflow", "vars", "main.yml")},
        {"ansible.builtin.copy": {"dest": str(out), "mode": "0600", "content": "{{ _pg_read_script }}"}}]}]
    run_play(tmp, {"all": {"children": {"cslr_cluster": {"hosts": {"h": local_host()}}}}}, play)
    return out.read_text()


def read(tmp_path, script, volume_files=None, env=None, marker=None, sock=True):
    """Run the read on a volume directory holding volume_files ({path: content}; None: no volume), a
    docker whose `image inspect` answers env (None: no such image), an upgrade record (text)."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (tmp_path / "volume").mkdir()
    if volume_files is not None:
        for path, content in volume_files.items():
            target = tmp_path / "volume" / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        (tmp_path / "mount.json").write_text(json.dumps(str(tmp_path / "volume")))
    if env is not None:
        (tmp_path / "env.json").write_text(json.dumps(env))
    docker = fake / "docker"
    docker.write_text('#!/bin/sh\n'
                      'echo "$*" >> %(d)s/calls\n'
                      'case "$1 $2 $3 $4" in\n'
                      '  "volume inspect --format {{json .Mountpoint}}") f=%(d)s/mount.json ;;\n'
                      '  "image inspect --format {{json .Config.Env}}") f=%(d)s/env.json ;;\n'
                      '  *) exit 2 ;;\n'
                      'esac\n'
                      '[ -f "$f" ] && cat "$f" || { echo "Error: No such object" >&2; exit 1; }\n' % {"d": tmp_path})
    docker.chmod(0o755)
    (tmp_path / "docker.sock").write_text("")
    record = tmp_path / "postgres-upgrade.json"
    if marker is not None:
        record.write_text(marker)
    env_vars = dict(os.environ, PATH="%s:%s" % (fake, os.environ["PATH"]))
    res = subprocess.run([sys.executable, "-c", script, str(tmp_path / ("docker.sock" if sock else "nosock")),
                          "cslr-mlflow-postgres", "postgres:18", str(record)],
                         capture_output=True, text=True, env=env_vars)
    return res, (json.loads(res.stdout) if res.returncode == 0 else None)


def test_read_finds_the_18_layout_the_images_env_and_no_record(tmp_path, read_script):
    res, got = read(tmp_path, read_script, {"18/docker/PG_VERSION": "18\n", "18/docker/base/1": "x"},
                    ["PG_MAJOR=18", "PATH=/bin"])
    assert got == {"docker": True, "version_file": str(tmp_path / "volume/18/docker/PG_VERSION"), "data_major": "18",
                   "image_env": ["PG_MAJOR=18", "PATH=/bin"], "pending": {}}, res.stderr


def test_read_prefers_the_volumes_root_and_reads_an_unfinished_upgrades_record(tmp_path, read_script):
    res, got = read(tmp_path, read_script, {"PG_VERSION": "15\n", "17/docker/PG_VERSION": "17\n"}, None,
                    marker='{"old": "15", "new": "17"}')
    assert (got["version_file"], got["data_major"]) == (str(tmp_path / "volume/PG_VERSION"), "15"), res.stderr
    assert got["image_env"] is None  # not on the host: the role falls back to the tag
    assert got["pending"] == {"old": "15", "new": "17"}


def test_read_without_a_volume_or_docker_compares_nothing_but_still_reads_the_record(tmp_path, read_script):
    res, got = read(tmp_path, read_script, None, None)
    assert (got["docker"], got["version_file"], got["image_env"]) == (True, "", None), res.stderr
    no_engine = tmp_path / "no-engine"
    no_engine.mkdir()
    res, got = read(no_engine, read_script, {"PG_VERSION": "15"}, ["PG_MAJOR=15"], marker='{"old": "15"}', sock=False)
    assert got == {"docker": False, "version_file": "", "data_major": "", "image_env": None,
                   "pending": {"old": "15"}}
    assert not (no_engine / "calls").exists()  # no engine: docker is not even asked


def test_a_record_that_is_not_json_stops_the_run_saying_so(tmp_path, read_script):
    res, got = read(tmp_path, read_script, {"PG_VERSION": "15"}, ["PG_MAJOR=17"], marker="{half")
    assert res.returncode != 0 and got is None
    assert "postgres-upgrade.json is not the record of a PostgreSQL upgrade" in res.stderr
