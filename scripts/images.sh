#!/usr/bin/env bash
# Build the lab's images locally: no registry is needed (see docs/images.md).
#
#   scripts/images.sh base        the simulated-host base image (debootstrap + docker import)
#   scripts/images.sh build       base, then every stack image FROM it
#   scripts/images.sh list        the cslr-lab/* images: name, ID, size, recipe
#   scripts/images.sh save DIR    docker save each stack image but torch to DIR/<image>_<tag>.tar
#                                 (cslr-lab_ray_2.60.0.tar, ...) when the tar holds another ID
#   scripts/images.sh clean       remove the cslr-lab/* images
#   scripts/images.sh check       run each stack image and check its contract (~1 min)
#
# Stack images are built FROM the base, except torch (the tests' PyTorch job image, never
# shipped to hosts, so `save` leaves it out unless IMAGES names it): FROM a Python 3.11 base,
# cslr-lab/base-py311:bookworm (debootstrap of Debian 12, built by `build` when needed), with
# the torch CPU wheel that `pip download` finds (find-links such as /opt/wheels).
#
# Caching: each image carries the label org.cslr.recipe, a sha256 over its recipe (its
# images/<name>/ directory, the pinned versions, for stack images the base image ID, and for
# torch the wheel's name and sha256).
# An image whose label matches is reused, anything else is rebuilt (REBUILD overrides, below).
# Nothing depends on the cache: a machine without the images builds them all.
#
# Environment:
#   CA_BUNDLE       CA bundle given to pip inside the builds (default
#                   /etc/ssl/certs/ca-certificates.crt: it carries the TLS-inspecting proxy's CA
#                   here). Copied into the build context, used in a builder stage only.
#   DEBIAN_MIRROR   mirror for debootstrap (default http://deb.debian.org/debian)
#   REBUILD=1       rebuild the stack images even when their recipes match
#   REBUILD=all     the base too (new Debian updates; a new base ID recreates the lab's hosts)
#   IMAGES="a b"    only these stack images (default: all of them; `save`: all but torch)
#   VERBOSE=1       show build output (default: to a log, printed when a build fails; builds
#                   one at a time)
#   IMAGES_JOBS=N   stack images built at once (default 3: the builds mostly wait on the
#                   package mirrors and PyPI; each has its own log)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGES_DIR=$ROOT/images
PREFIX=cslr-lab
SUITE=trixie
BASE_TAG=$PREFIX/base:$SUITE
PY311_SUITE=bookworm  # Debian 12: Python 3.11, for the images that need it (torch)
PY311_TAG=$PREFIX/base-py311:$PY311_SUITE
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
REBUILD=${REBUILD:-0}
VERBOSE=${VERBOSE:-0}
IMAGES_JOBS=${IMAGES_JOBS:-3}
# Bump when this script changes how images are made (invalidates those recipe labels):
# BASE_FORMAT for the base images (a new base ID rebuilds every stack image and recreates
# the lab's hosts), STACK_FORMAT for the stack images only.
BASE_FORMAT=1
STACK_FORMAT=2

