#!/usr/bin/env bash
# Self-check of the browser test kit (images/browser, tests/lib/cslr_browser.py) against
# real services: starts a Ray head and an MLflow server on a throwaway Docker network,
# submits a Ray job that logs an MLflow run, then opens, in headless Chromium on that
# network, the pages a user opens and looks for what the user looks for:
#   Ray dashboard  http://RAY:8265/#/cluster            the head node: "<ip> (Head)", ALIVE
#   Ray dashboard  http://RAY:8265/#/jobs               the job's submission id, SUCCEEDED
#   MLflow UI      http://MLFLOW:5000/#/experiments/<id>/runs   the run's name
# Screenshots and DOMs are kept in OUT (default: a new /tmp/cslr-uitest-out.XXXX).
# Needs the images cslr-lab/browser:1, cslr-lab/ray:<v>, cslr-lab/mlflow:<v> (scripts/images.sh;
# the browser one: docker build -t cslr-lab/browser:1 images/browser). Everything it starts is
# named cslr-uitest-* and removed on exit (OUT stays). No traffic leaves the network.
#   usage: scripts/ui_selfcheck.sh [OUT]
#   env:   RAY_IMAGE MLFLOW_IMAGE BROWSER_IMAGE  SUBNET_PREFIX (default 10.213.250)
set -euo pipefail
cd "$(dirname "$0")/.."

RAY_IMAGE=${RAY_IMAGE:-cslr-lab/ray:2.60.0}
MLFLOW_IMAGE=${MLFLOW_IMAGE:-cslr-lab/mlflow:3.17.2}
export CSLR_BROWSER_IMAGE=${BROWSER_IMAGE:-cslr-lab/browser:1}
P=${SUBNET_PREFIX:-10.213.250}
NET=cslr-uitest-net
RAY=cslr-uitest-ray
MLFLOW=cslr-uitest-mlflow
RAY_IP=$P.10 MLFLOW_IP=$P.11 BROWSER_IP=$P.20
OUT=${1:-$(mktemp -d /tmp/cslr-uitest-out.XXXX)}
mkdir -p "$OUT"
JOB_ID=cslr-uitest-job-1
RUN_NAME=cslr-ui-run-1
EXPERIMENT=cslr-ui

