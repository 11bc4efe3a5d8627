# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tenant apps at scale: 50 tenants, each its own n8n and Open WebUI, on the sandbox's one apps host.

On the sandbox of ``make demo`` (converged first by rerun_bench or ``make demo``), over SSH with pipelining as the
hardening role's admin user, ``playbooks/tenants.yml`` with the sandbox's own tenants plus N benchmark tenants
(``bench01``...; ``apps: [n8n, openwebui]``, extra variables). The containers are created stopped
(``tenant_apps_container_state: present``): 100 running apps need more memory than this machine has. Everything
else is real: the tenant module's databases, Valkey users, buckets and OpenBao records, each tenant's AppRole login
for its credentials, networks, volumes, containers and the proxy's routes file. Timed one after the other:

1. provisioning the N tenants (first run);
2. a no-op rerun: changed=0 checked;
3. adding one tenant: the containers of the N others must be the same containers afterwards (same ids, so not
   recreated), the new tenant's two must exist;
4. removing the N+1 benchmark tenants with ``state: absent, purge: true`` (which also cleans the sandbox up): their
   containers must be gone.

Each run prints its time and the tasks per host (ok / skipped, from the recap). Target (issue 17): the no-op rerun
and the one-tenant addition each under 60 s for 50 tenants over SSH. A missed target makes it exit non-zero.

usage: .venv/bin/python benchmarks/tenant_apps_bench.py [--tenants 50]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import yaml
from sandbox_runs import HOSTS, SANDBOX, playbook, ssh_inventory

TARGET_S = 60


def sandbox_tenants() -> list[dict]:
    with open(os.path.join(SANDBOX, 'group_vars', 'all', 'tenants.yml')) as handle:
        return yaml.safe_load(handle)['tenants']


def bench_tenants(count: int, state: str = 'present') -> list[dict]:
    entries = []
    for number in range(1, count + 1):
        entry = {'id': 'bench%02d' % number, 'display_name': 'Bench %d' % number, 'apps': ['n8n', 'openwebui']}
        if state == 'absent':
            entry.update(state='absent', purge=True)
        entries.append(entry)
    return entries


def app_containers() -> dict[str, str]:
    """name -> id of the benchmark tenants' app containers inside the sandbox's apps host."""
    out = subprocess.run(
        [
            'docker',
            'exec',
            HOSTS['sandbox-main'],
            'docker',
            'ps',
            '--all',
            '--no-trunc',
            '--format',
            '{{.Names}} {{.ID}}',
        ],
        text=True,
        capture_output=True,
        check=True,
    ).stdout
    return dict(line.split() for line in out.splitlines() if '-bench' in line.split()[0])


def run(label: str, ssh: str, extra: str, tenants: list[dict]) -> tuple[float, dict]:
    with open(extra, 'w') as out:
        json.dump({'tenants': tenants, 'tenant_apps_container_state': 'present'}, out)
    seconds, recap = playbook('-i', ssh, 'playbooks/tenants.yml', '-e', '@' + extra)
    hosts = ', '.join(
        '%s %d / %d, changed=%d' % (host, r['ok'], r['skipped'], r['changed']) for host, r in sorted(recap.items())
    )
    print('%-44s %8.1f  %s' % (label, seconds, hosts), flush=True)
    return seconds, recap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--tenants', type=int, default=50, help='benchmark tenants besides the sandbox own')
    args = parser.parse_args()
    own = sandbox_tenants()
    count = args.tenants
    missed = []
    with tempfile.TemporaryDirectory() as directory:
        ssh = ssh_inventory(directory)
        extra = os.path.join(directory, 'tenants.json')
        print('%-44s %8s  %s' % ('run of playbooks/tenants.yml, SSH', 'seconds', 'tasks per host (ok / skipped)'))
        run('provision %d tenants x (n8n, Open WebUI)' % count, ssh, extra, own + bench_tenants(count))
        before = app_containers()
        if len(before) != 2 * count:
            missed.append('%d benchmark containers after provisioning, not %d' % (len(before), 2 * count))
        seconds, recap = run('no-op rerun', ssh, extra, own + bench_tenants(count))
        if any(r['changed'] for r in recap.values()):
            missed.append('the no-op rerun reported a change')
        if seconds > TARGET_S:
            missed.append('the no-op rerun took %.0f s (target < %d s)' % (seconds, TARGET_S))
        seconds, recap = run('add one tenant (number %d)' % (count + 1), ssh, extra, own + bench_tenants(count + 1))
        after = app_containers()
        kept = {name: after.get(name) for name in before}
        if kept != before:
            missed.append('adding a tenant recreated or removed %s' % sorted(n for n in before if kept[n] != before[n]))
        added = sorted(set(after) - set(before))
        print('  containers of the other %d tenants unchanged (same ids); added: %s' % (count, ', '.join(added)))
        if len(added) != 2:
            missed.append('adding a tenant added %s, not its two apps' % added)
        if seconds > TARGET_S:
            missed.append('adding a tenant took %.0f s (target < %d s)' % (seconds, TARGET_S))
        run('remove the %d (absent, purge)' % (count + 1), ssh, extra, own + bench_tenants(count + 1, 'absent'))
        left = app_containers()
        if left:
            missed.append('%d benchmark containers left after the removal' % len(left))
    print('load average: %.2f %.2f %.2f' % os.getloadavg())
    if missed:
        sys.exit('tenant_apps_bench: ' + '; '.join(missed))


if __name__ == '__main__':
    main()