# Stack images: name, tag, pinned versions (build args; part of the recipe hash).
STACK_NAMES=(ray mlflow postgres redis health marimo etcd prometheus node-exporter torch host registry browser postgres15 ray259)
declare -A STACK_TAG=(
  [ray]=2.60.0
  [mlflow]=3.17.2
  [postgres]=17
  [postgres15]=15
  [ray259]=2.59.0
  [redis]=8
  [health]=1
  [marimo]=0.16.5
  [etcd]=3.5.16
  [torch]=2.13.0
  [host]=trixie
  [registry]=2.8
  [browser]=1
  [prometheus]=2.53
  [node-exporter]=1.9
)
declare -A STACK_ARGS=(
  [ray]="RAY_VERSION=2.60.0 MLFLOW_VERSION=3.17.2"
  [mlflow]="MLFLOW_VERSION=3.17.2 PSYCOPG2_VERSION=2.9.11"
  [postgres]="PG_MAJOR=17"
  [postgres15]="PG_MAJOR=15"
  [ray259]="RAY_VERSION=2.59.0 MLFLOW_VERSION=3.17.2"
  [redis]="REDIS_MAJOR=8"
  [health]=""
  [marimo]="MARIMO_VERSION=0.16.5"
  [etcd]="ETCD_VERSION=3.5.16"
  [torch]="TORCH_VERSION=2.13.0 PYTHON_ETCD_VERSION=0.4.5 RAY_VERSION=2.60.0"
  [host]="LAB_USER=labadmin"
  [registry]=""
  [browser]=""
  [prometheus]="PROMETHEUS_MINOR=2.53"
  [node-exporter]="NODE_EXPORTER_MINOR=1.9"
)
# Images FROM the Python 3.11 base instead of $BASE_TAG, and images only the tests use
# (run on the outer engine, never delivered to the hosts: `save` skips them by default).
declare -A STACK_BASE=(
  [torch]=$PY311_TAG
  [postgres15]=$PY311_TAG
)
# Images built from another image's recipe (images/<that name>) into that image's repository
# under their own tag: cslr-lab/postgres:15 is images/postgres on Debian 12's PostgreSQL 15,
# cslr-lab/ray:2.59.0 is images/ray with the previous Ray release.
declare -A STACK_REPO=(
  [postgres15]=postgres
  [ray259]=ray
)
TEST_ONLY_NAMES=(torch host registry browser postgres15 ray259)
# The public image each one stands in for (production uses those with the same compose files).
declare -A STACK_UPSTREAM=(
  [ray]=rayproject/ray
  [mlflow]=ghcr.io/mlflow/mlflow
  [postgres]=postgres
  [postgres15]="postgres:15 (the older major of the PostgreSQL upgrade test, tests only)"
  [ray259]="rayproject/ray:2.59.0 (the previous Ray release, for the Ray upgrade test, tests only)"
  [redis]=redis
  [health]=python:3.13-slim
  [marimo]=ghcr.io/marimo-team/marimo
  [etcd]=quay.io/coreos/etcd
  [torch]="rayproject/ray:<version>-py311 + torch (the base of the lab job image)"
  [host]="a lab machine: sshd + a sudo user, lab only"
  [registry]="the lab registry (distribution 2.8), lab only"
  [browser]="a workstation with headless Chromium, tests only"
  [prometheus]=prom/prometheus
  [node-exporter]=prom/node-exporter
)
# A command run in each freshly built image; it must succeed (and print the version).
declare -A STACK_SMOKE=(
  [ray]='ray --version && python3 --version && python3 -c "import mlflow" && command -v curl ps >/dev/null'
  [mlflow]='mlflow --version && python3 -c "import psycopg2; print(\"psycopg2\", psycopg2.__version__)"'
  [postgres]='postgres --version && command -v pg_isready pg_dump psql initdb >/dev/null'
  [ray259]='ray --version | grep -q " 2[.]59[.]0" && python3 -c "import mlflow" && command -v curl ps >/dev/null'
  [postgres15]='postgres --version | grep -q " 15[.]" && command -v pg_isready pg_dump psql initdb >/dev/null'
  [redis]='redis-server --version && command -v redis-cli >/dev/null'
  [health]='python3 --version && python --version'
  [marimo]='marimo --version && python3 -c "from marimo._cli.cli import main"'
  [etcd]='etcd --version && etcdctl version && command -v etcd | grep -qx /usr/local/bin/etcd && command -v etcdctl | grep -qx /usr/local/bin/etcdctl'
  [torch]='python3 -c "import torch, etcd, ray, torch.distributed as d; assert d.is_gloo_available(); print(torch.__version__, ray.__version__)" && torchrun --help >/dev/null'
  [host]='command -v sshd ssh-keygen sudo python3 >/dev/null && id labadmin && sudo -n -l -U labadmin | grep -q NOPASSWD && ! ls /etc/ssh/ssh_host_* 2>/dev/null && systemctl is-enabled ssh.service'
  [registry]='docker-registry --version && command -v htpasswd >/dev/null'
  [browser]='chromium --version'
  [prometheus]='prometheus --version && promtool --version && test "$(id -u)" = 65534'
  [node-exporter]='node_exporter --version && command -v wget >/dev/null && test "$(id -u)" = 65534'
)

WORK=
CHECK_NET=  # set by `check`: its network, containers and volumes are removed on exit
# shellcheck disable=SC2329  # the EXIT trap calls it
cleanup() {
  local rc=$?
  check_cleanup
  if [[ -n $WORK && -d $WORK ]]; then
    # debootstrap mounts /proc etc. inside its target; never delete through a mount.
    if [[ -d $WORK/rootfs ]]; then
      findmnt -rn -o TARGET | grep -F "$WORK/rootfs" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    fi
    if [[ $rc == 0 ]]; then
      rm -rf --one-file-system "$WORK"
    else # keep the build logs of a failed run
      find "$WORK" -mindepth 1 -maxdepth 1 ! -name '*.log' -exec rm -rf --one-file-system {} +
      echo "images: build logs kept in $WORK" >&2
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT

log() { echo "images: $*" >&2; }
die() { echo "images: ERROR: $*" >&2; exit 1; }
now() { date +%s; }

need_docker() {
  command -v docker >/dev/null 2>&1 || die "docker is not installed (make docker / scripts/ensure-docker.sh)"
  docker info >/dev/null 2>&1 || die "no Docker engine answers (make docker / scripts/ensure-docker.sh)"
}

work_dir() {
  [[ -n $WORK ]] || WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/cslr-images.XXXXXX")
}

# Image ID of a reference, empty when absent.
image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }
image_label() {
  docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null | sed 's/^<no value>$//' || true
}
image_size() {
  local bytes
  bytes=$(docker image inspect --format '{{.Size}}' "$1" 2>/dev/null || echo 0)
  echo "$((bytes / 1000000)) MB"
}

