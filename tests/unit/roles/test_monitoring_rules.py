# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The monitoring role's alert rules, rendered with the role's defaults, under `promtool test rules`.

promtool comes from Debian's `prometheus` package (tests/harness/host-packages.sh installs it).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / 'roles' / 'monitoring'
TESTS = Path(__file__).resolve().parent / 'monitoring'


def render_rules(overrides: dict | None = None) -> str:
    defaults = yaml.safe_load((ROLE / 'defaults' / 'main.yml').read_text())
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters['comment'] = lambda text: f'#\n# {text}\n#'
    template = env.from_string((ROLE / 'templates' / 'alerts.rules.yml.j2').read_text())
    return template.render(ansible_managed='Ansible managed', **{**defaults, **(overrides or {})})


@pytest.fixture
def promtool() -> str:
    path = shutil.which('promtool')
    if path is None:
        pytest.fail("promtool is missing: install Debian's prometheus package (make host)")
    return path


def test_rules_pass_their_unit_tests(tmp_path, promtool):
    (tmp_path / 'rules.yml').write_text(render_rules())
    shutil.copy(TESTS / 'alerts_test.yml', tmp_path / 'alerts_test.yml')
    result = subprocess.run(
        [promtool, 'test', 'rules', 'alerts_test.yml'], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_are_valid_with_other_windows(tmp_path, promtool):
    rules = tmp_path / 'rules.yml'
    rules.write_text(
        render_rules({'monitoring_alert_postgres_down_for': '10s', 'monitoring_alert_target_down_for': '1h30m'})
    )
    result = subprocess.run([promtool, 'check', 'rules', str(rules)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    groups = yaml.safe_load(rules.read_text())['groups']
    windows = {rule['alert']: rule.get('for') for group in groups for rule in group['rules']}
    assert windows['PostgresDown'] == '10s'
    assert windows['TargetDown'] == '1h30m'


def test_every_rule_has_a_unit_test():
    groups = yaml.safe_load(render_rules())['groups']
    alerts = {rule['alert'] for group in groups for rule in group['rules']}
    cases = yaml.safe_load((TESTS / 'alerts_test.yml').read_text())['tests']
    tested = {check['alertname'] for case in cases for check in case['alert_rule_test'] if check.get('exp_alerts')}
    assert alerts == tested
