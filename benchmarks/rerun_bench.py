# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rerun benchmark: what an operator waits for when nothing has changed.

On the sandbox of ``make demo`` (sandbox-main with every service, sandbox-worker with an n8n worker and
the backup repository), converged first if it is not yet, then timed one after the other:

* ``site.yml`` rerun through the Docker connection (what a second ``make demo`` runs);
* ``site.yml`` rerun over SSH with pipelining, as the admin user the hardening role created, with
  become: the way users reach their servers;
* ``site.yml --tags postgres`` over SSH (rerun one service after a tweak).

Every rerun must report changed=0 and failed=0 on every host; the benchmark checks it, and prints
the time and the tasks per host (ok and skipped, from the play recap). Each rerun is timed three times
(``--repeats``) and judged by the median; before each, the benchmark waits until the machine's cores are
quiet (the sandbox's services start for minutes after ``sandbox-up``, and on a two-core machine a rerun
timed then measures them too) and prints the busy cores it found.
Targets (issue: fast reruns): a no-op rerun over SSH in at most 45 s, ``--tags <one service>`` in at
most 10 s. A missed target is printed and makes the benchmark exit non-zero.

usage: .venv/bin/python benchmarks/rerun_bench.py [--tags postgres] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

from sandbox_runs import ROOT, playbook, ssh_inventory, wait_until_quiet

NOOP_TARGET_S = 45
TAGS_TARGET_S = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--tags', default='postgres', help='the one service rerun with --tags')
    parser.add_argument('--repeats', type=int, default=3, help='timed runs of each rerun; the median is judged')
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
        print(
            '%-36s %8s  %s'
            % ('no-op rerun', 'median s', 'each run (busy cores before it); tasks per host (ok / skipped)')
        )
        for label, argv, target, counted in runs:
            times, busy = [], []
            for _run in range(args.repeats):
                busy.append(wait_until_quiet())
                seconds, recap = playbook(*argv)
                times.append(seconds)
                if any(r['changed'] or r['failed'] or r['unreachable'] for r in recap.values()):
                    missed.append('%s reported a change or a failure' % label)
            median = statistics.median(times)
            hosts = ', '.join('%s %d / %d' % (host, r['ok'], r['skipped']) for host, r in sorted(recap.items()))
            each = ', '.join('%.1f (%.2f)' % pair for pair in zip(times, busy, strict=True))
            print('%-36s %8.1f  %s; %s' % (label, median, each, hosts), flush=True)
            if counted and median > target:
                missed.append(
                    '%s took %.0f s, the median of %d (target <= %d s)' % (label, median, args.repeats, target)
                )
    print('load average: %.2f %.2f %.2f' % os.getloadavg())
    if missed:
        sys.exit('rerun_bench: ' + '; '.join(missed))


if __name__ == '__main__':
    main()