# sha256 over a format number, a directory's files (names, modes, contents; not mtimes or
# owners) and extra words.
recipe_hash() { # dir format words...
  local dir=$1 format=$2; shift 2
  {
    echo "format=$format"
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=go-w \
        --format=gnu -C "$dir" -c . | sha256sum
    printf '%s\n' "$@"
  } | sha256sum | cut -d' ' -f1
}

# The image a rebuild replaced: removed unless a container still uses it (then it stays,
# untagged, until that container is gone: lab hosts keep running on their image).
drop_previous() { # previous_id ref
  local previous=$1 ref=$2
  [[ -n $previous && $previous != "$(image_id "$ref")" ]] || return 0
  docker rmi "$previous" >/dev/null 2>&1 || log "previous $ref (${previous:7:12}) kept: still used by a container"
}

report() { # name ref outcome seconds
  printf 'images: %-10s %-28s %-8s %4ss  %s\n' "$1" "$2" "$3" "$4" "$(image_size "$2")"
}

run_logged() { # logfile cmd...
  local logfile=$1; shift
  if [[ $VERBOSE == 1 ]]; then
    "$@" 2>&1 | tee "$logfile"
  else
    "$@" >"$logfile" 2>&1
  fi
}

fail_with_log() { # logfile message
  echo "---- last lines of $1 ----" >&2
  tail -n 40 "$1" >&2 || true
  echo "----" >&2
  die "$2"
}

# ------------------------------------------------------------------ base

base_recipe() {
  recipe_hash "$IMAGES_DIR/base" "$BASE_FORMAT" "suite=$SUITE"
}

ensure_debootstrap() {
  if command -v debootstrap >/dev/null 2>&1 && [[ -e /usr/share/keyrings/debian-archive-keyring.gpg ]]; then
    return
  fi
  command -v apt-get >/dev/null 2>&1 || die "debootstrap is missing and this is not a Debian/Ubuntu machine"
  log "installing debootstrap and debian-archive-keyring"
  apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap debian-archive-keyring >/dev/null \
    || die "could not install debootstrap"
}

# debootstrap SUITE (minbase + DIR/packages), DIR/customize.sh on the tree, then docker import
# as REF with its recipe label, CMD, one ENV and STOPSIGNAL. Reused while the label matches.
bootstrap_image() { # name ref dir suite recipe title cmd env stopsignal
  local name=$1 ref=$2 dir=$3 suite=$4 recipe=$5 title=$6 cmd=$7 env=$8 stopsignal=$9
  local start existing
  start=$(now)
  existing=$(image_label "$ref" org.cslr.recipe)
  if [[ $REBUILD != all && $existing == "$recipe" ]]; then
    report "$name" "$ref" reused 0
    return
  fi
  [[ $(id -u) == 0 ]] || die "building $ref needs root (debootstrap)"
  ensure_debootstrap
  work_dir
  local rootfs=$WORK/rootfs logfile=$WORK/$name.log includes previous
  previous=$(image_id "$ref")
  includes=$(grep -v '^[[:space:]]*\(#\|$\)' "$dir/packages" | paste -sd, -)
  [[ -n $includes ]] || die "$dir/packages lists no package"
  log "$name: debootstrap $suite from $DEBIAN_MIRROR (about a minute; log: $logfile)"
  local keyring=()
  [[ -e /usr/share/keyrings/debian-archive-keyring.gpg ]] && keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
  run_logged "$logfile" debootstrap --variant=minbase "${keyring[@]}" --include="$includes" \
      "$suite" "$rootfs" "$DEBIAN_MIRROR" \
    || fail_with_log "$logfile" "debootstrap failed (is $DEBIAN_MIRROR reachable?)"
  "$dir/customize.sh" "$rootfs" >>"$logfile" 2>&1 \
    || fail_with_log "$logfile" "${dir#"$ROOT"/}/customize.sh failed"

  # docker import cannot set STOPSIGNAL (the 20.10 engine refuses it): import, then add
  # the image config with a one-step build on top (no layer added).
  local imported=${ref%%:*}:import-$$
  tar -C "$rootfs" --numeric-owner -c . \
    | docker import -c "CMD $cmd" -c "ENV $env" - "$imported" >>"$logfile" 2>&1 \
    || fail_with_log "$logfile" "docker import failed"
  local ctx=$WORK/$name-ctx
  mkdir -p "$ctx"
  cat >"$ctx/Dockerfile" <<EOF
FROM $imported
LABEL org.cslr.recipe="$recipe" \\
      org.cslr.suite="$suite" \\
      org.opencontainers.image.title="$title" \\
      org.opencontainers.image.created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
STOPSIGNAL $stopsignal
CMD $cmd
EOF
  run_logged "$logfile" docker build --force-rm -t "$ref" "$ctx" \
    || { docker rmi "$imported" >/dev/null 2>&1 || true; fail_with_log "$logfile" "docker build of $ref failed"; }
  docker rmi "$imported" >/dev/null 2>&1 || true
  rm -rf --one-file-system "$rootfs"
  drop_previous "$previous" "$ref"
  report "$name" "$ref" built $(($(now) - start))
}

