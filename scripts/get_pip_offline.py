"""Stand-in for pypa's get-pip.py, for ansible-test's venv bootstrap on machines that reach
PyPI but not ansible-test's file host: bootstrap pip with the standard library's ensurepip,
then `pip install` the arguments ansible-test passes (e.g. pip==24.2). scripts/sanity.sh puts
it where ansible-test looks for its cached bootstrap script."""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
