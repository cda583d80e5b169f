#!/usr/bin/env bash
# The support matrix: the unit tests (pytest -m "not slow": the one slow test starts a real Ray
# GCS and uses no Ansible) and ansible-test sanity in each given venv, one per ansible-core of
# the supported range (meta/runtime.yml's requires_ansible). One line per venv, e.g.
#   matrix: ansible-core 2.19.14 (python 3.12.1; community.docker 5.2.1, community.general 12.6.2): unit PASSED, sanity PASSED
# also written to .cache/matrix.txt (make test prints it again at the end). The logs of each run:
# .cache/matrix-VENV-{unit,sanity}.log, their tail printed when a step fails.
# Usage: scripts/matrix.sh VENV...
#   MATRIX_DONE="VENV...": venvs whose unit tests and sanity already passed in this run (make
#   test's own steps, on .venv): reported as such, not run again.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache
summary=.cache/matrix.txt
: > "$summary"

describe() {  # "ansible-core X (python Y; community.docker A, community.general B)" of a venv
  "$1/bin/python" - <<'PY'
import json, os, platform
from importlib.metadata import version
import ansible_collections
found = {}
for name in ("community.docker", "community.general"):
    for base in ansible_collections.__path__:
        manifest = os.path.join(base, *name.split("."), "MANIFEST.json")
        if os.path.isfile(manifest):
            found[name] = json.load(open(manifest))["collection_info"]["version"]
            break
print("ansible-core %s (python %s; %s)" % (version("ansible-core"), platform.python_version(),
      ", ".join("%s %s" % (k, v) for k, v in found.items())))
PY
}

report() {
  echo "$1" | tee -a "$summary"
}

rc=0
for venv in ${MATRIX_DONE:-}; do
  report "matrix: $(describe "$venv"): unit PASSED, sanity PASSED (make unit, make sanity above)"
done
for venv in "$@"; do
  [[ "$venv" == /* ]] || venv="$PWD/$venv"
  name="$(basename "$venv")"
  label="$(describe "$venv")"
  echo "matrix: $label: running the unit tests and ansible-test sanity"
  start=$(date +%s)
  unit=PASSED sanity=PASSED
  if ! PATH="$venv/bin:$PATH" "$venv/bin/pytest" -q -m "not slow" -p no:cacheprovider \
      > ".cache/matrix-$name-unit.log" 2>&1; then
    unit=FAILED rc=1
    tail -n 60 ".cache/matrix-$name-unit.log"
  fi
  echo "matrix: $label: unit: $(tail -n 1 ".cache/matrix-$name-unit.log")"
  if ! VENV="$venv" scripts/sanity.sh > ".cache/matrix-$name-sanity.log" 2>&1; then
    sanity=FAILED rc=1
    grep -E '^(ERROR|FATAL)' ".cache/matrix-$name-sanity.log" | tail -n 40
  fi
  report "matrix: $label: unit $unit, sanity $sanity ($(( $(date +%s) - start )) s)"
done
exit $rc
