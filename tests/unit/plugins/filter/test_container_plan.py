# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The container_plan filter: what the container pipeline does with one definition (roles/container)."""

from __future__ import annotations

import json

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.selfhosted_ai.stack.plugins.filter.container_plan import container_plan

DEFINITION = {
    'name': 'valkey',
    'image': 'valkey/valkey:8.1.1',
    'networks': [{'name': 'ai_network'}],
    'published_ports': ['127.0.0.1:6379:6379'],
}
SECRETS = {'VALKEY_PASSWORD': 'a-secret-of-the-test-0123456789abcdef'}


def plan(definition=None, **options):
    options.setdefault('secret_env', SECRETS)
    return container_plan(definition or DEFINITION, 'valkey', **options)['valkey']


def known(fingerprint, running=True, healthy=True):
    return {'valkey': {'fingerprint': fingerprint, 'running': running, 'healthy': healthy, 'networks': []}}


def test_a_missing_container_goes_through_docker():
    result = plan(volumes=['valkey_data'])
    assert result['run_needed'] and result['converge_needed']
    assert result['started'] and result['running'] and not result['ready']


def test_a_running_container_with_the_same_fingerprint_is_left_alone_and_ready_when_healthy():
    fingerprint = plan()['fingerprint']
    result = plan(known_containers=known(fingerprint), volumes=['valkey_data'], known_volumes=['valkey_data'])
    assert not result['run_needed'] and not result['converge_needed']
    assert result == {
        'fingerprint': fingerprint,
        'run_needed': False,
        'converge_needed': False,
        'changed': False,
        'started': True,
        'running': True,
        'not_started_reason': '',
        'ready': True,
    }
    assert not plan(known_containers=known(fingerprint, healthy=False))['ready']
    # A configuration the container reads changed: the handler restarts it, the wait runs.
    assert not plan(known_containers=known(fingerprint), config_changed='true')['ready']


def test_the_fingerprint_follows_the_definition_its_secrets_and_the_revision_not_the_key_order():
    fingerprint = plan()['fingerprint']
    assert len(fingerprint) == 64
    assert plan(dict(reversed(list(DEFINITION.items()))))['fingerprint'] == fingerprint
    assert plan(secret_env={'VALKEY_PASSWORD': 'another'})['fingerprint'] != fingerprint
    assert plan({**DEFINITION, 'image': 'valkey/valkey:8.1.2'})['fingerprint'] != fingerprint
    assert plan(revision=2)['fingerprint'] != fingerprint
    # The secret values are an input of the hash only.
    assert SECRETS['VALKEY_PASSWORD'] not in json.dumps(container_plan(DEFINITION, 'valkey', secret_env=SECRETS))


def test_another_fingerprint_a_stopped_container_or_skip_unchanged_off_goes_through_docker():
    fingerprint = plan()['fingerprint']
    assert plan(known_containers=known('0' * 64))['run_needed']
    assert plan(known_containers=known(fingerprint, running=False))['run_needed']
    assert plan(known_containers=known(fingerprint), skip_unchanged='false')['run_needed']
    # The batch entry point's state present leaves a stopped container stopped.
    assert not plan(known_containers=known(fingerprint, running=False), state='present')['run_needed']


def test_a_missing_volume_alone_runs_the_converge_but_not_docker_container():
    fingerprint = plan()['fingerprint']
    result = plan(known_containers=known(fingerprint), volumes=['valkey_data'], known_volumes=[])
    assert not result['run_needed'] and result['converge_needed']


def test_a_container_not_started_here_is_checked_by_docker_and_gets_no_volume():
    result = plan(not_started_reason='no NVIDIA GPU found', volumes=['valkey_data'])
    assert result['run_needed'] and result['converge_needed']
    assert not result['started'] and not result['running']
    assert result['not_started_reason'] == 'no NVIDIA GPU found'


def test_a_definition_docker_checked_is_not_checked_again_until_it_changes():
    reason = 'no NVIDIA GPU found'
    fingerprint = plan(not_started_reason=reason)['fingerprint']
    result = plan(not_started_reason=reason, checked={'valkey': fingerprint})
    # Nothing to converge: the plan's outcome is the recorded one (main.yml says why it is not started).
    assert not result['run_needed'] and not result['converge_needed'] and not result['running']
    assert not result['started'] and not result['ready']
    assert plan(not_started_reason=reason, checked={'valkey': '0' * 64})['run_needed']
    assert plan(not_started_reason=reason, checked={'ollama': fingerprint})['run_needed']
    assert plan(
        {**DEFINITION, 'image': 'valkey/valkey:8.1.2'}, not_started_reason=reason, checked={'valkey': fingerprint}
    )['run_needed']
    assert plan(not_started_reason=reason, checked={'valkey': fingerprint}, skip_unchanged=False)['run_needed']
    # A container started here goes by the host's container, not by what Docker checked.
    assert plan(checked={'valkey': fingerprint})['run_needed']


def test_check_mode_starts_nothing():
    assert not plan(check_mode=True)['started']


@pytest.mark.parametrize(
    ('definition', 'options'),
    [
        ({**DEFINITION, 'image': 'valkey/valkey:latest'}, {}),
        ({**DEFINITION, 'image': 'valkey/valkey'}, {}),
        ({**DEFINITION, 'name': '-valkey'}, {}),
        ({**DEFINITION, 'name': 'valkey\n'}, {}),
        ({'image': 'valkey/valkey:8.1.1'}, {}),
        (DEFINITION, {'wait': 'forever'}),
        (DEFINITION, {'wait': 'exec'}),
        (DEFINITION, {'volumes': 'valkey_data'}),
    ],
    ids=[
        'latest',
        'no-tag',
        'bad-name',
        'newline-in-name',
        'no-name',
        'unknown-wait',
        'exec-without-command',
        'volumes-str',
    ],
)
def test_a_bad_definition_is_refused_with_what_is_wrong(definition, options):
    with pytest.raises(AnsibleFilterError) as refused:
        container_plan(definition, 'valkey', **options)
    message = str(refused.value)
    assert message.startswith('valkey: the container needs a Docker name')
    assert "image pinned to a release version or a digest (got '%s'" % definition['image'] in message
