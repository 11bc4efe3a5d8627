# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup benchmark on the molecule scenario `data` (the data stack and two tenants on data-debian12,
the restic repository on data-store's object store, off-host).

Brings the scenario up with ``molecule converge`` (or ``--reuse`` an instance that is up), loads about
1 GB (``--pg-mb`` of rows into PostgreSQL, ``--s3-mb`` of random objects into a tenant bucket), then, in
one run on the same machine, times the backup program as the timer runs it on the data host:

* the first backup (everything is new) and a second one with nothing changed: time and bytes added to
  the repository (restic's data_added, after deduplication and compression);
* a full restore of PostgreSQL and S3: stage (fetch from the repository and verify) plus the swap.

Targets (issue: backups that restore): the unchanged second run takes under 15 % of the first and adds
under 1 % to the repository. The benchmark fails when they are missed.

usage: .venv/bin/python benchmarks/backup_bench.py [--pg-mb 600] [--s3-mb 500] [--reuse] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
SCENARIO = 'data'
HOST = 'data-debian12'
PROGRAM = '/usr/local/sbin/selfhosted-ai-backup'
RESTORE_DIR = '/var/lib/selfhosted_ai/backup/restore'


def molecule(action: str, *extra: str) -> None:
    env = dict(
        os.environ,
        PATH=os.path.join(ROOT, '.venv', 'bin') + os.pathsep + os.environ['PATH'],
        ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'),
        HARNESS_IMAGES='1',
    )
    result = subprocess.run(
        [os.path.join(ROOT, '.venv', 'bin', 'molecule'), action, '-s', SCENARIO, *extra],
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit('backup_bench: molecule %s failed:\n%s' % (action, (result.stdout + result.stderr)[-3000:]))


def on_host(*argv: str, stdin: str | None = None) -> str:
    """Run a command on the data host (a molecule instance; its own Docker engine runs the services)."""
    result = subprocess.run(
        ['docker', 'exec', '-i', HOST, *argv], input=stdin, text=True, capture_output=True, check=False
    )
    if result.returncode != 0:
        sys.exit('backup_bench: %s failed on %s:\n%s' % (' '.join(argv[:3]), HOST, result.stderr[-3000:]))
    return result.stdout


def psql(sql: str) -> str:
    return on_host('docker', 'exec', 'postgres', 'psql', '-U', 'postgres', '-d', 'openwebui_acme', '-Atc', sql)


def load(pg_mb: int, s3_mb: int) -> tuple[int, int]:
    """About pg_mb of rows (a text column and a vector(3)) and s3_mb of random 8 MiB objects; returns the sizes."""
    rows = pg_mb * 1024 * 1024 // 300
    psql('CREATE EXTENSION IF NOT EXISTS vector')
    psql('DROP TABLE IF EXISTS bench_rows')
    psql(
        'CREATE TABLE bench_rows AS SELECT g AS id, md5(g::text) || repeat(md5(random()::text), 7) AS payload,'
        " ('[' || random() || ',' || random() || ',' || random() || ']')::vector(3) AS embedding"
        ' FROM generate_series(1, %d) AS g' % rows
    )
    # A loaded server settles before the benchmark, as one that nobody wrote to since the last backup has:
    # otherwise autovacuum's ANALYZE (a write to pg_statistic, in a transaction) lands between the two
    # backups, and the second dumps again.
    on_host('docker', 'exec', 'postgres', 'vacuumdb', '-U', 'postgres', '--all', '--analyze', '--quiet')
    pg_bytes = int(psql("SELECT pg_total_relation_size('bench_rows')"))
    writer = (
        'import boto3, json, os, sys\n'
        'from botocore.client import Config\n'
        'keys = json.load(open("/etc/selfhosted_ai/backup/config.json"))\n'
        's3 = [s for s in keys["services"] if s["method"] == "s3"][0]\n'
        'client = boto3.client("s3", endpoint_url=s3["endpoint"], aws_access_key_id=s3["access_key"],'
        ' aws_secret_access_key=s3["secret_key"], region_name="us-east-1",'
        ' config=Config(s3={"addressing_style": "path"}))\n'
        'for number in range(int(sys.argv[1])):\n'
        '    client.put_object(Bucket="tenant-acme", Key="bench/object-%04d.bin" % number, Body=os.urandom(8 << 20))\n'
    )
    count = max(1, s3_mb // 8)
    on_host('python3', '-c', writer, str(count))
    return pg_bytes, count * (8 << 20)


def backup() -> tuple[float, dict]:
    started = time.monotonic()
    out = on_host(PROGRAM, 'backup', '--no-forget')
    elapsed = time.monotonic() - started
    result = json.loads(out)
    if not result.get('ok'):
        sys.exit('backup_bench: the backup failed: %s' % result.get('error'))
    return elapsed, result['services']


def restore(service: str) -> float:
    target = '%s/bench-%s' % (RESTORE_DIR, service)
    on_host('rm', '-rf', target)
    started = time.monotonic()
    staged = json.loads(on_host(PROGRAM, 'stage', '--service', service, '--target', target))
    on_host(PROGRAM, 'restore', '--service', service, '--staged', staged['path'])
    elapsed = time.monotonic() - started
    on_host('rm', '-rf', target)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--pg-mb', type=int, default=600)
    parser.add_argument('--s3-mb', type=int, default=500)
    parser.add_argument('--reuse', action='store_true', help='use the scenario instance that is up')
    parser.add_argument('--keep', action='store_true', help='leave the instances up afterwards')
    args = parser.parse_args()
    if not args.reuse:
        molecule('destroy')
        molecule('create')
        molecule('prepare')
        # SeaweedFS volumes of 1 GiB (the scenario's 64 MiB ones would run out of volumes at this size).
        molecule('converge', '--', '-e', 'object_store_volume_size_limit_mb=1024')
    try:
        pg_bytes, s3_bytes = load(args.pg_mb, args.s3_mb)
        print('data set: PostgreSQL table %.0f MiB, S3 objects %.0f MiB' % (pg_bytes / 2**20, s3_bytes / 2**20))
        first_s, first = backup()
        second_s, second = backup()
        added_first = sum(s['data_added'] for s in first.values())
        added_second = sum(s['data_added'] for s in second.values())
        restore_s = {service: restore(service) for service in ('postgres', 'object_store')}
        rows = [
            ('first backup', first_s, added_first),
            ('second backup, nothing changed', second_s, added_second),
        ]
        print('%-34s %9s %16s' % ('', 'seconds', 'added to repo'))
        for label, seconds, added in rows:
            print('%-34s %9.1f %13.1f MiB' % (label, seconds, added / 2**20))
        for service, seconds in restore_s.items():
            print('%-34s %9.1f' % ('restore %s (stage, verify, swap)' % service, seconds))
        time_ratio = second_s / first_s
        growth = added_second / added_first
        print(
            'second/first time: %.1f %% (target < 15 %%); repository growth: %.3f %% (target < 1 %%)'
            % (time_ratio * 100, growth * 100)
        )
        if time_ratio >= 0.15 or growth >= 0.01:
            sys.exit('backup_bench: a target was missed')
    finally:
        if not args.keep:
            molecule('destroy')


if __name__ == '__main__':
    main()
