# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/facts.yml, run for real: `--tags <service>` still finds every host's facts.

A play reached through a tagged import gathers its facts only under its own tags, so `--tags service` skips it; the
roles read other hosts' facts (addresses, through the inventory and the endpoint lookups) from the fact cache, which
expires. Both hosts use the local connection, with a fact cache of the test's own.
"""

from __future__ import annotations

import sys

import yaml
from ansible_run import REPO, ansible_playbook

STACK_PLAY = """
- name: A stack's play, tagged as site.yml's imports tag theirs
  hosts: h1
  tags: [stack]
  tasks:
    - name: Read the other host's facts, as the endpoint lookups do
      ansible.builtin.assert:
        that: hostvars['h2']['ansible_facts']['distribution'] is defined
      tags: [service]
"""
WITH_FACTS = '- name: Facts\n  ansible.builtin.import_playbook: %s\n' % (REPO / 'playbooks/facts.yml') + STACK_PLAY


def run(tmp_path, playbook: str):
    inventory = tmp_path / 'hosts.yml'
    local = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}
    inventory.write_text(yaml.safe_dump({'all': {'hosts': {'h1': local, 'h2': local}}}))
    path = tmp_path / 'play.yml'
    path.write_text(playbook)
    cache = {'ANSIBLE_CACHE_PLUGIN_CONNECTION': str(tmp_path / 'facts')}
    return ansible_playbook('-i', inventory, path, '--tags', 'service', extra_env=cache)


def test_without_facts_yml_the_tags_skip_the_gathering(tmp_path):
    # The hazard facts.yml is there for: no facts in the cache, none gathered.
    result = run(tmp_path, '---' + STACK_PLAY)
    assert result.returncode != 0
    assert "assertion: hostvars['h2']['ansible_facts']['distribution'] is defined" in result.stdout
    assert 'Gathering Facts' not in result.stdout


def test_facts_yml_gathers_the_missing_facts_under_any_tags(tmp_path):
    result = run(tmp_path, '---\n' + WITH_FACTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'ok: [h2]' in result.stdout
    # Cached now: the next run gathers nothing.
    again = run(tmp_path, '---\n' + WITH_FACTS)
    assert again.returncode == 0, again.stdout + again.stderr
    assert 'Gathering Facts' not in again.stdout
