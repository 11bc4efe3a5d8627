# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""n8n queue-mode benchmark on the molecule scenario n8n_queue (three hosts, real n8n).

Brings the scenario up with ``molecule converge`` (site.yml over n8n-main, n8n-worker1 and
n8n-worker2), then, in one run on the same machine:

* times a second ``molecule converge``: the no-op rerun of the scenario's site.yml (changed=0 is
  checked, not assumed);
* calls the scenario's webhook through Caddy over HTTPS (the exported internal CA), with 2 workers
  and with 1 (n8n on n8n-worker2 stopped), alternating, and prints executions per second of each.
  Every call must answer 200 with the right square, or the benchmark fails.

Two workloads: ``--wait-ms 0`` (the workflow only squares: measures the queue's own overhead,
where main, Valkey and the proxy dominate) and executions that stay ``--busy-ms`` in a worker
(measures what workers add: each runs n8n_worker_concurrency executions at once, 5 in the scenario,
so one worker tops out at 5 / busy seconds).

usage: .venv/bin/python benchmarks/n8n_bench.py [--calls 200] [--parallel 20] [--rounds 2] [--keep] [--reuse]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
SCENARIO = 'n8n_queue'
SCENARIO_DIR = os.path.join(ROOT, 'molecule', SCENARIO)
CALLER = os.path.join(SCENARIO_DIR, 'files', 'call_webhook.py')
MAIN, WORKER2 = 'n8n-main', 'n8n-worker2'
NETWORK = 'molecule-n8n-queue'
RESPONSE_TIMEOUT = 60  # seconds a call waits for its answer


def molecule(*args: str) -> subprocess.CompletedProcess:
    # COLUMNS: molecule wraps Ansible's output at the terminal's width; keep recap lines whole.
    env = dict(
        os.environ,
        PATH=os.path.join(ROOT, '.venv', 'bin') + os.pathsep + os.environ['PATH'],
        ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'),
        COLUMNS='500',
        NO_COLOR='1',
    )
    return subprocess.run(
        [os.path.join(ROOT, '.venv', 'bin', 'molecule'), *args, '-s', SCENARIO],
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=True,
        check=False,
    )


def exported_ca() -> str:
    """The root certificate the reverse_proxy role exported next to molecule's inventory."""
    # reverse_proxy_ca_export_path in molecule/n8n_queue/group_vars/all/scenario.yml
    pattern = os.path.expanduser('~/.ansible/tmp/molecule.*.%s/caddy-root.crt' % SCENARIO)
    found = sorted(glob.glob(pattern), key=os.path.getmtime)
    if not found:
        sys.exit('n8n_bench: no exported CA at %s' % pattern)
    return found[-1]


def instance_ip(name: str) -> str:
    out = subprocess.run(
        ['docker', 'inspect', '-f', '{{(index .NetworkSettings.Networks "%s").IPAddress}}' % NETWORK, name],
        text=True,
        capture_output=True,
        check=True,
    )
    return out.stdout.strip()


def worker2_n8n(action: str) -> None:
    """Stop or start n8n on n8n-worker2 (its Docker engine runs inside the instance)."""
    subprocess.run(['docker', 'exec', WORKER2, 'docker', action, 'n8n-worker'], check=True, capture_output=True)
    if action == 'start':
        deadline = time.time() + 120
        while time.time() < deadline:
            health = subprocess.run(
                ['docker', 'exec', WORKER2, 'docker', 'inspect', '-f', '{{.State.Health.Status}}', 'n8n-worker'],
                text=True,
                capture_output=True,
                check=False,
            ).stdout.strip()
            if health == 'healthy':
                return
            time.sleep(2)
        sys.exit('n8n_bench: n8n-worker on %s did not become healthy again' % WORKER2)


def successful_executions() -> int:
    """Executions n8n recorded as successful (its PostgreSQL on n8n-main)."""
    out = subprocess.run(
        [
            'docker',
            'exec',
            MAIN,
            'docker',
            'exec',
            'postgres',
            'psql',
            '-U',
            'postgres',
            '-d',
            'n8n',
            '-Atc',
            "SELECT count(*) FROM execution_entity WHERE status = 'success'",
        ],
        text=True,
        capture_output=True,
        check=True,
    )
    return int(out.stdout.strip())