cmd_base() {
  need_docker
  bootstrap_image base "$BASE_TAG" "$IMAGES_DIR/base" "$SUITE" "$(base_recipe)" \
    "cslr lab simulated host (Debian $SUITE, systemd)" '["/lib/systemd/systemd"]' container=docker 'SIGRTMIN+3'
}

# The Python 3.11 base (Debian 12 minbase, no systemd): the FROM image of the STACK_BASE ones.
cmd_base_py311() {
  need_docker
  bootstrap_image base-py311 "$PY311_TAG" "$IMAGES_DIR/base-py311" "$PY311_SUITE" \
    "$(recipe_hash "$IMAGES_DIR/base-py311" "$BASE_FORMAT" "suite=$PY311_SUITE")" \
    "cslr lab Python 3.11 base (Debian $PY311_SUITE minbase)" '["python3"]' LANG=C.UTF-8 SIGTERM
}

# ------------------------------------------------------------------ stack images

stack_list() {
  local names n
  read -r -a names <<<"${IMAGES:-${STACK_NAMES[*]}}"
  for n in "${names[@]}"; do
    [[ -n ${STACK_TAG[$n]+x} ]] || die "unknown image '$n' (known: ${STACK_NAMES[*]})"
    echo "$n"
  done
}

# The image a stack image is built FROM ($BASE_TAG unless STACK_BASE says otherwise).
stack_base() { echo "${STACK_BASE[$1]:-$BASE_TAG}"; }
# Its reference and its recipe directory (STACK_REPO).
stack_ref() { echo "$PREFIX/${STACK_REPO[$1]:-$1}:${STACK_TAG[$1]}"; }
stack_dir() { echo "$IMAGES_DIR/${STACK_REPO[$1]:-$1}"; }

# The torch CPU wheel for cslr-lab/torch (cp311, manylinux_2_28), from wherever this machine's
# pip finds it (find-links such as /opt/wheels, or an index that has +cpu builds), into
# $WORK/wheels; sets TORCH_WHEEL to its path. Only the +cpu build: PyPI's torch wheels are
# CUDA builds.
TORCH_WHEEL=
torch_wheel() {
  local version=${STACK_TAG[torch]} dir logfile wheel
  work_dir
  dir=$WORK/wheels logfile=$WORK/torch-wheel.log
  mkdir -p "$dir"
  # The project's venv when there is one (make venv), else the machine's python3; both read pip.conf.
  local py=python3
  [[ -x $ROOT/.venv/bin/python ]] && py=$ROOT/.venv/bin/python
  "$py" -m pip --version >/dev/null 2>&1 || die "building cslr-lab/torch needs pip on this machine ($py -m pip)"
  log "torch: pip download torch==$version+cpu (cp311, manylinux_2_28_x86_64; log: $logfile)"
  "$py" -m pip download "torch==$version+cpu" --no-deps --only-binary=:all: --python-version 3.11 \
      --platform manylinux_2_28_x86_64 -d "$dir" >"$logfile" 2>&1 \
    || fail_with_log "$logfile" "pip found no torch $version CPU wheel for Python 3.11: put torch-$version+cpu-cp311-cp311-manylinux_2_28_x86_64.whl where pip finds it (pip's find-links, e.g. PIP_FIND_LINKS=/opt/wheels, or PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu)"
  wheel=$(find "$dir" -maxdepth 1 -name "torch-$version+cpu-cp311-cp311-*.whl" | head -n 1)
  [[ -n $wheel ]] || fail_with_log "$logfile" "pip download left no torch-$version+cpu-cp311-cp311-*.whl in $dir"
  TORCH_WHEEL=$wheel
}

