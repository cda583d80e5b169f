"""The validation corpus, run through the REAL entry points.

Each directory under cases/ is one invalid configuration:
  hosts.yml       an inventory (with group_vars/ or host_vars/ beside it when needed), or
  config.yaml     a config.yaml of the original tool plus hosts.yml (the inventory it is
                  validated with after import; nodes.yaml beside it where that is the point)
  expected.txt    the exact message lines that must appear (one per line)
  forbidden.txt   optional: strings that must NOT appear (secrets)
  args.txt        optional: extra ansible-playbook arguments, one per line (e.g. --limit)
A case passes when the run exits non-zero and prints every expected line.

Each directory under valid/ must import (if it has a config.yaml) and validate with rc 0;
so must the lab inventory. All runs happen once, in parallel, in a session fixture.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.dirname(sys.executable)
PLAYBOOK = os.path.join(BIN, 'ansible-playbook')
CASES = os.path.join(HERE, 'cases')
VALID = os.path.join(HERE, 'valid')
WORKERS = int(os.environ.get('CSLR_CORPUS_WORKERS', '6'))


def _dirs(base):
    return sorted(d for d in os.listdir(base) if os.path.isdir(os.path.join(base, d))) if os.path.isdir(base) else []


def _env():
    env = dict(os.environ)
    env.update(ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
               LC_ALL='C.UTF-8', LANG='C.UTF-8', ANSIBLE_LOCAL_TEMP=tempfile.gettempdir())
    env.pop('ANSIBLE_INVENTORY', None)
    return env


def _run(args):
    proc = subprocess.run([PLAYBOOK] + args, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + '\n' + proc.stderr


def run_case(path):
    """(rc, output, step) of one case directory: import (when config.yaml), then validate."""
    extra = []
    args_file = os.path.join(path, 'args.txt')
    if os.path.exists(args_file):
        with open(args_file) as handle:
            extra = [line.strip() for line in handle if line.strip()]
    inventory = os.path.join(path, 'hosts.yml')
    config = os.path.join(path, 'config.yaml')
    if os.path.exists(config):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, 'imported.yml')
            rc, output = _run(['playbooks/import_config.yml', '-i', inventory, '-e', 'config=' + config,
                               '-e', 'dest=' + out])
            if rc != 0:
                return rc, output, 'import'
            rc, output2 = _run(['playbooks/validate.yml', '-i', inventory, '-e', '@' + out] + extra)
            return rc, output + '\n' + output2, 'validate'
    rc, output = _run(['playbooks/validate.yml', '-i', inventory] + extra)
    return rc, output, 'validate'


@pytest.fixture(scope='session')
def results():
    paths = [os.path.join(CASES, d) for d in _dirs(CASES)] + [os.path.join(VALID, d) for d in _dirs(VALID)]
    paths.append(os.path.join(ROOT, 'inventories', 'lab'))
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        done = dict(zip(paths, pool.map(run_case_or_lab, paths)))
    return done


def run_case_or_lab(path):
    if path.endswith(os.path.join('inventories', 'lab')):
        rc, output = _run(['playbooks/validate.yml', '-i', path])
        return rc, output, 'validate'
    return run_case(path)


def _lines(path):
    with open(path) as handle:
        return [line.rstrip('\n') for line in handle if line.strip()]


def test_corpus_size():
    assert len(_dirs(CASES)) >= 30


@pytest.mark.parametrize('name', _dirs(CASES))
def test_invalid_case(results, name):
    path = os.path.join(CASES, name)
    rc, output, step = results[path]
    printed = set(line.strip() for line in output.splitlines())
    expected = _lines(os.path.join(path, 'expected.txt'))
    assert expected, 'expected.txt of %s is empty' % name
    missing = [line for line in expected if line.strip() not in printed]
    assert rc != 0, '%s: %s passed but must fail\n%s' % (name, step, output)
    assert not missing, '%s: missing lines:\n%s\n--- output ---\n%s' % (name, '\n'.join(missing), output)
    forbidden = os.path.join(path, 'forbidden.txt')
    if os.path.exists(forbidden):
        for secret in _lines(forbidden):
            assert secret not in output, '%s: %r was printed' % (name, secret)
    # Nothing ran on a host: the only tasks are the controller-side ones.
    assert 'changed=0' in output or step == 'import'


@pytest.mark.parametrize('name', _dirs(VALID))
def test_valid_case(results, name):
    rc, output, _step = results[os.path.join(VALID, name)]
    assert rc == 0, output


def test_lab_inventory_is_valid(results):
    rc, output, _step = results[os.path.join(ROOT, 'inventories', 'lab')]
    assert rc == 0, output
    assert 'is valid' in output


def test_generated_files_are_current():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'gen_config.py'), '--check'],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_export(tmp_path):
    out = tmp_path / 'schema.json'
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'gen_config.py'), '--schema-only',
                           str(out)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    with open(os.path.join(ROOT, 'docs', 'config.schema.json')) as handle:
        assert out.read_text() == handle.read()


def test_generated_role_defaults_match_argument_specs():
    """STYLE.md: the keys of defaults/main.yml equal those of meta/argument_specs.yml."""
    import yaml

    roles = os.path.join(ROOT, 'collections', 'ansible_collections', 'cslr', 'platform', 'roles')
    checked = 0
    for role in sorted(os.listdir(roles)):
        defaults = os.path.join(roles, role, 'defaults', 'main.yml')
        specs = os.path.join(roles, role, 'meta', 'argument_specs.yml')
        if not os.path.exists(defaults):
            continue
        with open(defaults) as handle:
            text = handle.read()
        if 'Generated by scripts/gen_config.py' not in text:
            continue
        with open(specs) as handle:
            options = yaml.safe_load(handle)['argument_specs']['main']['options']
        assert list(yaml.safe_load(text)) == list(options), role
        checked += 1
    assert checked >= 3  # config, docker, hosts_file at least
