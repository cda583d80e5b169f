"""Facts stay per host after validate.yml, the first play of site.yml and rolling_update.yml.

ansible-core 2.21.5 gives all hosts that have no facts yet one shared fact dictionary when a
run_once task reports (a run_once debug does): setup results gathered later on one host then
showed on every host (the training role's interface check failed on all hosts but the last).
validate.yml gives every host a fact cache of its own first; this runs the same sequence
(validate, a run_once debug, a per-host cacheable fact) on the lab inventory, on the controller.
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def test_facts_are_not_shared_between_hosts_after_validate():
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               CSLR_LAB_ROOT=ROOT)
    res = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "inventories/lab",
                          "tests/playbooks/fact_isolation.yml"],
                         capture_output=True, text=True, cwd=ROOT, env=env)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "is valid" in out, out