def batch(ip: str, ca: str, key: str, calls: int, parallel: int, wait_ms: int) -> tuple:
    """Run one batch of webhook calls; return (answered calls per second, responses lost).

    A wrong answer or a refused call fails the benchmark. n8n 2.40.2's webhook process has been
    seen to finish an execution and never answer its caller (1 call in 200): such a call times out
    after RESPONSE_TIMEOUT, is counted as lost, and the rate is taken over the answered calls up to
    the last answer. Every call must still show up as a successful execution in n8n's database.
    """
    before = successful_executions()
    out = subprocess.run(
        [
            sys.executable,
            CALLER,
            '--ip',
            ip,
            '--host',
            'n8n.n8n-queue.test',
            '--ca',
            ca,
            '--header',
            'X-Molecule-Key: %s' % key,
            '--count',
            str(calls),
            '--parallel',
            str(parallel),
            '--wait-ms',
            str(wait_ms),
            '--timeout',
            str(RESPONSE_TIMEOUT),
        ],
        text=True,
        capture_output=True,
        check=True,
    )
    results = json.loads(out.stdout)['calls']
    answered = [
        c
        for c in results
        if c['status'] == 200 and isinstance(c.get('body'), dict) and c['body'].get('square') == c['n'] * c['n']
    ]
    lost = [c for c in results if c['status'] == 0 and 'timed out' in c.get('error', '')]
    bad = [c for c in results if c not in answered and c not in lost]
    if bad:
        sys.exit('n8n_bench: %d of %d calls failed, first: %s' % (len(bad), calls, bad[0]))
    executed = successful_executions() - before
    if executed != calls:
        sys.exit('n8n_bench: %d calls but %d new successful executions' % (calls, executed))
    began = min(c['started'] for c in results)
    ended = max(c['started'] + c['seconds'] for c in answered)
    return len(answered) / (ended - began), len(lost)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--calls', type=int, default=200, help='webhook calls per batch')
    parser.add_argument('--parallel', type=int, default=20, help='calls in flight at once')
    parser.add_argument('--rounds', type=int, default=2, help='1-worker/2-worker pairs per workload')
    parser.add_argument(
        '--busy-ms', type=int, default=2000, help='how long each execution of the second workload stays in a worker'
    )
    parser.add_argument('--busy-calls', type=int, default=100, help='webhook calls per batch of the second workload')
    parser.add_argument('--keep', action='store_true', help="leave the scenario's instances up")
    parser.add_argument(
        '--reuse',
        action='store_true',
        help='the instances are up and converged (an earlier --keep): skip the first converge',
    )
    args = parser.parse_args()
    try:
        run_benchmark(args)
    finally:
        if args.keep:  # leave the scenario as converged: both workers running
            subprocess.run(
                ['docker', 'exec', WORKER2, 'docker', 'start', 'n8n-worker'], check=False, capture_output=True
            )
        else:
            molecule('destroy')


def slowest_tasks(output: str, count: int = 8) -> list:
    """The slowest tasks of the profile_tasks recap that ansible.cfg enables."""
    recap = re.sub(r'\x1b\[[0-9;]*m', '', output.rsplit('TASKS RECAP', 1)[-1])
    tasks = re.findall(r'^[\s\u2502]*(\S.*?) -+ ([0-9.]+)s\s*$', recap, re.MULTILINE)
    return sorted(((float(seconds), name.strip()) for name, seconds in tasks), reverse=True)[:count]


def run_benchmark(args: argparse.Namespace) -> None:
    print('n8n_bench: load before: %s' % Path('/proc/loadavg').read_text().strip())
    if not args.reuse:
        started = time.time()
        for step in ('create', 'prepare', 'converge'):
            run = molecule(step)
            if run.returncode:
                sys.exit('n8n_bench: molecule %s failed:\n%s' % (step, run.stdout[-4000:] + run.stderr[-2000:]))
        print('n8n_bench: first converge (create, prepare, site.yml): %.0f s' % (time.time() - started))

    started = time.time()
    rerun = molecule('converge')
    noop_seconds = time.time() - started
    output = rerun.stdout + rerun.stderr  # molecule writes Ansible's output to either, by version
    changed = [int(n) for n in re.findall(r'changed=(\d+)', output)]
    if rerun.returncode or not changed or any(changed):
        sys.exit('n8n_bench: the rerun was not a no-op (changed=%s):\n%s' % (changed, output[-4000:]))
    print('n8n_bench: no-op rerun of site.yml (molecule converge, 3 hosts, changed=0): %.1f s' % noop_seconds)
    for seconds, name in slowest_tasks(output):
        print('n8n_bench:   %6.1f s  %s' % (seconds, name))

    ca = exported_ca()
    ip, key = instance_ip(MAIN), 'molecule-webhook-key'
    batch(ip, ca, key, 20, args.parallel, 0)  # warm-up: first executions load code on each worker

    workloads = (
        ('square only (wait 0 ms)', 0, args.calls),
        ('in a worker %d ms' % args.busy_ms, args.busy_ms, args.busy_calls),
    )
    for label, wait_ms, calls in workloads:
        rates, lost = {1: [], 2: []}, {1: 0, 2: 0}
        for _round in range(args.rounds):
            for workers in (1, 2):
                worker2_n8n('stop' if workers == 1 else 'start')
                rate, missing = batch(ip, ca, key, calls, args.parallel, wait_ms)
                rates[workers].append(rate)
                lost[workers] += missing
        one, two = statistics.median(rates[1]), statistics.median(rates[2])
        print(
            'n8n_bench: %-26s 1 worker %6.1f exec/s   2 workers %6.1f exec/s   ratio %.2f   (%s)'
            % (label, one, two, two / one, ', '.join('%.1f' % r for r in rates[1] + rates[2]))
        )
        print(
            'n8n_bench: %-26s every call executed; responses lost by n8n: %d with 1 worker, %d with 2 (of %d each)'
            % ('', lost[1], lost[2], calls * args.rounds)
        )

    print('n8n_bench: load after: %s' % Path('/proc/loadavg').read_text().strip())


if __name__ == '__main__':
    main()
