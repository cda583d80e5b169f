"""Ray job used by the stack tests: one task pinned on every alive node, then a task on a chosen
node (not the MLflow host) that logs a metric and an artifact to the platform's MLflow
(MLFLOW_TRACKING_URI comes from the Ray container's environment). Prints one JSON line."""
import json
import os
import socket
import sys

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy


@ray.remote(num_cpus=0.1)
def where():
    return ray.util.get_node_ip_address(), socket.gethostname()


@ray.remote(num_cpus=0.1)
def log_to_mlflow(experiment, marker):
    import mlflow
    mlflow.set_experiment(experiment)
    with mlflow.start_run() as run:
        mlflow.log_metric("accuracy", 0.875)
        mlflow.log_param("node", ray.util.get_node_ip_address())
        path = "/tmp/cslr-artifact-%s.txt" % marker
        with open(path, "w") as f:
            f.write("artifact %s from %s\n" % (marker, ray.util.get_node_ip_address()))
        mlflow.log_artifact(path)
        return run.info.run_id, ray.util.get_node_ip_address(), os.environ.get("MLFLOW_TRACKING_URI")


def main():
    log_on, experiment, marker = sys.argv[1], sys.argv[2], sys.argv[3]
    ray.init(address="auto", logging_level="ERROR")
    nodes = [n for n in ray.nodes() if n["Alive"]]
    pinned = [where.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote()
              for n in nodes]
    ran_on = sorted(ip for ip, _ in ray.get(pinned, timeout=300))
    target = [n for n in nodes if n["NodeManagerAddress"] == log_on][0]
    run_id, logged_from, uri = ray.get(log_to_mlflow.options(
        scheduling_strategy=NodeAffinitySchedulingStrategy(target["NodeID"], soft=False)).remote(experiment, marker),
        timeout=300)
    print(json.dumps({"ran_on": ran_on, "run_id": run_id, "logged_from": logged_from, "tracking_uri": uri}))


if __name__ == "__main__":
    main()
