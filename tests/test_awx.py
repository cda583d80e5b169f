"""AWX / Automation Controller readiness, without an AWX: the collection installs from its
tarball into a fresh collections path and its playbooks run by FQCN from there (as AWX runs
them); the job templates and surveys generated from the spec are what awx.awx.job_template and
AWX's survey rules accept; the execution environment's build context is complete.
The run through ansible-runner against real hosts is molecule/default/tests/test_awx_runner.py."""
import glob
import json
import os
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COL = os.path.join(ROOT, "collections", "ansible_collections", "cslr", "platform")
BIN = os.path.dirname(sys.executable)
sys.path.insert(0, os.path.join(ROOT, "collections"))

from ansible_collections.cslr.platform.plugins.module_utils import _config_spec as spec  # noqa: E402

TEMPLATES = yaml.safe_load(open(os.path.join(ROOT, "awx", "job_templates.yml")))["cslr_awx_job_templates"]
VERSION = yaml.safe_load(open(os.path.join(COL, "galaxy.yml")))["version"]
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}


def run(*argv, **kw):
    kw.setdefault("cwd", ROOT)
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    res = run(os.path.join(BIN, "ansible-galaxy"), "collection", "build", COL, "--output-path", out)
    assert res.returncode == 0, res.stdout + res.stderr
    return out / ("cslr-platform-%s.tar.gz" % VERSION)


