# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the sandbox benchmarks share: ansible-playbook runs into the sandbox of ``make demo``, timed, with the
recap per host, over the Docker connection or over SSH with pipelining as the hardening role's admin user."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
SANDBOX = os.path.join(ROOT, 'inventories', 'sandbox')
ADMIN_KEY = os.path.join(SANDBOX, '.secrets', 'sandbox-admin_ed25519')
HOSTS = {'sandbox-main': 'sai-sandbox-main', 'sandbox-worker': 'sai-sandbox-worker'}
RECAP = re.compile(r'^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)', re.M)


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
        sys.exit('ansible-playbook %s failed:\n%s' % (' '.join(args), result.stdout[-4000:]))
    return elapsed, recap


def busy_cores(seconds: float = 10.0) -> float:
    """How many of this machine's cores were busy over the next `seconds` (/proc/stat, all processes)."""

    def counters() -> tuple[int, int]:
        with open('/proc/stat') as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]  # all jiffies, idle + iowait

    total, idle = counters()
    time.sleep(seconds)
    total_after, idle_after = counters()
    return (os.cpu_count() or 1) * (1 - (idle_after - idle) / max(total_after - total, 1))


def wait_until_quiet(below: float = 0.5, longest: float = 300.0) -> float:
    """Wait until the machine's busy cores stay below `below` (a sandbox just started keeps its services busy for
    minutes, and a rerun measured then measures them too); at most `longest` seconds. Prints what it waited for and
    returns the busy cores measured last."""
    started = time.monotonic()
    busy = busy_cores()
    while busy >= below and time.monotonic() - started < longest:
        print('waiting for the machine to settle: %.2f cores busy (below %.2f wanted)' % (busy, below), flush=True)
        busy = busy_cores()
    if busy >= below:
        print('the machine did not settle in %.0f s (%.2f cores busy); measuring anyway' % (longest, busy))
    return busy


def container_address(name: str) -> str:
    out = subprocess.run(
        ['docker', 'inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', name],
        text=True,
        capture_output=True,
        check=False,
    )
    if out.returncode != 0 or not out.stdout.split():
        sys.exit('%s is not running; run `make demo` first' % name)
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
