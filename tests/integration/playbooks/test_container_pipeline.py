# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The container pipeline (roles/container) against this machine's Docker engine.

A container with a reason not to start is checked by Docker in check mode: the reason is printed,
no container or volume is created, nothing reports a change, and its secret environment (from the
secret lookup) never reaches the -vvvv output. An unpinned image is refused before anything runs.
"""

from __future__ import annotations

import json
import platform
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_run import ansible_playbook
from harness import harness

PLAYBOOK = Path(__file__).parent / 'files' / 'container_pipeline.yml'
WAIT_PLAYBOOK = Path(__file__).parent / 'files' / 'container_wait_named.yml'
BATCH_PLAYBOOK = Path(__file__).parent / 'files' / 'container_batch.yml'


@pytest.fixture
def run(tmp_path):
    if not harness.engine_answers():
        pytest.skip('no Docker engine answers on this machine (make test starts one through tests/harness)')
    name = 'pipeline-test-' + secrets.token_hex(4)
    inventory = tmp_path / 'hosts.ini'
    inventory.write_text(f'localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n')

    def _run(*extra, playbook=PLAYBOOK):
        return ansible_playbook(
            '-vvvv',
            '-i',
            inventory,
            '-e',
            f'pipeline_test_name={name}',
            *extra,
            playbook,
            # The fact cache of this test alone (the pipeline keeps the definitions Docker checked there).
            extra_env={'ANSIBLE_CACHE_PLUGIN_CONNECTION': str(tmp_path / 'facts')},
        )

    yield _run, name, tmp_path
    subprocess.run(['docker', 'rm', '-f', name], capture_output=True, check=False)
    subprocess.run(['docker', 'volume', 'rm', '-f', name + '_data'], capture_output=True, check=False)


def exists(kind: str, name: str) -> bool:
    return subprocess.run(['docker', kind, 'inspect', name], capture_output=True, check=False).returncode == 0


def test_not_started_container_is_checked_and_its_secret_never_printed(run):
    playbook, name, tmp_path = run
    result = playbook('-e', 'pipeline_test_image=valkey/valkey:8.1.1')
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]

    secret = json.loads((tmp_path / '.secrets' / 'pipeline_test' / 'token.json').read_text())['value']
    assert len(secret) >= 32
    for form in (secret, secret[:16], secret[-16:]):
        assert form not in output
    assert f'container {name} not started on localhost: its image is not available in this test' in ' '.join(
        output.split()
    )
    assert 'changed=0' in output and 'failed=0' in output
    # The task that may pull names the image (the progress callback repeats that name while it runs).
    assert f'Run the container, its image pulled when missing: {name} from valkey/valkey:8.1.1' in output
    assert 'The pipeline recorded that nothing was started or changed' in output  # its assert passed (rc 0)
    assert not exists('container', name)
    assert not exists('volume', name + '_data')

    # The next run finds the definition checked (the fact cache) and does not check it again; a changed
    # definition is checked again.
    again = playbook('-e', 'pipeline_test_image=valkey/valkey:8.1.1', '-e', 'pipeline_test_checked_before=true')
    output = again.stdout + again.stderr
    assert again.returncode == 0, output[-3000:]
    assert 'checked by Docker in check mode (done before, unchanged since)' in ' '.join(output.split())
    # The task's header shows when it runs (skipped tasks are not shown: ansible.cfg).
    assert 'TASK [selfhosted_ai.stack.container : Run the container, its image pulled when missing' not in output
    changed = playbook('-e', 'pipeline_test_image=valkey/valkey:8.1.2')
    output = changed.stdout + changed.stderr
    assert changed.returncode == 0, output[-3000:]
    assert (
        f'TASK [selfhosted_ai.stack.container : Run the container, its image pulled when missing: {name} from valkey/valkey:8.1.2'
        in output
    )
    assert not exists('container', name)


def test_unpinned_image_is_refused_before_anything_runs(run):
    playbook, name, tmp_path = run
    result = playbook('-e', 'pipeline_test_image=valkey/valkey:latest')
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "image pinned to a release version or a digest (got 'valkey/valkey:latest'" in ' '.join(output.split())
    assert not (tmp_path / '.secrets').exists()
    assert not exists('container', name)


@pytest.mark.parametrize('bad_name', ['{name}\n', '{name}/x', '-{name}'])
def test_a_bad_name_in_a_batch_is_refused_before_its_volumes_are_made(run, bad_name):
    playbook, name, tmp_path = run
    batch = [
        {'name': name, 'image': 'valkey/valkey:8.1.1', 'volumes_to_create': [name + '_data']},
        {'name': bad_name.format(name=name), 'image': 'valkey/valkey:8.1.1', 'volumes_to_create': [name + '_other']},
    ]
    volumes = [name + '_data', name + '_other']
    try:
        result = playbook('-e', json.dumps({'pipeline_test_batch': batch}), playbook=BATCH_PLAYBOOK)
        output = ' '.join((result.stdout + result.stderr).split())
        assert result.returncode != 0
        assert 'pipeline_test: every container needs a Docker name' in output, output[-3000:]
        assert [volume for volume in volumes if exists('volume', volume)] == []
    finally:
        subprocess.run(['docker', 'volume', 'rm', '-f', *volumes], capture_output=True, check=False)


def test_a_started_container_is_waited_for_under_a_name_that_says_what_the_wait_is(run, local_valkey_image):
    playbook, name, tmp_path = run
    result = playbook('-e', f'pipeline_test_image={local_valkey_image}', playbook=WAIT_PLAYBOOK)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert f'Run the container, its image pulled when missing: {name} from {local_valkey_image}' in output
    assert f'Wait until the container answers: {name} (a first start loads nothing here)' in output
    assert exists('container', name)


FINGERPRINT_PLAYBOOK = Path(__file__).parent / 'files' / 'container_fingerprint.yml'


def task_status(output: str, task: str) -> str:
    """ok, changed or skipping: what the task of that name reported; absent: the run never came to it."""
    if task not in output:
        return 'absent'
    after = output[output.index(task) :].splitlines()[1:]
    return next(line.split(':', 1)[0] for line in after if line.startswith(('ok:', 'changed:', 'skipping:')))


def test_an_unchanged_running_container_is_left_alone(run, local_valkey_image, tmp_path):
    playbook, name, dummy = run
    out = tmp_path / 'recorded.json'

    def converge(value, *extra):
        result = ansible_playbook(
            '-i',
            tmp_path / 'hosts.ini',
            '-e',
            json.dumps(
                {
                    'pipeline_test_name': name,
                    'pipeline_test_image': local_valkey_image,
                    'pipeline_test_value': value,
                    'pipeline_test_out': str(out),
                }
            ),
            *extra,
            FINGERPRINT_PLAYBOOK,
            extra_env={'ANSIBLE_DISPLAY_SKIPPED_HOSTS': 'true'},
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-3000:]
        status = task_status(
            output, f'Run the container, its image pulled when missing: {name} from {local_valkey_image}'
        )
        return status, json.loads(out.read_text()), output

    def inspect():
        answer = subprocess.run(['docker', 'inspect', name], capture_output=True, text=True, check=True)
        return json.loads(answer.stdout)[0]

    status, recorded, dummy = converge('a')
    first = inspect()
    assert status == 'changed' and recorded['results']['changed'] is True
    fingerprint = first['Config']['Labels']['selfhosted_ai.stack.fingerprint']
    assert len(fingerprint) == 64 and recorded['known']['fingerprint'] == fingerprint

    # The same definition, the container running and healthy: no docker_container call, no wait.
    status, recorded, output = converge('a')
    assert status == 'absent', output[-3000:]
    assert recorded['results'] == {
        'fingerprint': fingerprint,
        'run_needed': False,
        'converge_needed': False,
        'changed': False,
        'started': True,
        'running': True,
        'not_started_reason': '',
        'ready': True,
    }
    assert f'Wait until the container reports healthy: {name}' not in output
    assert inspect()['Id'] == first['Id'] and 'changed=0' in output
    # In check mode as well.
    status, recorded, output = converge('a', '--check')
    assert status == 'absent' and 'changed=0' in output

    # Stopped behind Ansible's back: started again.
    subprocess.run(['docker', 'stop', '-t', '1', name], capture_output=True, check=True)
    status, recorded, dummy = converge('a')
    assert status == 'changed' and inspect()['State']['Running'] is True and inspect()['Id'] == first['Id']

    # Another value: the container is made anew, with it.
    status, recorded, dummy = converge('b')
    second = inspect()
    assert status == 'changed' and second['Id'] != first['Id'] and 'VALUE=b' in second['Config']['Env']
    assert second['Config']['Labels']['selfhosted_ai.stack.fingerprint'] != fingerprint

    # container_skip_unchanged false: Docker compares again, and finds nothing to do.
    status, recorded, dummy = converge('b', '-e', 'pipeline_test_skip_unchanged=false')
    assert status == 'ok' and inspect()['Id'] == second['Id']


def test_a_pull_says_how_much_it_downloads(run, local_valkey_image):
    playbook, name, dummy = run
    # A tag the local registry has and this engine does not: the pipeline must pull it.
    image = f'{harness.REGISTRY_PUSH_HOST}/pipeline-test/valkey:8.1.1-{name.rsplit("-", 1)[1]}'
    subprocess.run(['docker', 'tag', local_valkey_image, image], check=True, capture_output=True)
    try:
        subprocess.run(['docker', 'push', image], check=True, capture_output=True)
        subprocess.run(['docker', 'rmi', image], check=True, capture_output=True)
        result = playbook('-e', f'pipeline_test_image={image}', playbook=WAIT_PLAYBOOK)
        output = ' '.join((result.stdout + result.stderr).split())
        assert result.returncode == 0, output[-3000:]
        layers = json.loads(
            subprocess.run(
                ['docker', 'manifest', 'inspect', '--insecure', image], check=True, capture_output=True, text=True
            ).stdout
        )['layers']
        size = sum(layer['size'] for layer in layers) / 1e6
        architecture = {'x86_64': 'amd64', 'aarch64': 'arm64'}.get(platform.machine(), platform.machine())
        assert f'{image}: pulling {size:.1f} MB in {len(layers)} layers (compressed, for {architecture}' in output
        assert exists('image', image) and exists('container', name)
    finally:
        subprocess.run(['docker', 'rm', '-f', name], capture_output=True, check=False)
        subprocess.run(['docker', 'rmi', image], capture_output=True, check=False)
