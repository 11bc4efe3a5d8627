# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/preflight.yml, run for real by ansible-playbook against inventories written here.

Every host in these inventories uses the local connection, but preflight only reads variables;
the tests check that it stops bad inventories with a message that says what to fix.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible_run import ansible_playbook


def run_preflight(tmp_path: Path, inventory: dict) -> subprocess.CompletedProcess:
    hosts = tmp_path / 'hosts.yml'
    hosts.write_text(yaml.safe_dump(inventory))
    return ansible_playbook('-i', hosts, 'playbooks/preflight.yml')


def layout(groups: dict, domain: str | None = 'ai.example.org') -> dict:
    hosts_vars = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}
    inventory = {'all': {'vars': dict(hosts_vars), 'children': {}}}
    if domain is not None:
        inventory['all']['vars']['stack_domain'] = domain
    docker_children = {}
    for group, members in groups.items():
        entry = {'hosts': {member: None for member in members}}
        if group == 'outside':
            inventory['all']['children']['n8n_workers'] = entry
        else:
            docker_children[group] = entry
    inventory['all']['children']['docker_hosts'] = {'children': docker_children}
    return inventory


def test_a_consistent_inventory_passes(tmp_path):
    result = run_preflight(
        tmp_path,
        layout({'proxy': ['h1'], 'data': ['h1'], 'apps': ['h1'], 'n8n_main': ['h1'], 'n8n_workers': ['h2', 'h3']}),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'failed=0' in result.stdout


@pytest.mark.parametrize(
    ('groups', 'expected'),
    [
        ({'proxy': ['h1'], 'data': ['h1', 'h2']}, 'at most one host in data'),
        ({'proxy': ['h1'], 'n8n_workers': ['h2']}, 'n8n_workers need exactly one n8n_main'),
        ({'apps': ['h1']}, 'apps need a proxy host'),
        ({'proxy': ['h1'], 'outside': ['h9']}, 'not there: h9'),
    ],
    ids=['two-data-hosts', 'workers-without-main', 'apps-without-proxy', 'host-outside-docker_hosts'],
)
def test_inconsistent_groups_are_refused_with_a_reason(tmp_path, groups, expected):
    result = run_preflight(tmp_path, layout(groups))
    assert result.returncode != 0
    assert expected in ' '.join(result.stdout.split()), result.stdout


@pytest.mark.parametrize(
    'domain',
    [None, 'Bad_Domain', 'ai.example.org; rm -rf /', '-leading.example.org', 'a' * 70 + '.org'],
    ids=['missing', 'upper-case-underscore', 'shell-injection', 'leading-hyphen', 'label-too-long'],
)
def test_a_bad_stack_domain_is_refused_with_a_reason(tmp_path, domain):
    result = run_preflight(tmp_path, layout({'proxy': ['h1']}, domain=domain))
    assert result.returncode != 0
    assert 'set stack_domain' in ' '.join(result.stdout.split()), result.stdout


def test_the_playbooks_syntax_is_valid_for_every_inventory():
    for inventory in ('single-host', 'multi-host', 'sandbox'):
        result = ansible_playbook(
            '-i', f'inventories/{inventory}', '--syntax-check', 'playbooks/site.yml', 'playbooks/report.yml'
        )
        assert result.returncode == 0, result.stdout + result.stderr


def with_vars(inventory: dict, **variables) -> dict:
    inventory['all']['vars'].update(variables)
    return inventory


@pytest.mark.parametrize('backend', ['vaultt', 'openbao', ''], ids=['typo', 'openbao', 'empty'])
def test_an_unknown_secret_backend_is_refused_with_a_reason(tmp_path, backend):
    result = run_preflight(tmp_path, with_vars(layout({'proxy': ['h1']}), selfhosted_ai_secret_backend=backend))
    assert result.returncode != 0
    text = ' '.join(result.stdout.split())
    assert f"selfhosted_ai_secret_backend is '{backend}', which is not a secret backend" in text, result.stdout
    assert 'to "file"' in text and '"vault"' in text


def test_the_vault_backend_needs_an_address(tmp_path, monkeypatch):
    monkeypatch.delenv('BAO_ADDR', raising=False)
    monkeypatch.delenv('VAULT_ADDR', raising=False)
    result = run_preflight(tmp_path, with_vars(layout({'proxy': ['h1']}), selfhosted_ai_secret_backend='vault'))
    assert result.returncode != 0
    assert 'also set selfhosted_ai_vault_url' in ' '.join(result.stdout.split()), result.stdout
    result = run_preflight(
        tmp_path,
        with_vars(
            layout({'proxy': ['h1']}),
            selfhosted_ai_secret_backend='vault',
            selfhosted_ai_vault_url='https://bao.example.org:8200',
        ),
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_old_variable_name_is_gone_from_the_repository():
    """The inventories' former name for the backend was validated but never read; one name remains."""
    found = subprocess.run(
        ['git', 'grep', '-l', 'stack_secrets' + '_backend'],
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.stdout == '', found.stdout