log() { printf '%s ui_selfcheck: %s\n' "$(date +%T)" "$*" >&2; }
cleanup() {
  local rc=$?
  if ((rc != 0)); then
    log "FAILED (exit $rc); service logs follow"
    for c in "$RAY" "$MLFLOW"; do
      docker logs --tail 30 "$c" 2>&1 | sed "s/^/[$c] /" >&2 || true
    done
  fi
  # browser containers are --rm and removed by the helper; these catch a killed run
  docker ps -aq --filter "name=^cslr-uitest-" | xargs -r docker rm -fv >/dev/null 2>&1 || true
  docker network rm "$NET" >/dev/null 2>&1 || true
  log "artifacts in $OUT"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for img in "$RAY_IMAGE" "$MLFLOW_IMAGE" "$CSLR_BROWSER_IMAGE"; do
  docker image inspect "$img" >/dev/null 2>&1 || { log "image $img missing"; exit 1; }
done
docker rm -fv "$RAY" "$MLFLOW" >/dev/null 2>&1 || true
docker network rm "$NET" >/dev/null 2>&1 || true
docker network create --subnet "$P.0/24" "$NET" >/dev/null

log "starting Ray head ($RAY_IP) and MLflow ($MLFLOW_IP)"
docker run -d --name "$RAY" --network "$NET" --ip "$RAY_IP" --shm-size=512m \
  -e RAY_USAGE_STATS_ENABLED=0 -e MLFLOW_DISABLE_TELEMETRY=true -e DO_NOT_TRACK=true -e GIT_PYTHON_REFRESH=quiet \
  "$RAY_IMAGE" ray start --head --num-cpus=1 --dashboard-host=0.0.0.0 --disable-usage-stats --block >/dev/null
# MLflow >= 3.5 checks the Host header (--allowed-hosts) and refuses state-changing API calls
# (POST .../runs/search: the runs table) whose Origin is not localhost or in
# --cors-allowed-origins, even from its own UI: the browser's origin must be listed.
docker run -d --name "$MLFLOW" --network "$NET" --ip "$MLFLOW_IP" \
  -e MLFLOW_DISABLE_TELEMETRY=true -e DO_NOT_TRACK=true \
  "$MLFLOW_IMAGE" mlflow server --host 0.0.0.0 --port 5000 --workers 1 \
    --backend-store-uri sqlite:////tmp/m.db \
    --allowed-hosts "$MLFLOW_IP:5000,$MLFLOW_IP" \
    --cors-allowed-origins "http://$MLFLOW_IP:5000" >/dev/null

wait_http() { # CONTAINER URL SECONDS
  local i
  for ((i = 0; i < $3; i++)); do
    docker exec "$1" curl -fsS -o /dev/null "$2" 2>/dev/null && return 0
    sleep 1
  done
  log "$2 not answering after $3 s"; return 1
}
wait_http "$RAY" http://127.0.0.1:8265/api/version 120
wait_http "$MLFLOW" http://127.0.0.1:5000/health 120

log "submitting Ray job $JOB_ID (logs run $RUN_NAME to MLflow)"
job_out=$(docker exec "$RAY" ray job submit --address http://127.0.0.1:8265 \
  --submission-id "$JOB_ID" -- python3 -c "
import mlflow, ray
ray.init()
@ray.remote
def square(x):
    return x * x
total = sum(ray.get([square.remote(i) for i in range(4)]))
mlflow.set_tracking_uri('http://$MLFLOW_IP:5000')
exp = mlflow.set_experiment('$EXPERIMENT')
with mlflow.start_run(run_name='$RUN_NAME') as run:
    mlflow.log_param('n', 4)
    mlflow.log_metric('total', total)
# the driver runs in the head's container: it leaves the ids there (the job's log output
# comes back reformatted by the CLI)
open('/tmp/cslr-uitest-ids', 'w').write('%s %s\\n' % (exp.experiment_id, run.info.run_id))
" 2>&1) || { printf '%s\n' "$job_out" >&2; exit 1; }
exp_id= run_id=
read -r exp_id run_id < <(docker exec "$RAY" cat /tmp/cslr-uitest-ids) || true
[[ $exp_id =~ ^[0-9]+$ && $run_id =~ ^[0-9a-f]{32}$ ]] || { printf '%s\n' "$job_out" >&2; log "job left no experiment/run id ($exp_id $run_id)"; exit 1; }
log "job done: experiment $exp_id, run $run_id"

log "opening the UIs in headless Chromium ($BROWSER_IP)"
PYTHONPATH=tests/lib OUT="$OUT" NET="$NET" BROWSER_IP="$BROWSER_IP" RAY_IP="$RAY_IP" \
MLFLOW_IP="$MLFLOW_IP" EXP_ID="$exp_id" RUN_ID="$run_id" RUN_NAME="$RUN_NAME" JOB_ID="$JOB_ID" \
python3 - <<'PY'
import os, struct, sys
from cslr_browser import browse

env = os.environ
ray, mlflow = f"http://{env['RAY_IP']}:8265", f"http://{env['MLFLOW_IP']}:5000"
checks = [
    # (name, url, texts on the page, strings in the DOM)
    ("ray-nodes", f"{ray}/#/cluster", [f"{env['RAY_IP']} (Head)", "ALIVE"], [f"{env['RAY_IP']} (Head)"]),
    ("ray-jobs", f"{ray}/#/jobs", [env["JOB_ID"], "SUCCEEDED"], [env["JOB_ID"]]),
    ("mlflow-runs", f"{mlflow}/#/experiments/{env['EXP_ID']}/runs", [env["RUN_NAME"]],
     [f"#/experiments/{env['EXP_ID']}/runs/{env['RUN_ID']}", f">{env['RUN_NAME']}<"]),
]
for name, url, texts, dom_strings in checks:
    page = browse(url, env["NET"], env["BROWSER_IP"], env["OUT"], name, wait_ms=30000, expect=texts,
                  container_prefix="cslr-uitest-browser-")
    missing = [s for s in dom_strings if s not in page.dom]
    assert not missing, f"{name}: {missing} not in the DOM {page.html_path}"
    with open(page.png, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{page.png} is not a PNG"
    w, h = struct.unpack(">II", head[16:24])
    s = page.summary
    print(f"OK {name}: {url} title={s.get('title')!r} found={texts} screenshot={page.png} ({w}x{h}) "
          f"browser={s.get('t_browser_ms')}ms load={s.get('t_load_ms')}ms ready={s.get('t_ready_ms')}ms "
          f"total={s.get('t_total_ms')}ms failed_requests={page.failed_requests}", flush=True)
PY
log "all UI checks passed"
