#!/usr/bin/env bash
# Install the pinned controller toolchain into .venv (idempotent: reinstalls only when
# requirements.txt or constraints.txt changed). Usage: scripts/bootstrap.sh [VENV_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv}"
python="${PYTHON:-python3}"
stamp="$venv/.cslr-requirements.sha256"
want="$(cat requirements.txt constraints.txt | sha256sum | cut -d' ' -f1)"
if [[ -x "$venv/bin/ansible-playbook" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "bootstrap: $venv is up to date"
  exit 0
fi
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  echo "bootstrap: $python lacks venv/ensurepip; installing python3-venv" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
fi
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -r requirements.txt -c constraints.txt
echo "$want" > "$stamp"
echo "bootstrap: installed $("$venv/bin/ansible" --version | head -1)"
