"""Stand-in for get-pip.py (ci-files.testing.ansible.com cannot be reached from this machine).

ansible-test runs this file with get-pip arguments (e.g. pip==24.2 --no-setuptools --no-wheel).
It bootstraps pip with the interpreter's ensurepip, then installs what was asked for from PyPI,
honouring get-pip's own --no-setuptools / --no-wheel options.
"""

import subprocess
import sys

args = sys.argv[1:]
no_setuptools = '--no-setuptools' in args
no_wheel = '--no-wheel' in args
args = [a for a in args if a not in ('--no-setuptools', '--no-wheel')]

subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'], stdout=subprocess.DEVNULL)
rc = subprocess.call([sys.executable, '-m', 'pip', 'install'] + args)
remove = [name for name, skip in (('setuptools', no_setuptools), ('wheel', no_wheel)) if skip]
if rc == 0 and remove:
    subprocess.call(
        [sys.executable, '-m', 'pip', 'uninstall', '-y', '-q'] + remove,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
sys.exit(rc)
