"""Run on the apps host (ansible.builtin.script): read every secret file under the directory given, take each secret
value out of them, and look for each in `docker inspect` of the containers given. Prints one JSON object: files,
secrets (the values found), containers and the (container, file) pairs whose value `docker inspect` shows (none).
"""

import json
import os
import shlex
import subprocess
import sys

secrets_dir, containers = sys.argv[1], sys.argv[2:]


def values(text):
    """The secrets in a file: each assignment's value (env: NAME=shell-quoted; AWS credentials: key = value), else
    the whole file."""
    found = []
    for line in text.splitlines():
        if '=' in line and not line.startswith('['):
            name, value = line.split('=', 1)
            found.append(' '.join(shlex.split(value)) if name.strip().isupper() else value.strip())
    return found or [text.strip()]


secrets = []
for root, dummy, names in os.walk(secrets_dir):
    for name in names:
        path = os.path.join(root, name)
        with open(path) as handle:
            secrets += [(path, value) for value in values(handle.read()) if len(value) >= 8]
inspect = {
    name: subprocess.run(['docker', 'inspect', name], capture_output=True, text=True, check=True).stdout
    for name in containers
}
shown = [[name, path] for name, text in inspect.items() for path, value in secrets if value in text]
print(
    json.dumps(
        {
            'files': len({path for path, dummy in secrets}),
            'secrets': len(secrets),
            'containers': len(inspect),
            'shown': shown,
        }
    )
)
