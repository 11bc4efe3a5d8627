# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The postgres role's databases, owners and logins on a rerun: the postgres_databases module (one run)
beside the community.postgresql tasks it replaced (benchmarks/files/postgres_databases_community.yml, one
module run per object and item), side by side in one run.

Starts a throw-away PostgreSQL (the integration tests' server, tests/integration/servers/postgres.py),
creates the sandbox's databases (n8n, openwebui with an extension, flowise, langfuse) and its monitoring
login once, then times ROUNDS no-op runs of each through ansible-playbook on the local connection,
alternating. Each must report changed=0. Prints every time and the median of each, and the ratio.

usage: .venv/bin/python benchmarks/postgres_databases_bench.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path[:0] = [os.path.join(ROOT, 'tests', 'integration'), os.path.join(ROOT, 'tests')]
from ansible_run import ansible_playbook_on_localhost  # noqa: E402  (the tests' directories, put on the path above)
from servers.postgres import PostgresServer  # noqa: E402

RECAP = re.compile(r'^localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', re.M)
PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars_files: [{vars_file}]
  tasks:
    - ansible.builtin.import_tasks: {tasks}
"""
IMPLEMENTATIONS = {
    'postgres_databases module': os.path.join(ROOT, 'roles', 'postgres', 'tasks', 'databases.yml'),
    'community.postgresql tasks': os.path.join(ROOT, 'benchmarks', 'files', 'postgres_databases_community.yml'),
}


def write_private(path: str, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as handle:
        handle.write(content)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args()

    server = PostgresServer().start()
    work = tempfile.mkdtemp(prefix='pgdb-bench-')
    try:
        secrets = os.path.join(work, 'secrets')
        os.makedirs(os.path.join(secrets, 'postgres'), mode=0o700)
        os.chmod(secrets, 0o700)
        write_private(os.path.join(secrets, 'postgres', 'superuser.json'), json.dumps({'value': server.password}))
        variables = {
            'postgres_databases': [
                {'name': 'n8n', 'owner': 'n8n'},
                {'name': 'openwebui', 'owner': 'openwebui', 'extensions': ['pg_trgm']},
                {'name': 'flowise', 'owner': 'flowise'},
                {'name': 'langfuse', 'owner': 'langfuse'},
            ],
            'postgres_users': [{'name': 'monitoring', 'roles': ['pg_monitor']}],
            'postgres_superuser_secret': 'postgres/superuser',
            '__postgres_login': {'login_host': server.host, 'login_port': server.port, 'login_user': server.user},
        }
        vars_file = os.path.join(work, 'vars.json')
        write_private(vars_file, json.dumps(variables))
        playbooks = {}
        for name, tasks in IMPLEMENTATIONS.items():
            playbooks[name] = os.path.join(work, re.sub(r'\W+', '_', name) + '.yml')
            write_private(playbooks[name], PLAYBOOK.format(vars_file=vars_file, tasks=tasks))
        secret_store = {'SELFHOSTED_AI_SECRET_BACKEND': 'file', 'SELFHOSTED_AI_SECRET_DIR': secrets}

        def run(name: str) -> tuple[float, int]:
            started = time.monotonic()
            result = ansible_playbook_on_localhost(playbooks[name], extra_env=secret_store, cwd=work)
            seconds = time.monotonic() - started
            recap = RECAP.search(result.stdout)
            if result.returncode != 0 or recap is None or recap.group(4) != '0':
                sys.exit('%s failed:\n%s' % (name, result.stdout[-3000:] + result.stderr[-2000:]))
            return seconds, int(recap.group(2))

        run('postgres_databases module')  # creates everything once
        times = {name: [] for name in IMPLEMENTATIONS}
        for _round in range(args.rounds):
            for name in IMPLEMENTATIONS:
                seconds, changed = run(name)
                if changed:
                    sys.exit('%s changed %d on a rerun' % (name, changed))
                times[name].append(seconds)
        print(
            "no-op runs of the postgres role's database tasks (4 databases, 1 login), seconds per ansible-playbook run:"
        )
        for name, values in times.items():
            print('  %-28s %s  median %.2f' % (name, ' '.join('%.2f' % v for v in values), statistics.median(values)))
        ratio = statistics.median(times['community.postgresql tasks']) / statistics.median(
            times['postgres_databases module']
        )
        print('  the module is %.1f times as fast (load %.1f)' % (ratio, os.getloadavg()[0]))
        return 0
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
