"""The web UIs a user opens, in a real browser on a workstation of the admin network.

Headless Chromium (the lab image cslr-lab/browser, tests/lib/cslr_browser.py) runs as a machine
of its own on the lab network, at an address inside `cslr_admin_networks` and outside the
cluster: the way a lab member opens the URLs site.yml's summary prints. It opens the Ray
dashboard's cluster page (with the cluster's token as its cookie) and must find every node; it opens MLflow's runs page of an experiment
and must find a run a Ray job logged. Screenshots and DOMs are kept under .artifacts/web-ui/.
"""
import base64
import ipaddress
import json
import os

import pytest

from cslr_browser import browse
from cslr_testinfra import ROOT, Lab
from test_stacks import mlflow_admin, mlflow_get, submit_job

LAB = Lab()
HOSTS = LAB.group("cslr_cluster")
HEAD = LAB.group("cslr_ray_head_candidates")[0]
MLFLOW = LAB.group("cslr_mlflow_hosts")[0]
HV = LAB.hostvars[HEAD]
NETWORK = HV["lab_network_name"]
ADMIN_NETWORK = ipaddress.ip_network(HV["cslr_admin_networks"][0])
WORKSTATION = str(list(ADMIN_NETWORK.hosts())[5])  # an admin workstation, not a cluster host
ARTIFACTS = os.path.join(ROOT, ".artifacts", "web-ui")


@pytest.fixture(scope="module")
def artifacts():
    os.makedirs(ARTIFACTS, exist_ok=True)
    return ARTIFACTS


def test_the_workstation_is_outside_the_cluster():
    assert WORKSTATION not in [LAB.address(h) for h in HOSTS]
    assert ipaddress.ip_address(WORKSTATION) in ADMIN_NETWORK


def test_ray_dashboard_shows_every_node(artifacts):
    head = LAB.address(HEAD)
    # Token authentication: the dashboard takes the cluster token as its cookie (what its
    # sign-in prompt sets), as a lab member's browser holds it.
    page = browse("http://%s:8265/#/cluster" % head, NETWORK, WORKSTATION, artifacts, "ray-dashboard-cluster",
                  wait_ms=45000, expect=["%s (Head)" % head] + [LAB.address(h) for h in HOSTS if h != HEAD],
                  cookies={"ray-authentication-token": LAB.ray_token()})
    assert page.text.count("ALIVE") >= len(HOSTS), page.text[:3000]
    assert os.path.getsize(page.png) > 10000


def test_mlflow_ui_lists_a_run_logged_by_a_ray_job(artifacts):
    _, _, result = submit_job("cslr-web-ui")
    reader = [h for h in HOSTS if h != MLFLOW][0]
    run = json.loads(mlflow_get(reader, "/api/2.0/mlflow/runs/get?run_id=" + result["run_id"]))["run"]
    experiment = run["info"]["experiment_id"]
    # MLflow's basic auth: the credentials a lab member types into the browser's prompt.
    user, password = mlflow_admin()
    basic = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    page = browse("http://%s:5000/#/experiments/%s/runs" % (LAB.address(MLFLOW), experiment), NETWORK, WORKSTATION,
                  artifacts, "mlflow-runs", wait_ms=45000, expect=[run["info"]["run_name"]],
                  headers={"Authorization": basic})
    assert "#/experiments/%s/runs/%s" % (experiment, result["run_id"]) in page.dom
    # The UI's own API calls went through (no 403 from MLflow's host/CORS checks).
    assert not [r for r in page.failed_requests if "403" in str(r)], page.failed_requests
