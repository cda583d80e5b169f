"""The example inventory of a real lab (inventories/example/) is valid as shipped: it passes
playbooks/validate.yml with its test vault password and never prints the secrets; its vault is
really encrypted and holds exactly the keys of vault.yml.example; without the vault password the
run stops and says why; every cslr_ name it, its README and docs/deploy.md use exists."""
import os
import re
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
INV = os.path.join(ROOT, "inventories", "example")
ALL = os.path.join(INV, "group_vars", "all")
VAULT = os.path.join(ALL, "vault.yml")
VAULT_EXAMPLE = os.path.join(ALL, "vault.yml.example")
PASSWORD_FILE = os.path.join(ROOT, "tests", "example-vault-password")
sys.path.insert(0, os.path.join(ROOT, "collections"))

from ansible_collections.cslr.platform.plugins.module_utils import _config_spec as spec  # noqa: E402

GROUPS = set(group for group, _ in spec.GROUPS)
# Names a document may use: the variables and the inventory groups.
KNOWN = set(spec.BY_NAME) | GROUPS


def env_without_vault():
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    for name in ("ANSIBLE_VAULT_PASSWORD_FILE", "ANSIBLE_VAULT_IDENTITY_LIST", "ANSIBLE_VAULT_IDENTITY"):
        env.pop(name, None)
    return env


def run(*argv):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=ROOT, env=env_without_vault())


def decrypted_vault():
    res = run(os.path.join(BIN, "ansible-vault"), "view", "--vault-password-file", PASSWORD_FILE, VAULT)
    assert res.returncode == 0, res.stdout + res.stderr
    return yaml.safe_load(res.stdout)


def validate(*extra):
    return run(os.path.join(BIN, "ansible-playbook"), "playbooks/validate.yml", "-i", INV, *extra)


@pytest.fixture(scope="module")
def validated():
    return validate("--vault-password-file", PASSWORD_FILE)


def test_example_inventory_validates(validated):
    out = validated.stdout + validated.stderr
    assert validated.returncode == 0, out
    assert "The platform configuration of 4 host(s) is valid" in out, out


def test_validate_never_prints_the_secrets(validated):
    out = validated.stdout + validated.stderr
    secrets = decrypted_vault()
    assert secrets
    for name, value in secrets.items():
        assert str(value) not in out, "%s is printed" % name


def test_vault_is_encrypted_with_the_keys_of_the_example():
    with open(VAULT) as f:
        raw = f.read()
    assert raw.startswith("$ANSIBLE_VAULT;1.1;AES256\n"), raw[:60]
    secrets = decrypted_vault()
    with open(VAULT_EXAMPLE) as f:
        example = yaml.safe_load(f)
    assert set(secrets) == set(example)
    # A real vault: the values are not the placeholders of the plain example.
    assert all(secrets[k] != example[k] for k in secrets)
    for value in secrets.values():
        assert isinstance(value, str) and value not in raw


def test_example_vault_password_file_is_one_line():
    with open(PASSWORD_FILE) as f:
        lines = f.read().splitlines()
    assert len(lines) == 1 and lines[0].strip() == lines[0] and lines[0]


def test_validate_without_the_vault_password_fails():
    res = validate()
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert "vault" in out.lower(), out


def test_every_vault_key_is_used_by_the_settings():
    with open(os.path.join(ALL, "main.yml")) as f:
        settings = f.read()
    with open(VAULT_EXAMPLE) as f:
        keys = yaml.safe_load(f)
    for key in keys:
        assert "{{ %s }}" % key in settings, key


def _load(name):
    with open(os.path.join(INV, name)) as f:
        text = f.read()
    # Settings shown in commented-out lines (`# cslr_x: value`) must exist too.
    return yaml.safe_load(text), set(re.findall(r"^\s*#\s*(cslr_\w+):", text, re.M))


def _assert_known_variables(names):
    unknown = sorted(n for n in names if n not in spec.BY_NAME or n in spec.REMOVED)
    assert not unknown, unknown


def test_settings_are_known_variables():
    settings, commented = _load(os.path.join("group_vars", "all", "main.yml"))
    names = set(settings)
    assert all(n.startswith("cslr_") for n in names), sorted(names)
    assert {"cslr_cluster_network", "cslr_postgres_password", "cslr_images_source"} <= names
    assert not [n for n in names if n.endswith("_image")], "the example keeps the default images"
    _assert_known_variables(names | commented)


def test_hosts_use_known_groups_and_variables():
    inventory, commented = _load("hosts.yml")
    children = inventory["all"]["children"]
    assert set(children) == GROUPS
    names = set(inventory["all"].get("vars") or {})
    for group in children.values():
        names.update(group.get("vars") or {})
        for host_vars in (group.get("hosts") or {}).values():
            names.update(host_vars or {})
    _assert_known_variables(set(n for n in names | commented if n.startswith("cslr_")))
    cluster = children["cslr_cluster"]["hosts"]
    assert all(v and v.get("cslr_cluster_address") and v.get("ansible_host") for v in cluster.values()), cluster
    for group in GROUPS:
        assert set(children[group].get("hosts") or {}) <= set(cluster), group


@pytest.mark.parametrize("doc", ["inventories/example/README.md", "docs/deploy.md"])
def test_docs_name_known_variables_only(doc):
    with open(os.path.join(ROOT, doc)) as f:
        text = f.read()
    unknown = []
    for match in re.finditer(r"\b(cslr_\w+?)(_?\*)?(?![\w*])", text):
        name, wildcard = match.group(1), match.group(2)
        if wildcard:
            if not any(k.startswith(name) for k in KNOWN):
                unknown.append(match.group(0))
        elif name not in KNOWN:
            unknown.append(name)
    assert not unknown, sorted(set(unknown))
