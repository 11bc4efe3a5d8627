# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The n8n role's key guard (roles/n8n/tasks/key_guard.yml) against this machine's Docker engine: n8n's data
volumes, found in the host's listing or made later in the run by the container pipeline, are read at the directories
those recorded (no Docker call per volume), and a volume that remembers another encryption key than the secret stops
the run before anything changes, naming the volume and never showing a key."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_run import ansible_playbook
from harness import harness

PLAYBOOK = Path(__file__).parent / 'files' / 'n8n_key_guard.yml'


@pytest.fixture
def guard(tmp_path):
    if not harness.engine_answers():
        pytest.skip('no Docker engine answers on this machine (make test starts one through tests/harness)')
    if os.geteuid() != 0:
        pytest.skip("the volumes' directories are root's: the test writes n8n's config file there")
    prefix = 'keyguard-test-' + secrets.token_hex(4)
    volumes = {mode: f'{prefix}_{mode}_data' for mode in ('main', 'worker', 'webhook', 'late')}
    (tmp_path / 'hosts.ini').write_text(
        f'localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n'
    )

    def run(late_key: str | None = None, late_image: str | None = None):
        extra = {'n8n_container_specs': [{'volume': volumes[mode]} for mode in ('main', 'worker', 'webhook', 'late')]}
        if late_key is not None:
            extra.update(
                key_guard_late_volume=volumes['late'], key_guard_late_key=late_key, key_guard_late_image=late_image
            )
        result = ansible_playbook('-i', tmp_path / 'hosts.ini', '-e', json.dumps(extra), PLAYBOOK)
        return result.returncode, ' '.join((result.stdout + result.stderr).split())

    def remember(mode: str, key: str) -> None:
        subprocess.run(['docker', 'volume', 'create', volumes[mode]], capture_output=True, check=True)
        mountpoint = subprocess.run(
            ['docker', 'volume', 'inspect', '-f', '{{.Mountpoint}}', volumes[mode]],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        Path(mountpoint, 'config').write_text(json.dumps({'encryptionKey': key}))

    def secret() -> str:
        return json.loads((tmp_path / '.secrets' / 'n8n' / 'encryption_key.json').read_text())['value']

    yield run, remember, secret, volumes
    subprocess.run(['docker', 'rm', '-f', volumes['late']], capture_output=True, check=False)
    subprocess.run(['docker', 'volume', 'rm', '-f', *volumes.values()], capture_output=True, check=False)


def test_listed_volumes_with_the_secret_key_or_no_config_pass_without_a_docker_call_each(guard):
    run, remember, secret, volumes = guard
    # The worker's volume exists but n8n never started on it (no config); the webhook's does not exist.
    subprocess.run(['docker', 'volume', 'create', volumes['worker']], capture_output=True, check=True)
    rc, output = run()  # the first run generates the secret
    assert rc == 0, output[-3000:]
    remember('main', secret())
    rc, output = run()
    assert rc == 0, output[-3000:]
    assert 'changed=0' in output and 'failed=0' in output


def test_a_listed_volume_with_another_key_stops_the_run_and_no_key_is_shown(guard):
    run, remember, secret, volumes = guard
    run()
    other = secrets.token_urlsafe(36)
    remember('main', other)
    rc, output = run()
    assert rc != 0
    assert f'the volume(s) {volumes["main"]} remember an encryption key' in output, output[-3000:]
    for key in (other, secret()):
        assert key not in output


def test_a_volume_the_pipeline_made_after_the_listing_is_read_too(guard, local_valkey_image):
    run, remember, secret, volumes = guard
    run()
    rc, output = run(late_key=secrets.token_urlsafe(36), late_image=local_valkey_image)
    assert rc != 0
    assert f'the volume(s) {volumes["late"]} remember an encryption key' in output, output[-3000:]
    subprocess.run(['docker', 'rm', '-f', volumes['late']], capture_output=True, check=True)
    subprocess.run(['docker', 'volume', 'rm', '-f', volumes['late']], capture_output=True, check=True)
    rc, output = run(late_key=secret(), late_image=local_valkey_image)
    assert rc == 0, output[-3000:]
