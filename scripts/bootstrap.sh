#!/usr/bin/env bash
# Install the pinned controller toolchain into a venv (idempotent: reinstalls only when the
# requirements/constraints changed or the venv's Python is not a supported one).
# Usage: scripts/bootstrap.sh [VENV_DIR] [--min] [--print-python]
#   default   the current toolchain (requirements.txt, locked by constraints.txt) on the newest
#             Python >= 3.12 found;
#   --min     the lowest supported one (requirements-min.txt: the lowest ansible-core with the
#             lowest collection majors of requirements.yml), on the oldest Python >= 3.12 found;
#             `make matrix` tests the collection there.
# The Python: $PYTHON when set; else, among the system's python3 (if >= 3.12), python3.14,
# python3.13 and python3.12 on PATH, and pyenv's ($(pyenv root) or ~/.pyenv, versions/*/bin/python3),
# the newest 3.12..3.14 (ansible-core 2.21's controller range); none: an error naming what to install.
# --print-python prints the interpreter it would use (for a new venv) and installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=".venv"
profile=current
print_python=false
for arg in "$@"; do
  case "$arg" in
    --min) profile=min ;;
    --print-python) print_python=true ;;
    -*) echo "bootstrap: unknown option $arg" >&2; exit 2 ;;
    *) venv="$arg" ;;
  esac
done
min_py=3.12 max_py=3.14
# awx.awx (playbooks/awx_configure.yml, tests/test_awx.py) left the ansible package with 14.0.0;
# the current venv takes it from the last ansible that carries it (awx.awx 24.6.1).
awx_from="ansible==13.8.0"

# "X.Y" of an interpreter, or nothing when it does not run.
py_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true; }
# 0 when X.Y lies in [min_py, max_py].
py_supported() {
  local v="$1"
  [[ -n "$v" ]] || return 1
  [[ "$(printf '%s\n%s\n' "$min_py" "$v" | sort -V | head -1)" == "$min_py" ]] || return 1
  [[ "$(printf '%s\n%s\n' "$v" "$max_py" | sort -V | tail -1)" == "$max_py" ]]
}