@pytest.fixture(scope="module")
def installed(tarball, tmp_path_factory):
    """The collection installed from its tarball into a fresh path; a config that sees only it."""
    base = tmp_path_factory.mktemp("awx-project")
    colpath = base / "collections"
    cfg = base / "ansible.cfg"
    cfg.write_text("[defaults]\ncollections_path = %s\nretry_files_enabled = false\n" % colpath)
    env = dict(os.environ, ANSIBLE_CONFIG=str(cfg), ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    res = run(os.path.join(BIN, "ansible-galaxy"), "collection", "install", tarball, "-p", colpath, "--no-deps",
              cwd=base, env=env)
    assert res.returncode == 0 and "was installed successfully" in res.stdout, res.stdout + res.stderr
    return base, colpath, env


def test_installed_collection_is_the_one_found(installed):
    base, colpath, env = installed
    res = run(os.path.join(BIN, "ansible-galaxy"), "collection", "list", "cslr.platform", cwd=base, env=env)
    assert res.returncode == 0, res.stderr
    assert str(colpath) in res.stdout and os.path.join(ROOT, "collections") not in res.stdout, res.stdout


@pytest.mark.parametrize("playbook", ["site", "validate", "rolling_update", "teardown", "status", "mlflow_backup",
                                      "mlflow_restore", "import_config", "preflight"])
def test_installed_playbooks_parse_by_fqcn(installed, playbook):
    base, _colpath, env = installed
    res = run(os.path.join(BIN, "ansible-playbook"), "cslr.platform." + playbook, "--syntax-check",
              "-i", os.path.join(ROOT, "tests", "validation", "valid", "three_hosts", "hosts.yml"), cwd=base, env=env)
    assert res.returncode == 0, res.stdout + res.stderr


def test_installed_validate_runs_by_fqcn_and_never_prompts(installed):
    """The validator of the installed collection, run by FQCN with stdin closed (AWX has no terminal)."""
    base, colpath, env = installed
    inventory = os.path.join(ROOT, "tests", "validation", "valid", "three_hosts", "hosts.yml")
    res = run(os.path.join(BIN, "ansible-playbook"), "cslr.platform.validate", "-i", inventory, cwd=base, env=env,
              stdin=subprocess.DEVNULL, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "valid" in res.stdout
    # ...and it refuses a bad value from the installed copy too (same validator, same message).
    res = run(os.path.join(BIN, "ansible-playbook"), "cslr.platform.validate", "-i", inventory,
              "-e", "cslr_ray_worker_serial=2", cwd=base, env=env, stdin=subprocess.DEVNULL, timeout=300)
    assert res.returncode != 0
    assert "give it as -e '{\"cslr_ray_worker_serial\": 2}'" in res.stdout, res.stdout[-2000:]


def test_no_playbook_prompts():
    for path in glob.glob(os.path.join(COL, "playbooks", "*.yml")) + glob.glob(os.path.join(ROOT, "playbooks", "*.yml")):
        text = open(path).read()
        assert "vars_prompt" not in text and "ansible.builtin.pause" not in text, path


# ------------------------------------------------------------------ job templates and surveys

def awx_job_template_options():
    path = glob.glob(os.path.join(os.path.dirname(BIN), "lib", "python3*", "site-packages", "ansible_collections",
                                  "awx", "awx", "plugins", "modules", "job_template.py"))[0]
    src = open(path).read()
    return set(yaml.safe_load(src.split("DOCUMENTATION = '''")[1].split("'''")[0])["options"])


def test_job_templates_cover_every_operation():
    playbooks = {t["playbook"] for t in TEMPLATES}
    assert playbooks == {"site.yml", "playbooks/rolling_update.yml", "playbooks/teardown.yml",
                         "playbooks/mlflow_backup.yml", "playbooks/mlflow_restore.yml", "playbooks/status.yml",
                         "playbooks/logs.yml", "playbooks/smoke_test.yml", "playbooks/preflight.yml",
                         "playbooks/rendezvous_clean.yml", "playbooks/prune_images.yml"}
    assert any(t["ask_limit_on_launch"] and t["playbook"] == "site.yml" for t in TEMPLATES)  # --limit rollout
    assert len({t["name"] for t in TEMPLATES}) == len(TEMPLATES)


@pytest.mark.parametrize("template", TEMPLATES, ids=[t["name"] for t in TEMPLATES])
def test_job_template_is_what_awx_accepts(template):
    assert set(template) <= awx_job_template_options(), set(template) - awx_job_template_options()
    assert os.path.isfile(os.path.join(ROOT, template["playbook"])), template["playbook"]
    for name, value in template["extra_vars"].items():
        var = spec.BY_NAME[name]
        assert var.type == "bool" and isinstance(value, bool), name  # typed: surveys cannot give booleans
    assert template["survey_enabled"] == ("survey_spec" in template)
    if not template["survey_enabled"]:
        return
    questions = template["survey_spec"]["spec"]
    assert template["survey_spec"]["name"] and questions
    assert len({q["variable"] for q in questions}) == len(questions)
    for q in questions:
        var = spec.BY_NAME[q["variable"]]  # every question is a platform variable
        assert q["type"] in SURVEY_TYPES and isinstance(q["required"], bool), q
        assert "default" not in q, "a survey default would override the inventory: %s" % q["variable"]
        assert q["question_name"] and var.description.split()[0].strip("`") in q["question_description"]
        if q["type"] in ("integer", "float"):
            assert var.type in ("int", "float") and q["min"] <= q["max"], q
            assert (q["min"], q["max"]) == (var.minimum, var.maximum)
        if q["type"] in ("multiplechoice", "multiselect"):
            assert q["choices"] == list(var.choices), q
        if q["type"] == "multiselect":
            assert var.type == "list"
        assert var.type != "bool", "AWX answers are never booleans: %s" % q["variable"]


def test_awx_configure_playbook_parses():
    res = run(os.path.join(BIN, "ansible-playbook"), "playbooks/awx_configure.yml", "--syntax-check",
              env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg")))
    assert res.returncode == 0, res.stdout + res.stderr


# ------------------------------------------------------------------ execution environment

def test_execution_environment_context(tarball, tmp_path):
    ee = yaml.safe_load(open(os.path.join(ROOT, "execution-environment.yml")))
    assert ee["version"] == 3
    pins = dict(line.strip().split("==") for line in open(os.path.join(ROOT, "requirements.txt"))
                if "==" in line and not line.startswith("#"))
    assert ee["dependencies"]["ansible_core"]["package_pip"] == "ansible-core==" + pins["ansible-core"]
    assert ee["dependencies"]["ansible_runner"]["package_pip"] == "ansible-runner==" + pins["ansible-runner"]
    # The tarball the EE installs is this version's.
    assert ee["additional_build_files"][0]["src"] == "dist/" + tarball.name
    # ansible-builder writes the context offline (building it needs the base image's registry).
    project = tmp_path / "project"
    (project / "dist").mkdir(parents=True)
    for name in ("execution-environment.yml", "awx"):
        src = os.path.join(ROOT, name)
        run("cp", "-r", src, project / name)
    run("cp", tarball, project / "dist" / tarball.name)
    res = run(os.path.join(BIN, "ansible-builder"), "create", "-f", "execution-environment.yml", "--context",
              "context", "--output-filename", "Containerfile", cwd=project)
    assert res.returncode == 0, res.stdout + res.stderr
    build = project / "context" / "_build"
    assert (build / "collections" / tarball.name).is_file() and (build / "bindep.txt").is_file()
    containerfile = (project / "context" / "Containerfile").read_text()
    assert "ansible-galaxy collection install" in containerfile and "WORKDIR /build" in containerfile
    # The galaxy stage runs in /build: the tarball entry of the requirements resolves there.
    reqs = yaml.safe_load((build / "requirements.yml").read_text())
    local = [c for c in reqs["collections"] if c.get("type") == "file"]
    assert [c["name"] for c in local] == ["collections/" + tarball.name]
    with open(build / "local.yml", "w") as handle:
        yaml.safe_dump({"collections": local}, handle)
    # As in the EE build: no project ansible.cfg (make exports ANSIBLE_CONFIG), an empty collections path.
    cfg = tmp_path / "ee-ansible.cfg"
    cfg.write_text("[defaults]\n")
    env = dict(os.environ, ANSIBLE_CONFIG=str(cfg), ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "ee-collections"))
    res = run(os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--no-deps", "-r", "local.yml",
              "-p", tmp_path / "ee-collections", cwd=build, env=env)
    assert res.returncode == 0 and "cslr.platform:%s was installed" % VERSION in res.stdout, res.stdout + res.stderr
    # The other collections are those of requirements.yml, pinned inside its ranges.
    root_reqs = {c["name"]: c["version"] for c in
                 yaml.safe_load(open(os.path.join(ROOT, "requirements.yml")))["collections"]}
    ee_pins = {c["name"]: c["version"] for c in reqs["collections"] if c.get("type") != "file"}
    assert set(ee_pins) == set(root_reqs)
    for name, pin in ee_pins.items():
        assert pin.startswith("=="), (name, pin)
        assert version_in_range(pin[2:], root_reqs[name]), (name, pin, root_reqs[name])
    # ... at the versions of the pinned ansible package (checked where it is the one installed:
    # .venv, not the matrix's .venv-min).
    if installed_ansible_version() == pins["ansible"]:
        assert ee_pins == {name: "==" + v for name, v in installed_collection_versions(ee_pins).items()}


def version_in_range(found, bounds):
    from ansible.galaxy.dependency_resolution.versioning import meets_requirements
    return meets_requirements(found, bounds)


def installed_ansible_version():
    try:
        return version("ansible")
    except PackageNotFoundError:
        return None


def installed_collection_versions(names):
    import ansible_collections
    found = {}
    for name in names:
        for base in ansible_collections.__path__:
            manifest = os.path.join(base, *name.split("."), "MANIFEST.json")
            if os.path.isfile(manifest):
                found[name] = json.load(open(manifest))["collection_info"]["version"]
                break
    return found


def test_navigator_runs_the_execution_environment():
    nav = yaml.safe_load(open(os.path.join(ROOT, "ansible-navigator.yml")))["ansible-navigator"]
    ee = yaml.safe_load(open(os.path.join(ROOT, "execution-environment.yml")))
    assert nav["execution-environment"]["enabled"] is True
    assert nav["execution-environment"]["image"] in ee["options"]["tags"]
    assert nav["execution-environment"]["pull"]["policy"] == "missing"
    assert nav["mode"] == "stdout" and nav["playbook-artifact"]["enable"] is False
