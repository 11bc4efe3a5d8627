# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The check_mode_no_change callback (tests/harness/callback_plugins) that molecule's check step uses.

A --check run that predicts a change must fail (exit 3) and name the task; a --check run without a
change and a normal run with changes are left alone.
"""

from __future__ import annotations

import sys

import pytest
from ansible_run import REPO, ansible_playbook

PLAYBOOK = """
- name: One file
  hosts: all
  gather_facts: false
  tasks:
    - name: Write the marker file
      ansible.builtin.copy:
        content: marker
        dest: "{{ marker_path }}"
        mode: "0600"
"""


@pytest.fixture
def run(tmp_path, monkeypatch):
    (tmp_path / 'play.yml').write_text(PLAYBOOK)
    (tmp_path / 'hosts.ini').write_text(
        f'localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n'
    )
    monkeypatch.setenv('ANSIBLE_CALLBACK_PLUGINS', str(REPO / 'tests' / 'harness' / 'callback_plugins'))
    monkeypatch.setenv('ANSIBLE_CALLBACKS_ENABLED', 'check_mode_no_change')
    marker = tmp_path / 'marker'

    def _run(*extra):
        result = ansible_playbook(
            '-i', tmp_path / 'hosts.ini', '-e', f'marker_path={marker}', *extra, tmp_path / 'play.yml'
        )
        return result.returncode, ' '.join((result.stdout + result.stderr).split())

    return _run, marker


def test_check_run_that_predicts_a_change_fails_and_names_the_task(run):
    playbook, marker = run
    rc, output = playbook('--check')
    assert rc == 3, output[-2000:]
    assert 'check mode on a converged host must report no change, but these tasks would change:' in output
    assert 'localhost: Write the marker file' in output
    assert not marker.exists()


def test_runs_without_a_predicted_change_pass(run):
    playbook, marker = run
    rc, output = playbook()
    assert rc == 0, output[-2000:]  # a real run may change things
    assert marker.read_text() == 'marker'
    rc, output = playbook('--check')
    assert rc == 0, output[-2000:]  # converged: --check predicts nothing
    assert 'must report no change' not in output


@pytest.mark.parametrize(('converged', 'expected_rc'), [(False, 0), (True, 3)])
def test_molecule_state_decides_whether_changes_are_expected(run, tmp_path, monkeypatch, converged, expected_rc):
    """Before molecule's converge step (a preview on fresh instances) changes are listed, not failed."""
    ephemeral = tmp_path / 'ephemeral'
    ephemeral.mkdir()
    (ephemeral / 'state.yml').write_text(f'converged: {str(converged).lower()}\n')
    monkeypatch.setenv('MOLECULE_EPHEMERAL_DIRECTORY', str(ephemeral))
    playbook, marker = run
    rc, output = playbook('--check')
    assert rc == expected_rc, output[-2000:]
    assert 'localhost: Write the marker file' in output
    if not converged:
        assert 'check mode on fresh instances (before converge) would change:' in output
    assert not marker.exists()