find_python() {  # $1: newest|oldest
  local candidates=() c v best="" best_v=""
  for c in python3 python3.14 python3.13 python3.12; do
    command -v "$c" >/dev/null 2>&1 && candidates+=("$(command -v "$c")")
  done
  local roots=()
  command -v pyenv >/dev/null 2>&1 && roots+=("$(pyenv root 2>/dev/null || true)")
  # pyenv's usual homes, whether or not pyenv is on PATH (BOOTSTRAP_PYENV_FALLBACK: for the tests).
  roots+=("${PYENV_ROOT:-}" "$HOME/.pyenv" "${BOOTSTRAP_PYENV_FALLBACK-/root/.pyenv}")
  for r in "${roots[@]}"; do
    [[ -n "$r" && -d "$r/versions" ]] || continue
    for c in "$r"/versions/3.*/bin/python3; do
      [[ -x "$c" ]] && candidates+=("$c")
    done
  done
  for c in "${candidates[@]}"; do
    # pyenv's shims on PATH answer for whatever version is selected: use the real binaries.
    [[ "$c" == */shims/* ]] && continue
    v="$(py_version "$c")"
    py_supported "$v" || continue
    if [[ -z "$best" ]] \
      || { [[ "$1" == newest ]] && [[ "$v" != "$best_v" ]] && [[ "$(printf '%s\n%s\n' "$v" "$best_v" | sort -V | tail -1)" == "$v" ]]; } \
      || { [[ "$1" == oldest ]] && [[ "$v" != "$best_v" ]] && [[ "$(printf '%s\n%s\n' "$v" "$best_v" | sort -V | head -1)" == "$v" ]]; }; then
      best="$c" best_v="$v"
    fi
  done
  [[ -n "$best" ]] && echo "$best"
}

if [[ "$profile" == min ]]; then
  reqs=(requirements-min.txt requirements.txt constraints.txt scripts/bootstrap.sh)
  order=oldest
else
  reqs=(requirements.txt constraints.txt scripts/bootstrap.sh)
  order=newest
fi
stamp="$venv/.cslr-requirements.sha256"
want="$(cat "${reqs[@]}" | sha256sum | cut -d' ' -f1)"
if ! $print_python && [[ -x "$venv/bin/ansible-playbook" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
  && py_supported "$(py_version "$venv/bin/python")"; then
  echo "bootstrap: $venv is up to date"
  exit 0
fi

if [[ -n "${PYTHON:-}" ]]; then
  python="$PYTHON"
  if ! py_supported "$(py_version "$python")"; then
    echo "bootstrap: PYTHON=$python is Python '$(py_version "$python")'; ansible-core 2.21 needs $min_py..$max_py" >&2
    exit 1
  fi
else
  python="$(find_python "$order" || true)"
fi
if [[ -z "$python" ]]; then
  sys_v="$(command -v python3 >/dev/null 2>&1 && py_version python3)"
  cat >&2 <<EOF
bootstrap: no Python $min_py..$max_py found (the controller's ansible-core 2.21 needs Python >= 3.12;
  looked at python3 (${sys_v:-none}), python3.14/3.13/3.12 on PATH and pyenv's versions/*/bin/python3).
  Install one of:
    Debian 13 / Ubuntu 24.04: apt-get install python3 python3-venv   (their python3 is 3.13 / 3.12)
    other systems: python3.13 or python3.12 from the distribution, or pyenv: pyenv install 3.13
  or point PYTHON at one: PYTHON=/path/to/python3.13 make venv
EOF
  exit 1
fi
if $print_python; then
  echo "$python"
  exit 0
fi
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  if [[ "$python" == /usr/bin/* ]] && command -v apt-get >/dev/null; then
    pkg="python3-venv"
    [[ "$(basename "$python")" == python3 ]] || pkg="python$(py_version "$python")-venv"
    echo "bootstrap: $python lacks venv/ensurepip; installing $pkg" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg"
  else
    echo "bootstrap: $python lacks the venv/ensurepip modules; install them (Debian/Ubuntu: python3-venv)" >&2
    exit 1
  fi
fi
# A venv on another Python (e.g. an older 3.11 one) is made anew.
if [[ -x "$venv/bin/python" ]] && [[ "$(py_version "$venv/bin/python")" != "$(py_version "$python")" ]]; then
  echo "bootstrap: $venv is on Python $(py_version "$venv/bin/python") (wanted $(py_version "$python")): recreating it"
  rm -rf "$venv"
fi
echo "bootstrap: $venv on $python (Python $("$python" -c 'import platform; print(platform.python_version())'))"
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
if [[ "$profile" == min ]]; then
  # requirements.txt's tools with requirements-min.txt's ansible-core, locked by constraints.txt
  # less its ansible/ansible-core pins; then the collections package, without its newer core pin.
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  grep -vE '^(ansible|ansible-core)==' requirements.txt > "$tmp/requirements.txt"
  grep -vE '^(ansible|ansible-core)==' constraints.txt > "$tmp/constraints.txt"
  core="$(grep -E '^ansible-core==' requirements-min.txt)"
  collections="$(grep -E '^ansible==' requirements-min.txt)"
  "$venv/bin/python" -m pip install -q -r "$tmp/requirements.txt" "$core" -c "$tmp/constraints.txt"
  "$venv/bin/python" -m pip install -q --no-deps "$collections"
else
  "$venv/bin/python" -m pip install -q -r requirements.txt -c constraints.txt
  if ! "$venv/bin/ansible-galaxy" collection list awx.awx 2>/dev/null | grep -q '^awx\.awx '; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    "$venv/bin/python" -m pip download -q --no-deps -d "$tmp" "$awx_from"
    "$venv/bin/python" - "$tmp" <<'PY'
import glob, os, sys, sysconfig, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "ansible-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    z.extractall(sysconfig.get_paths()["purelib"],
                 [n for n in z.namelist() if n.startswith("ansible_collections/awx/awx/")])
PY
    echo "bootstrap: awx.awx $("$venv/bin/ansible-galaxy" collection list awx.awx 2>/dev/null | awk '$1 == "awx.awx" {print $2}') from $awx_from"
  fi
fi
echo "$want" > "$stamp"
echo "bootstrap: installed $("$venv/bin/ansible" --version | sed -n 1p) on Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())')"
