#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine: install docker.io from the distribution
# if dockerd is missing, start it (systemd if it runs, else dockerd in the background), and
# wait for it. Fails loudly; never lets a test "pass" without Docker. Needs root to install.
set -euo pipefail
log() { echo "ensure-docker: $*" >&2; }

if docker info >/dev/null 2>&1; then
  log "engine already running ($(docker version --format '{{.Server.Version}}'))"
  exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
  [[ $(id -u) -eq 0 ]] || { log "dockerd is missing and this is not root: install docker.io first"; exit 1; }
  log "installing docker.io"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
if [[ -d /run/systemd/system ]] && systemctl start docker 2>/dev/null; then
  log "started docker.service"
else
  log "starting dockerd in the background (log: /var/log/cslr-dockerd.log)"
  nohup dockerd >/var/log/cslr-dockerd.log 2>&1 &
fi
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    log "engine up ($(docker version --format '{{.Server.Version}}'))"
    exit 0
  fi
  sleep 1
done
log "dockerd did not come up in 60 s; last log lines:"
tail -20 /var/log/cslr-dockerd.log >&2 || true
exit 1
