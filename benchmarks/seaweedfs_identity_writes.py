# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How long N tenant identities take to create on SeaweedFS 4.48: through its IAM API (what the
tenant module does today) and as one ``weed shell`` batch of ``s3.configure`` lines.

Each way gets a fresh ``weed server`` (the integration tests' SeaweedServer). A tenant is a bucket,
an identity with one access key, and access to that bucket only. The shell batch is checked: the
last tenant's key writes to its own bucket and is refused on another one.

Not part of ``make bench`` (it measures an option, not the collection):
    .venv/bin/python benchmarks/seaweedfs_identity_writes.py [N]
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

from tests.integration.servers.seaweedfs import SeaweedServer  # noqa: E402  pylint: disable=wrong-import-position


def bucket_only(bucket: str) -> str:
    return json.dumps(
        {
            'Version': '2012-10-17',
            'Statement': [
                {
                    'Effect': 'Allow',
                    'Action': 's3:*',
                    'Resource': ['arn:aws:s3:::%s' % bucket, 'arn:aws:s3:::%s/*' % bucket],
                }
            ],
        }
    )


def through_iam_api(server: SeaweedServer, count: int) -> float:
    iam, s3 = server.client(service='iam'), server.client()
    started = time.time()
    for index in range(count):
        name = 'tenant-t%04d' % index
        s3.create_bucket(Bucket=name)
        iam.create_user(UserName=name)
        iam.create_access_key(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName='tenant', PolicyDocument=bucket_only(name))
    return time.time() - started


def through_one_shell_batch(server: SeaweedServer, count: int) -> tuple:
    keys, lines = {}, []
    for index in range(count):
        name = 'tenant-t%04d' % index
        keys[name] = ('T' + secrets.token_hex(9).upper(), secrets.token_urlsafe(30))
        lines.append('s3.bucket.create -name %s' % name)
        lines.append(
            's3.configure -user %s -access_key %s -secret_key %s -buckets %s -actions Read,Write,List,Tagging -apply'
            % (name, keys[name][0], keys[name][1], name)
        )
    shell = server.shell_command()
    started = time.time()
    subprocess.run(shell, input='\n'.join(lines) + '\n', text=True, capture_output=True, check=True, timeout=600)
    written = time.time() - started
    last = 'tenant-t%04d' % (count - 1)
    client = server.client(access_key=keys[last][0], secret_key=keys[last][1])
    deadline = time.time() + 60
    while True:  # the gateway picks the new identities up from the filer
        try:
            client.put_object(Bucket=last, Key='probe', Body=b'x')
            break
        except Exception:  # pylint: disable=broad-exception-caught
            if time.time() > deadline:
                raise
            time.sleep(0.5)
    usable = time.time() - started
    try:
        client.put_object(Bucket='tenant-t0000', Key='probe', Body=b'x')
    except Exception:  # pylint: disable=broad-exception-caught
        return written, usable
    sys.exit("seaweedfs_identity_writes: %s's key was accepted on tenant-t0000's bucket" % last)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    print('load before: %s' % Path('/proc/loadavg').read_text(encoding='ascii').strip())
    server = SeaweedServer().start()
    try:
        written, usable = through_one_shell_batch(server, count)
    finally:
        server.stop()
    print(
        'one weed shell batch: %d tenants written in %.1f s, the last key usable after %.1f s, '
        'refused on another bucket' % (count, written, usable)
    )
    server = SeaweedServer().start()
    try:
        seconds = through_iam_api(server, count)
    finally:
        server.stop()
    print('IAM API: %d tenants in %.1f s' % (count, seconds))


if __name__ == '__main__':
    main()
