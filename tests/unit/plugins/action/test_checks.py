# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checks action: a chain of assert tasks in one task, each check with its own message."""

from __future__ import annotations

import re

from ansible_run import ansible_playbook_on_localhost

PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    databases: [{name: app}, {name: Bad-Name}]
    memory_mb: 512
  tasks:
    - name: Check the settings
      selfhosted_ai.stack.checks:
        argument_spec:
          memory_mb: {type: int, required: true}
          databases: {type: list, elements: dict}
        checks:
          - that: memory_mb | int >= 256
            # Rendered only when the check fails.
            msg: "memory_mb too small {{ no_such_variable }}"
          - that:
              - item.name is match('^[a-z]+$')
            msg: "databases entry {{ item.name }} is not a lower-case name (memory {{ memory_mb }})"
            loop: "{{ databases[:limit | int] }}"
          - that: false
            when: memory_mb | int > 1024
            msg: applies only above 1 GB
          - that: "{{ last | default(true) }}"
            msg: the last check failed
"""

# The argument_spec of PLAY as written there, for the tests that replace it.
SPEC_IN_PLAY = 'argument_spec:\n          memory_mb: {type: int, required: true}\n          databases: {type: list, elements: dict}\n'


def run(tmp_path, *extra):
    (tmp_path / 'play.yml').write_text(PLAY)
    args = []
    for value in extra:
        args += ['-e', value]
    proc = ansible_playbook_on_localhost(*args, tmp_path / 'play.yml')
    return proc, proc.stdout + proc.stderr


def test_every_check_passes_in_one_task_and_no_message_is_rendered(tmp_path):
    proc, out = run(tmp_path, 'limit=1')
    assert proc.returncode == 0, out
    assert re.search(r'localhost\s+: ok=1\s+changed=0 .* failed=0', out), out


def test_the_first_failing_check_stops_the_task_with_its_message_for_the_item(tmp_path):
    # The last check would fail too: it is never evaluated.
    proc, out = run(tmp_path, 'limit=2', 'last=false')
    assert proc.returncode != 0, out
    assert 'databases entry Bad-Name is not a lower-case name (memory 512)' in out, out
    assert 'the last check failed' not in out, out


def test_a_check_whose_when_is_false_is_skipped_and_one_whose_when_is_true_runs(tmp_path):
    proc, out = run(tmp_path, 'limit=1', 'memory_mb=2048')
    assert proc.returncode != 0 and 'applies only above 1 GB' in out, out
    proc, out = run(tmp_path, 'limit=1', 'last=false')
    assert proc.returncode != 0 and 'the last check failed' in out, out


def test_a_loop_that_is_not_a_list_is_a_clear_error(tmp_path):
    (tmp_path / 'bad.yml').write_text(PLAY.replace('loop: "{{ databases[:limit | int] }}"', 'loop: "{{ memory_mb }}"'))
    proc = ansible_playbook_on_localhost(tmp_path / 'bad.yml')
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and 'the loop of check 2 must be a list (got a number)' in out, out


def test_a_malformed_check_is_refused_naming_it(tmp_path):
    (tmp_path / 'bad.yml').write_text(PLAY.replace('msg: applies only above 1 GB', 'message: applies only above 1 GB'))
    proc = ansible_playbook_on_localhost(tmp_path / 'bad.yml', '-e', 'limit=1')
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and 'check 3 must be a mapping of that, msg and optionally loop, when' in out, out


def test_the_argument_spec_is_checked_first_with_the_message_of_validate_argument_spec(tmp_path):
    # memory_mb is no number: the spec stops the task before the first check (whose message would not render).
    proc, out = run(tmp_path, 'limit=1', 'memory_mb=lots')
    assert proc.returncode != 0, out
    assert 'Validation of arguments failed' in out and 'memory_mb' in out, out
    assert 'no_such_variable' not in out and 'memory_mb too small' not in out, out


def test_an_argument_spec_that_is_not_a_mapping_is_a_clear_error(tmp_path):
    (tmp_path / 'bad.yml').write_text(
        PLAY.replace(
            SPEC_IN_PLAY,
            'argument_spec: [memory_mb, databases]\n',
        )
    )
    proc = ansible_playbook_on_localhost(tmp_path / 'bad.yml', '-e', 'limit=1')
    out = proc.stdout + proc.stderr
    assert (
        proc.returncode != 0
        and "argument_spec must be a mapping of options or the name of an entry point of the role's argument specs (got a list)"
        in out
    ), out
    assert 'argument_spec: [memory_mb, databases]' in (tmp_path / 'bad.yml').read_text(), out


ROLE_SPECS = """
argument_specs:
  main:
    options:
      demo_port: {type: int, required: true}
"""

ROLE_TASKS = """
- name: Check the role's settings
  selfhosted_ai.stack.checks:
    argument_spec: ENTRY
    checks:
      - that: demo_port | int > 1024
        msg: "demo_port must be above 1024 (got {{ demo_port }})"
"""


def run_role(tmp_path, entry, *extra):
    # A role next to the playbook (roles/demo), its input checked by one checks task naming its entry point.
    (tmp_path / 'roles' / 'demo' / 'meta').mkdir(parents=True)
    (tmp_path / 'roles' / 'demo' / 'tasks').mkdir()
    (tmp_path / 'roles' / 'demo' / 'meta' / 'argument_specs.yml').write_text(ROLE_SPECS)
    (tmp_path / 'roles' / 'demo' / 'tasks' / 'main.yml').write_text(ROLE_TASKS.replace('ENTRY', entry))
    # Imported with rolespec_validate: false, as the collection's playbooks import their roles.
    (tmp_path / 'play.yml').write_text(
        '- hosts: localhost\n  gather_facts: false\n  tasks:\n'
        '    - ansible.builtin.import_role: {name: demo, rolespec_validate: false}\n'
    )
    args = []
    for value in extra:
        args += ['-e', value]
    proc = ansible_playbook_on_localhost(*args, tmp_path / 'play.yml')
    return proc, proc.stdout + proc.stderr


def test_an_entry_point_name_checks_the_role_s_own_argument_specs_then_its_checks(tmp_path):
    proc, out = run_role(tmp_path, 'main', 'demo_port=8080')
    assert proc.returncode == 0 and re.search(r'localhost\s+: ok=1\s+changed=0 .* failed=0', out), out
    proc, out = run_role(tmp_path / 'wrong_type', 'main', 'demo_port=eighty')
    assert proc.returncode != 0 and 'Validation of arguments failed' in out and 'demo_port' in out, out
    assert 'must be above 1024' not in out, out
    proc, out = run_role(tmp_path / 'low', 'main', 'demo_port=80')
    assert proc.returncode != 0 and 'demo_port must be above 1024 (got 80)' in out, out


def test_an_entry_point_the_role_does_not_have_or_a_name_outside_a_role_is_a_clear_error(tmp_path):
    proc, out = run_role(tmp_path, 'restore', 'demo_port=8080')
    assert proc.returncode != 0 and "meta/argument_specs.yml has no entry point 'restore'" in out, out
    outside = PLAY.replace(
        SPEC_IN_PLAY,
        'argument_spec: main\n',
    )
    assert 'argument_spec: main' in outside
    (tmp_path / 'outside.yml').write_text(outside)
    proc = ansible_playbook_on_localhost(tmp_path / 'outside.yml', '-e', 'limit=1')
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "argument_spec 'main' names an entry point" in out, out
    assert 'this task is not in a role' in out, out