build_one() { # name base_ref base_id python_version [file for the build context]
  local name=$1 base_ref=$2 base_id=$3 pyver=$4 file=${5:-}
  local ref dir start recipe existing
  ref=$(stack_ref "$name") dir=$(stack_dir "$name")
  [[ -f $dir/Dockerfile ]] || die "$dir/Dockerfile is missing"
  start=$(now)
  local args extra=()
  read -r -a args <<<"${STACK_ARGS[$name]}"
  # A context file (the torch wheel) is part of the recipe: name and sha256.
  [[ -z $file ]] || extra=("file=${file##*/} sha256=$(sha256sum "$file" | cut -d' ' -f1)")
  recipe=$(recipe_hash "$dir" "$STACK_FORMAT" "base=$base_id" "args=${STACK_ARGS[$name]}" "${extra[@]}")
  existing=$(image_label "$ref" org.cslr.recipe)
  if [[ $REBUILD != 1 && $REBUILD != all && $existing == "$recipe" ]]; then
    report "$name" "$ref" reused 0
    return
  fi
  work_dir
  local ctx=$WORK/ctx-$name logfile=$WORK/$name.log previous
  previous=$(image_id "$ref")
  rm -rf "$ctx"
  cp -a "$dir/." "$ctx/"
  cp "$CA_BUNDLE" "$ctx/ca-bundle.crt"
  [[ -z $file ]] || ln "$file" "$ctx/" 2>/dev/null || cp "$file" "$ctx/"
  local build=(docker build --force-rm -t "$ref" --build-arg "BASE_IMAGE=$base_ref"
               --label "org.cslr.recipe=$recipe" --label "org.cslr.base-image=$base_id"
               --label "org.cslr.python-version=$pyver"
               --label "org.opencontainers.image.title=cslr lab $name (stands in for ${STACK_UPSTREAM[$name]})"
               --label "org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
  local a
  for a in "${args[@]}"; do build+=(--build-arg "$a"); done
  [[ ${STACK_REPO[$name]:-$name} == ray ]] && build+=(--label "org.cslr.ray-version=${STACK_TAG[$name]}")
  [[ $name == mlflow ]] && build+=(--label "org.cslr.mlflow-version=${STACK_TAG[mlflow]}")
  [[ $name == torch ]] && build+=(--label "org.cslr.torch-wheel=${file##*/}")
  log "$name: building $ref (log: $logfile)"
  run_logged "$logfile" "${build[@]}" "$ctx" || fail_with_log "$logfile" "docker build of $ref failed"
  # The image must work before its recipe label can make it "reused" next time.
  if ! docker run --rm --entrypoint /bin/sh "$ref" -c "${STACK_SMOKE[$name]}" >>"$logfile" 2>&1; then
    docker rmi "$ref" >/dev/null 2>&1 || true
    fail_with_log "$logfile" "$ref built but its check failed: ${STACK_SMOKE[$name]}"
  fi
  drop_previous "$previous" "$ref"
  report "$name" "$ref" built $(($(now) - start))
}

cmd_build() {
  need_docker
  [[ -r $CA_BUNDLE ]] || die "CA bundle $CA_BUNDLE is not readable (set CA_BUNDLE=path)"
  local names
  names=$(stack_list)
  cmd_base
  # The Python 3.11 base only when a selected image is built FROM it.
  local n
  for n in $names; do
    if [[ $(stack_base "$n") == "$PY311_TAG" ]]; then cmd_base_py311; break; fi
  done
  local total_start base_ref
  total_start=$(now)
  # The stack images use their base image's Python: record its version on them.
  local -A base_id=() pyver=()
  for n in $names; do
    base_ref=$(stack_base "$n")
    if [[ -z ${base_id[$base_ref]:-} ]]; then
      base_id[$base_ref]=$(image_id "$base_ref")
      [[ -n ${base_id[$base_ref]} ]] || die "$base_ref is missing after building it"
      pyver[$base_ref]=$(docker run --rm --entrypoint python3 "$base_ref" -c 'import platform; print(platform.python_version())') \
        || die "cannot run python3 in $base_ref"
    fi
  done
  # IMAGES_JOBS builds at once, each in a subshell (its own context directory and log under
  # $WORK; a failure prints its log and fails the whole build once every started one ended).
  local jobs=$IMAGES_JOBS failed=0
  local -A running=()   # PID -> image name
  [[ $VERBOSE != 1 && $jobs =~ ^[1-9][0-9]*$ ]] || jobs=1
  work_dir
  # One build ended: its exit status counts (wait -n -p names the PID; bash >= 5.1).
  reap() {
    local pid= rc=0
    wait -n -p pid "${!running[@]}" || rc=$?
    [[ -n $pid ]] || die "lost track of the builds (wait -n returned $rc)"
    unset "running[$pid]"
    ((rc == 0)) || failed=$((failed + 1))
  }
  for n in $names; do
    while ((${#running[@]} >= jobs)); do reap; done
    (
      base_ref=$(stack_base "$n") file=
      if [[ $n == torch ]]; then torch_wheel; file=$TORCH_WHEEL; fi
      build_one "$n" "$base_ref" "${base_id[$base_ref]}" "${pyver[$base_ref]}" "$file"
    ) &
    running[$!]=$n
  done
  while ((${#running[@]} > 0)); do reap; done
  # Builder stages (labelled org.cslr.stage=builder) are not kept: they hold the CA bundle and
  # build tools. Only dangling ones of this project are removed, once no build needs them.
  docker image prune -f --filter label=org.cslr.stage=builder >/dev/null 2>&1 || true
  ((failed == 0)) || die "$failed stack image build(s) failed (their errors above)"
  log "stack images done in $(($(now) - total_start)) s ($jobs at once)"
}

# ------------------------------------------------------------------ list / save / clean

all_refs() {
  docker image ls --format '{{.Repository}}:{{.Tag}}' --filter "reference=$PREFIX/*" | grep -v ':<none>$' | sort || true
}

cmd_list() {
  need_docker
  local ref
  printf '%-28s %-19s %8s  %s\n' IMAGE ID SIZE RECIPE
  for ref in $(all_refs); do
    printf '%-28s %-19s %8s  %s\n' "$ref" "$(image_id "$ref" | cut -c1-19)" "$(image_size "$ref")" \
      "$(image_label "$ref" org.cslr.recipe | cut -c1-12)"
  done
}

# Image ID recorded in a `docker save` archive (legacy and OCI layouts), empty if unreadable.
tar_image_id() {
  tar -xOf "$1" manifest.json 2>/dev/null | python3 -c '
import json, os, sys
try:
    m = json.load(sys.stdin)[0]
    cfg = os.path.basename(m["Config"])
    print("sha256:" + (cfg[:-5] if cfg.endswith(".json") else cfg), " ".join(m.get("RepoTags") or []))
except Exception:
    pass
' || true
}

cmd_save() {
  local dir=${1:-}
  [[ -n $dir ]] || die "usage: images.sh save DIR"
  need_docker
  local names n ref id file recorded start
  names=$(stack_list)
  mkdir -p "$dir"
  for n in $names; do
    # Test-only images (torch) are never loaded on hosts: saved only when IMAGES names them.
    if [[ -z ${IMAGES:-} && " ${TEST_ONLY_NAMES[*]} " == *" $n "* ]]; then continue; fi
    ref=$(stack_ref "$n")
    id=$(image_id "$ref")
    [[ -n $id ]] || die "$ref is not built (scripts/images.sh build)"
    file=$dir/${ref//[\/:@]/_}.tar
    start=$(now)
    recorded=$(tar_image_id "$file")
    if [[ -f $file && $recorded == "$id "* && " $recorded " == *" $ref "* ]]; then
      printf 'images: %-9s %-40s kept     (same image ID)\n' "$n" "$file"
      continue
    fi
    docker save -o "$file.tmp" "$ref" || { rm -f "$file.tmp"; die "docker save $ref failed"; }
    mv -f "$file.tmp" "$file"
    printf 'images: %-9s %-40s saved    %4ss  %s\n' "$n" "$file" $(($(now) - start)) "$(du -h "$file" | cut -f1)"
  done
}

cmd_clean() {
  need_docker
  local refs ref failed=0
  # Stack images before the bases they are built on.
  refs=$(all_refs | grep -vx -e "$BASE_TAG" -e "$PY311_TAG" || true)
  refs="$refs $(all_refs | grep -x -e "$BASE_TAG" -e "$PY311_TAG" || true)"
  for ref in $refs; do
    if docker rmi "$ref" >/dev/null 2>&1; then
      log "removed $ref"
    else
      log "could not remove $ref (used by a container? see: docker ps -a --filter ancestor=$ref)"
      failed=1
    fi
  done
  docker image prune -f --filter label=org.cslr.stage=builder >/dev/null 2>&1 || true
  [[ $failed == 0 ]] || die "some images are still in use (make lab-down removes the lab's hosts)"
}

# ------------------------------------------------------------------ check

# Runs each stack image the way the compose files do and checks its public-image contract.
# shellcheck disable=SC2329  # cleanup (the EXIT trap) calls it
check_cleanup() {
  [[ -n $CHECK_NET ]] || return 0
  docker ps -aq --filter "label=org.cslr.check=$CHECK_NET" | xargs -r docker rm -f -v >/dev/null 2>&1 || true
  docker volume ls -q --filter "label=org.cslr.check=$CHECK_NET" | xargs -r docker volume rm >/dev/null 2>&1 || true
  docker network rm "$CHECK_NET" >/dev/null 2>&1 || true
}

crun() { # docker run in the check network, labelled for cleanup
  docker run --network "$CHECK_NET" --label "org.cslr.check=$CHECK_NET" "$@"
}

wait_for() { # seconds description command...
  local secs=$1 what=$2; shift 2
  local end=$(($(now) + secs))
  until "$@" >/dev/null 2>&1; do
    (($(now) < end)) || { log "check: timed out waiting for $what"; return 1; }
    sleep 1
  done
}

check_step() { printf 'images: check %-9s %s\n' "$1" "$2"; }

cmd_check() {
  need_docker
  local n
  for n in "${STACK_NAMES[@]}"; do
    [[ -n $(image_id "$(stack_ref "$n")") ]] || die "$(stack_ref "$n") is not built (scripts/images.sh build)"
  done
  CHECK_NET=cslr-imgcheck-$$
  docker network create --label "org.cslr.check=$CHECK_NET" "$CHECK_NET" >/dev/null
  local pg=$PREFIX/postgres:${STACK_TAG[postgres]} redis=$PREFIX/redis:${STACK_TAG[redis]}
  local ray=$PREFIX/ray:${STACK_TAG[ray]} mlflow=$PREFIX/mlflow:${STACK_TAG[mlflow]}
  local health=$PREFIX/health:${STACK_TAG[health]} pw=check-Pw-$$ out

  # postgres: init from env, password over TCP, data survives a restart, clean stop.
  docker volume create --label "org.cslr.check=$CHECK_NET" "$CHECK_NET-pg" >/dev/null
  crun -d --name "$CHECK_NET-pg" -e POSTGRES_PASSWORD="$pw" -e POSTGRES_USER=mlflow -e POSTGRES_DB=mlflow \
    -v "$CHECK_NET-pg:/var/lib/postgresql/data" "$pg" >/dev/null
  wait_for 60 "postgres" docker exec "$CHECK_NET-pg" pg_isready -h 127.0.0.1 -U mlflow -d mlflow
  local psql=(crun --rm -e PGPASSWORD="$pw" "$pg" psql -h "$CHECK_NET-pg" -U mlflow -d mlflow -v ON_ERROR_STOP=1 -tA)
  "${psql[@]}" -c 'CREATE TABLE cslr_check (x int); INSERT INTO cslr_check VALUES (42);' >/dev/null
  docker restart "$CHECK_NET-pg" >/dev/null
  wait_for 60 "postgres restart" docker exec "$CHECK_NET-pg" pg_isready -h 127.0.0.1 -U mlflow -d mlflow
  out=$("${psql[@]}" -c 'SELECT x FROM cslr_check')
  [[ $out == 42 ]] || die "check postgres: data did not survive a restart (got '$out')"
  if crun --rm -e PGPASSWORD=wrong "$pg" psql -h "$CHECK_NET-pg" -U mlflow -d mlflow -c 'select 1' >/dev/null 2>&1; then
    die "check postgres: a wrong password was accepted"
  fi
  check_step postgres "ok: initdb from env, scram password over TCP, data kept across a restart"

  # mlflow: server on that postgres (psycopg2), REST API answers.
  crun -d --name "$CHECK_NET-mlflow" "$mlflow" mlflow server \
    --backend-store-uri "postgresql+psycopg2://mlflow:$pw@$CHECK_NET-pg:5432/mlflow" \
    --host 0.0.0.0 --port 5000 --allowed-hosts "$CHECK_NET-mlflow:5000" >/dev/null
  wait_for 120 "mlflow" crun --rm "$ray" curl -sf "http://$CHECK_NET-mlflow:5000/health"
  out=$(crun --rm "$ray" curl -sf -X POST -H 'Content-Type: application/json' -d '{"name":"cslr-check"}' \
          "http://$CHECK_NET-mlflow:5000/api/2.0/mlflow/experiments/create")
  [[ $out == *experiment_id* ]] || die "check mlflow: creating an experiment answered '$out'"
  out=$("${psql[@]}" -c "SELECT count(*) FROM experiments WHERE name = 'cslr-check'")
  [[ $out == 1 ]] || die "check mlflow: the experiment is not in PostgreSQL"
  check_step mlflow "ok: mlflow server on postgresql+psycopg2, experiment stored in PostgreSQL"
  docker stop -t 20 "$CHECK_NET-pg" >/dev/null
  out=$(docker inspect -f '{{.State.ExitCode}}' "$CHECK_NET-pg")
  [[ $out == 0 ]] || die "check postgres: docker stop ended with exit code $out"
  docker logs "$CHECK_NET-pg" 2>&1 | tail -n 3 | grep -q 'database system is shut down' \
    || die "check postgres: no clean shutdown in the log"
  check_step postgres "ok: docker stop shuts the server down cleanly (exit 0)"

  # redis: official-style command line, password enforced, redis-cli present.
  crun -d --name "$CHECK_NET-redis" "$redis" redis-server --requirepass "$pw" --port 6379 >/dev/null
  wait_for 30 "redis" crun --rm "$redis" redis-cli -h "$CHECK_NET-redis" -a "$pw" --no-auth-warning ping
  out=$(crun --rm "$redis" redis-cli -h "$CHECK_NET-redis" ping 2>&1 || true)
  [[ $out == *NOAUTH* ]] || die "check redis: no password required (got '$out')"
  check_step redis "ok: redis-server --requirepass, reachable from another container, NOAUTH without it"

  # ray: a head, a task on it, logs in /tmp/ray.
  crun -d --name "$CHECK_NET-ray" --shm-size=256m "$ray" ray start --head --num-cpus=1 --include-dashboard=false --block >/dev/null
  wait_for 90 "ray head" docker exec "$CHECK_NET-ray" ray status
  out=$(docker exec "$CHECK_NET-ray" python3 -c '
import ray
ray.init(address="auto", logging_level="ERROR")
@ray.remote
def f(x):
    return x * 2
print(ray.get(f.remote(21)), ray.__version__)' 2>/dev/null | tail -n 1)
  [[ $out == "42 ${STACK_TAG[ray]}" ]] || die "check ray: a task answered '$out'"
  docker exec "$CHECK_NET-ray" test -d /tmp/ray/session_latest/logs || die "check ray: no logs in /tmp/ray"
  check_step ray "ok: head started, task ran, Ray $(docker exec "$CHECK_NET-ray" ray --version | awk '{print $NF}')"

  # health: the collection's program, bind-mounted, with the Docker socket read-only.
  local prog=$ROOT/collections/ansible_collections/cslr/platform/roles/health/files/cslr_health.py
  crun -d --name "$CHECK_NET-health" -v /var/run/docker.sock:/var/run/docker.sock:ro \
    -v "$prog:/opt/cslr/cslr_health.py:ro" -e CSLR_HOST=check "$health" python3 /opt/cslr/cslr_health.py >/dev/null
  wait_for 30 "health" crun --rm "$ray" curl -sf "http://$CHECK_NET-health:8888/healthz"
  out=$(crun --rm "$ray" curl -sf "http://$CHECK_NET-health:8888/")
  [[ $out == *'"docker": "ok"'* && $out == *'"host": "check"'* ]] || die "check health: / answered '$out'"
  check_step health "ok: cslr_health.py answers / (docker ok) and /healthz"

  # etcd: one member configured through ETCD_* only (as a compose file does), healthy, the v2
  # API (ETCD_ENABLE_V2: torchrun's etcd-v2 rendezvous) answers.
  local etcd=$PREFIX/etcd:${STACK_TAG[etcd]} e=$CHECK_NET-etcd
  crun -d --name "$e" -e ETCD_NAME=check -e ETCD_DATA_DIR=/var/lib/etcd/check \
    -e ETCD_LISTEN_CLIENT_URLS=http://0.0.0.0:2379 -e ETCD_ADVERTISE_CLIENT_URLS="http://$e:2379" \
    -e ETCD_LISTEN_PEER_URLS=http://0.0.0.0:2380 -e ETCD_INITIAL_ADVERTISE_PEER_URLS="http://$e:2380" \
    -e ETCD_INITIAL_CLUSTER="check=http://$e:2380" -e ETCD_INITIAL_CLUSTER_STATE=new \
    -e ETCD_INITIAL_CLUSTER_TOKEN="$CHECK_NET" -e ETCD_ENABLE_V2=true "$etcd" >/dev/null
  wait_for 30 "etcd" docker exec "$e" etcdctl --endpoints=http://127.0.0.1:2379 endpoint health
  local v2=http://127.0.0.1:2379/v2/keys/cslr-check
  out=$(docker exec "$e" curl -sf -X PUT "$v2" -d "value=$pw")
  [[ $out == *'"action":"set"'* ]] || die "check etcd: v2 PUT answered '$out'"
  out=$(docker exec "$e" curl -sf "$v2")
  [[ $out == *"\"value\":\"$pw\""* ]] || die "check etcd: v2 GET answered '$out'"
  out=$(docker exec "$e" curl -sf -X DELETE "$v2")
  [[ $out == *'"action":"delete"'* ]] || die "check etcd: v2 DELETE answered '$out'"
  out=$(docker exec "$e" curl -s -o /dev/null -w '%{http_code}' "$v2")
  [[ $out == 404 ]] || die "check etcd: a deleted v2 key answered HTTP $out"
  check_step etcd "ok: member from ETCD_* env, endpoint health, v2 keys PUT/GET/DELETE, etcd $(docker exec "$e" etcd --version | awk 'NR==1 {print $NF}')"

  # torch: the tests' elastic job (bind-mounted) on two nodes, one process each: etcd-v2
  # rendezvous on that etcd, then a gloo all-reduce over eth0; both must see world size 2, sum 3.
  local torch=$PREFIX/torch:${STACK_TAG[torch]} job=$ROOT/molecule/default/tests/jobs/elastic_allreduce.py t
  for t in 0 1; do
    crun -d --name "$CHECK_NET-torch$t" -e GLOO_SOCKET_IFNAME=eth0 -v "$job:/jobs/elastic_allreduce.py:ro" \
      "$torch" torchrun --nnodes=2 --nproc-per-node=1 --rdzv-backend=etcd-v2 --rdzv-endpoint="$e:2379" \
      --rdzv-id="$CHECK_NET" /jobs/elastic_allreduce.py >/dev/null
  done
  for t in 0 1; do
    out=$(timeout 180 docker wait "$CHECK_NET-torch$t") || die "check torch: node $t did not finish in 180 s"
    if [[ $out != 0 ]]; then
      docker logs --tail 20 "$CHECK_NET-torch$t" >&2 || true
      die "check torch: node $t exited with $out"
    fi
    out=$(docker logs "$CHECK_NET-torch$t" 2>/dev/null | grep '^{' | tail -n 1)
    [[ $out == *'"ok": true'* && $out == *'"sum": 3'* && $out == *'"world_size": 2'* ]] \
      || die "check torch: node $t printed '$out'"
  done
  check_step torch "ok: torchrun etcd-v2 rendezvous of 2 nodes, gloo all_reduce sum 3, torch $(sed -n 's/.*"torch": "\([^"]*\)".*/\1/p' <<<"$out")"
  docker stop -t 20 "$e" >/dev/null
  out=$(docker inspect -f '{{.State.ExitCode}}' "$e")
  [[ $out == 0 ]] || die "check etcd: docker stop ended with exit code $out"
  check_step etcd "ok: docker stop shuts etcd down cleanly (exit 0)"
  log "check: all images passed"
}

usage() {
  sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit "${1:-2}"
}

main() {
  case ${1:-} in
    base) cmd_base ;;
    build) cmd_build ;;
    list) cmd_list ;;
    save) shift; cmd_save "$@" ;;
    clean) cmd_clean ;;
    check) cmd_check ;;
    -h|--help|help) usage 0 ;;
    *) usage 2 ;;
  esac
}

# One line: bash has read all of it before it runs, so editing this file mid-run is harmless.
main "$@"; exit $?
