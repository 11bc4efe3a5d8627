# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rerun benchmark: what an operator waits for when nothing has changed.

On the sandbox of ``make demo`` (sandbox-main with every service, sandbox-worker with an n8n worker and
the backup repository), converged first if it is not yet, then timed one after the other:

* ``site.yml`` rerun through the Docker connection (what a second ``make demo`` runs);
* ``site.yml`` rerun over SSH with pipelining, as the admin user the hardening role created, with
  become: the way users reach their servers;
* ``site.yml --tags postgres`` over SSH (rerun one service after a tweak).

Every rerun must report changed=0 and failed=0 on every host; the benchmark checks it, and prints
the time and the tasks per host (ok and skipped, from the play recap).
Targets (issue: fast reruns): a no-op rerun over SSH in at most 45 s, ``--tags <one service>`` in at
most 10 s. A missed target is printed and makes the benchmark exit non-zero.

usage: .venv/bin/python benchmarks/rerun_bench.py [--tags postgres]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
SANDBOX = os.path.join(ROOT, 'inventories', 'sandbox')
ADMIN_KEY = os.path.join(SANDBOX, '.secrets', 'sandbox-admin_ed25519')
HOSTS = {'sandbox-main': 'sai-sandbox-main', 'sandbox-worker': 'sai-sandbox-worker'}
RECAP = re.compile(r'^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)', re.M)
NOOP_TARGET_S = 45
TAGS_TARGET_S = 10


def playbook(*args: str) -> tuple[float, dict[str, dict[str, int]]]:
    """Run ansible-playbook from the repository (its ansible.cfg); seconds and the recap per host."""
    env = dict(
        os.environ,
        PATH=os.path.join(ROOT, '.venv', 'bin') + os.pathsep + os.environ['PATH'],
        ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'),
        ANSIBLE_FORCE_COLOR='0',
    )
    started = time.monotonic()
    result = subprocess.run(
        ['ansible-playbook', '-i', SANDBOX, *args], cwd=ROOT, env=env, text=True, capture_output=True, check=False
    )
    elapsed = time.monotonic() - started
    recap = {
        host: dict(zip(('ok', 'changed', 'unreachable', 'failed', 'skipped'), map(int, counts), strict=True))
        for host, *counts in RECAP.findall(result.stdout)
    }
    if result.returncode != 0 or not recap:
        sys.exit('rerun_bench: ansible-playbook %s failed:\n%s' % (' '.join(args), result.stdout[-4000:]))
    return elapsed, recap


def container_address(name: str) -> str:
    out = subprocess.run(
        ['docker', 'inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', name],
        text=True,
        capture_output=True,
        check=False,
    )
    if out.returncode != 0 or not out.stdout.split():
        sys.exit('rerun_bench: %s is not running; run `make demo` first' % name)
    return out.stdout.split()[0]


def ssh_inventory(directory: str) -> str:
    """Host variables that override the sandbox's Docker connection: SSH to each container's address."""
    path = os.path.join(directory, 'ssh.yml')
    with open(path, 'w') as out:
        out.write('all:\n  hosts:\n')
        for host, container in HOSTS.items():
            out.write('    %s:\n' % host)
            out.write('      ansible_connection: ssh\n')
            out.write('      ansible_host: %s\n' % container_address(container))
            out.write('      ansible_user: admin\n')
            out.write('      ansible_ssh_private_key_file: %s\n' % ADMIN_KEY)
            # Throw-away containers: their host keys change with every sandbox.
            out.write("      ansible_ssh_common_args: '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--tags', default='postgres', help='the one service rerun with --tags')
    args = parser.parse_args()
    if subprocess.run([sys.executable, 'tests/harness/harness.py', 'sandbox-up'], cwd=ROOT, check=False).returncode:
        sys.exit('rerun_bench: the sandbox did not start')
    seconds, recap = playbook('playbooks/site.yml')
    print(
        'converge (site.yml, Docker connection): %.0f s, changed %s'
        % (seconds, {h: r['changed'] for h, r in recap.items()})
    )
    with tempfile.TemporaryDirectory() as directory:
        ssh = ssh_inventory(directory)
        runs = [
            ('site.yml, Docker connection', ('playbooks/site.yml',), NOOP_TARGET_S, False),
            ('site.yml, SSH + pipelining', ('-i', ssh, 'playbooks/site.yml'), NOOP_TARGET_S, True),
            (
                'site.yml --tags %s, SSH' % args.tags,
                ('-i', ssh, 'playbooks/site.yml', '--tags', args.tags),
                TAGS_TARGET_S,
                True,
            ),
        ]
        missed = []
        print('%-36s %8s  %s' % ('no-op rerun', 'seconds', 'tasks per host (ok / skipped), changed'))
        for label, argv, target, counted in runs:
            seconds, recap = playbook(*argv)
            hosts = ', '.join(
                '%s %d / %d, changed=%d' % (host, r['ok'], r['skipped'], r['changed'])
                for host, r in sorted(recap.items())
            )
            print('%-36s %8.1f  %s' % (label, seconds, hosts))
            if any(r['changed'] or r['failed'] or r['unreachable'] for r in recap.values()):
                missed.append('%s reported a change or a failure' % label)
            if counted and seconds > target:
                missed.append('%s took %.0f s (target <= %d s)' % (label, seconds, target))
    print('load average: %.2f %.2f %.2f' % os.getloadavg())
    if missed:
        sys.exit('rerun_bench: ' + '; '.join(missed))


if __name__ == '__main__':
    main()
