#!/usr/bin/env bash
# ansible-test sanity for the collection, in ansible-test's venv mode. ansible-test bootstraps
# pip in its venvs with a get-pip script from a host these machines cannot reach; PyPI is
# reachable, so scripts/get_pip_offline.py (ensurepip + pip install) stands in for it.
# Usage: [VENV=.venv-min] scripts/sanity.sh [ansible-test sanity options...]
# (VENV: the venv whose ansible-test runs, .venv by default; `make matrix` runs .venv-min's too.)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-.venv}"
[[ "$venv" == /* ]] || venv="$root/$venv"
bin="$venv/bin"
pyver="$("$bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
pipver="$("$bin/python" - <<'PY'
import ansible_test, glob, os, re
src = open(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")).read()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)"
cache="$HOME/.ansible/test/cache/get_pip_${pipver//./_}.py"
if [[ ! -f "$cache" ]]; then
  mkdir -p "$(dirname "$cache")"
  cp "$root/scripts/get_pip_offline.py" "$cache"
fi
cd "$root/collections/ansible_collections/cslr/platform"
exec "$bin/ansible-test" sanity --venv --python "$pyver" "$@"
