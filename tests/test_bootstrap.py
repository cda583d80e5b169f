"""scripts/bootstrap.sh's choice of the controller's Python (make venv): the newest 3.12..3.14 of
the system's python3, python3.1x on PATH and pyenv's versions (also when pyenv is not on PATH);
pyenv's shims and Pythons outside the range are passed over; none: an error naming what to
install. With fake interpreters that only answer their version."""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASH = shutil.which("bash")


def fake_python(path, version):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write("#!/bin/sh\necho %s\n" % version)
    os.chmod(path, 0o755)
    return path


def choose(tmp_path, *options, path_dirs=()):
    # PATH: the given directories and the few tools the script needs, not /usr/bin (whose own
    # python3.x would be found).
    tools = tmp_path / "tools"
    tools.mkdir(exist_ok=True)
    for tool in ("dirname", "basename", "sort", "head", "tail", "cat", "cut", "sha256sum", "grep", "mktemp", "rm"):
        found = shutil.which(tool)
        if found and not (tools / tool).exists():
            os.symlink(found, tools / tool)
    env = {"PATH": ":".join([str(d) for d in path_dirs] + [str(tools)]), "HOME": str(tmp_path / "home"),
           "PYENV_ROOT": str(tmp_path / "pyenv"), "BOOTSTRAP_PYENV_FALLBACK": ""}
    return subprocess.run([BASH, os.path.join(ROOT, "scripts", "bootstrap.sh"), "--print-python"] + list(options),
                          capture_output=True, text=True, env=env, cwd=ROOT)


def test_newest_supported_python_wins(tmp_path):
    bin_dir = tmp_path / "bin"
    fake_python(str(bin_dir / "python3.12"), "3.12")
    want = fake_python(str(tmp_path / "pyenv" / "versions" / "3.13.0" / "bin" / "python3"), "3.13")
    fake_python(str(tmp_path / "pyenv" / "versions" / "3.15.0" / "bin" / "python3"), "3.15")  # past 2.21's range
    fake_python(str(tmp_path / "pyenv" / "shims" / "python3.14"), "3.14")  # a shim: not a real interpreter
    res = choose(tmp_path, path_dirs=[str(bin_dir), str(tmp_path / "pyenv" / "shims")])
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == want


def test_min_venv_takes_the_oldest_supported(tmp_path):
    want = fake_python(str(tmp_path / "home" / ".pyenv" / "versions" / "3.12.1" / "bin" / "python3"), "3.12")
    fake_python(str(tmp_path / "pyenv" / "versions" / "3.13.0" / "bin" / "python3"), "3.13")
    res = choose(tmp_path, "--min")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == want


def test_system_python3_first_among_equals(tmp_path):
    bin_dir = tmp_path / "bin"
    want = fake_python(str(bin_dir / "python3"), "3.13")
    fake_python(str(tmp_path / "pyenv" / "versions" / "3.13.0" / "bin" / "python3"), "3.13")
    res = choose(tmp_path, path_dirs=[str(bin_dir)])
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == want


@pytest.mark.parametrize("versions", [[], ["3.11", "3.10"]])
def test_no_suitable_python_is_a_clear_error(tmp_path, versions):
    # Debian 12: its python3 is 3.11, and its apt has no 3.12+.
    bin_dir = tmp_path / "bin"
    fake_python(str(bin_dir / "python3"), "3.11")
    for i, version in enumerate(versions):
        fake_python(str(tmp_path / "pyenv" / "versions" / ("3.%d" % i) / "bin" / "python3"), version)
    res = choose(tmp_path, path_dirs=[str(bin_dir)])
    assert res.returncode == 1 and res.stdout == ""
    assert "no Python 3.12..3.14 found" in res.stderr and "python3 (3.11)" in res.stderr
    assert "apt-get install python3 python3-venv" in res.stderr and "pyenv install 3.13" in res.stderr
    assert "PYTHON=/path/to/python3.13 make venv" in res.stderr


def test_python_outside_the_range_is_refused(tmp_path):
    old = fake_python(str(tmp_path / "old" / "python3"), "3.11")
    res = subprocess.run([BASH, os.path.join(ROOT, "scripts", "bootstrap.sh"), "--print-python"],
                         capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHON=old))
    assert res.returncode == 1 and "is Python '3.11'" in res.stderr and "needs 3.12..3.14" in res.stderr
