"""cslr.platform.project_files through ansible-playbook on this machine: the action plugin reads
files[].src on the controller, a rerun changes nothing, and the secrets never reach the output,
even at -vvv with --diff."""
import grp
import os
import pwd
import subprocess
import sys

from cslr_render import ROOT, local_host, run_play

SECRET = "pg-Secret-4711"


def play(project, src):
    return [{"hosts": "all", "gather_facts": False, "tasks": [{
        "name": "Write the project",
        "cslr.platform.project_files": {
            "path": str(project), "owner": pwd.getpwuid(os.getuid()).pw_name,
            "group": grp.getgrgid(os.getgid()).gr_name,
            "env_files": {"postgres": {"POSTGRES_PASSWORD": SECRET}},
            "files": [{"dest": "entry.py", "src": str(src), "mode": "0755"},
                      {"dest": "compose.yaml", "content": "services: {}\n", "mode": "0640",
                       "validate": "grep -q services %s"}]},
        "register": "result"}, {
        "name": "Show what changed",
        "ansible.builtin.debug": {"msg": "changed={{ result.changed }} files={{ result.changed_files | join(',') }}"}}]}]


def test_project_files_through_the_action_plugin(tmp_path):
    src = tmp_path / "entry.py"
    src.write_text("print('entry')\n")
    project = tmp_path / "project"
    inventory = {"all": {"hosts": {"box": local_host()}}}
    first = run_play(tmp_path, inventory, play(project, src))
    assert "changed=True files=postgres.env,entry.py,compose.yaml" in first.stdout
    assert (project / "entry.py").read_text() == "print('entry')\n"
    assert oct(os.stat(str(project / "entry.py")).st_mode & 0o777) == "0o755"
    assert SECRET in (project / "postgres.env").read_text()
    assert SECRET not in first.stdout + first.stderr

    again = run_play(tmp_path, inventory, play(project, src))
    assert "changed=False files=" in again.stdout

    # -vvv --diff with a changed secret and a changed src: the diff shows the file, never the secret.
    src.write_text("print('entry 2')\n")
    (tmp_path / "play.json").write_text((tmp_path / "play.json").read_text().replace(SECRET, SECRET + "x"))
    res = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-vvv", "--diff", "-i", str(tmp_path / "hosts.json"), str(tmp_path / "play.json")],
        capture_output=True, text=True, cwd=ROOT,
        env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1"))
    assert res.returncode == 0, res.stdout[-3000:]
    assert "print('entry 2')" in res.stdout and "content not shown" in res.stdout
    assert SECRET not in res.stdout + res.stderr
    assert "files=postgres.env,entry.py" in res.stdout
