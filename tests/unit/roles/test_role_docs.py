# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Each role's defaults/main.yml, meta/argument_specs.yml and README variable table say the same thing.

The spec is the source: every public (role-prefixed) variable of defaults/main.yml is in the spec of
an entry point (`main`, or a tasks_from entry point) with the same default (a Jinja default as the same expression, so ansible-doc
shows what the role really uses), and the README's table is what tests/harness/role_docs.py writes.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location('role_docs', ROOT / 'tests' / 'harness' / 'role_docs.py')
role_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(role_docs)

ROLES = [path.name for path in role_docs.role_dirs(ROOT)]


def _load(role: str):
    role_dir = ROOT / 'roles' / role
    defaults_file = role_dir / 'defaults' / 'main.yml'
    defaults = (role_docs.load_yaml(defaults_file) if defaults_file.exists() else None) or {}
    specs = role_docs.load_yaml(role_dir / 'meta' / 'argument_specs.yml')['argument_specs']
    return defaults, specs


def _public(names, role: str) -> set[str]:
    return {name for name in names if name.startswith(f'{role}_')}


def test_every_role_is_covered():
    assert len(ROLES) == len(list((ROOT / 'roles').glob('*/tasks/main.yml'))), 'a role has no meta/argument_specs.yml'


def _options(specs):
    """The options of every entry point (main, and tasks_from entry points such as backup's restore)."""
    return {name: option for spec in specs.values() for name, option in (spec.get('options') or {}).items()}


@pytest.mark.parametrize('role', ROLES)
def test_defaults_and_spec_name_the_same_variables(role):
    defaults, specs = _load(role)
    options = _options(specs)
    unprefixed = sorted(name for name in set(defaults) - _public(defaults, role) if not name.startswith('__'))
    assert not unprefixed, f'{role}: defaults/main.yml variables without the "{role}_" prefix: {unprefixed}'
    missing_in_spec = sorted(_public(defaults, role) - set(options))
    assert not missing_in_spec, f'{role}: in defaults/main.yml but not in meta/argument_specs.yml: {missing_in_spec}'
    missing_in_defaults = sorted(
        name for name in _public(options, role) - set(defaults) if not (options[name] or {}).get('required')
    )
    assert not missing_in_defaults, (
        f'{role}: in meta/argument_specs.yml but not in defaults/main.yml (give them a default there, '
        f'or mark them required): {missing_in_defaults}'
    )


@pytest.mark.parametrize('role', ROLES)
def test_spec_defaults_are_the_role_defaults(role):
    defaults, specs = _load(role)
    options = _options(specs)
    wrong = []
    for name in sorted(_public(options, role) & set(defaults)):
        option = options[name] or {}
        if 'default' not in option:
            wrong.append(f'{name}: the spec has no default; defaults/main.yml has {defaults[name]!r}')
        elif option['default'] != defaults[name]:
            wrong.append(f'{name}: the spec says {option["default"]!r}, defaults/main.yml has {defaults[name]!r}')
    for name in sorted(set(options) - set(defaults)):
        if 'default' in (options[name] or {}):
            wrong.append(
                f'{name}: the spec has a default that defaults/main.yml does not set (ansible-doc would show it)'
            )
    assert not wrong, f'{role}: meta/argument_specs.yml disagrees with defaults/main.yml:\n  ' + '\n  '.join(wrong)


@pytest.mark.parametrize('role', ROLES)
def test_every_option_is_described(role):
    specs = _load(role)[1]
    bad = []
    for entry_point, spec in specs.items():
        for name, option in ((spec or {}).get('options') or {}).items():
            option = option or {}
            description = option.get('description')
            text = ' '.join(description) if isinstance(description, list) else str(description or '')
            if not option.get('type'):
                bad.append(f'{entry_point}.{name}: no type')
            if not text.strip() or text.strip().startswith(name):
                bad.append(f'{entry_point}.{name}: no real description ({text!r})')
    assert not bad, f'{role}: ' + '; '.join(bad)


@pytest.mark.parametrize('role', ROLES)
def test_readme_table_is_generated(role):
    current, wanted = role_docs.expected_readme(ROOT / 'roles' / role)
    assert current == wanted, f'roles/{role}/README.md: the variable table is not what the spec says: run make docs'


def test_generator_renders_jinja_defaults_as_written_and_escapes_pipes():
    options = {
        'x_network': {
            'type': 'str',
            'default': "{{ docker_stack_network_name | default('ai_network') }}",
            'description': 'The network; see C(x_other).',
        },
        'x_list': {'type': 'list', 'elements': 'str', 'default': ['+@all', '-@dangerous'], 'description': 'Rules.'},
        'x_empty': {'type': 'str', 'default': '', 'description': 'Empty.', 'choices': ['', 'a']},
        'x_needed': {'type': 'str', 'required': True, 'description': 'Must be given.'},
    }
    table = role_docs.render_table(options, {})
    assert table[2] == (
        "| `x_network` | str | `{{ docker_stack_network_name \\| default('ai_network') }}` | The network; see `x_other`. |"
    )
    assert table[3] == '| `x_list` | list of str | `[+@all, -@dangerous]` | Rules. |'
    assert table[4] == '| `x_empty` | str | `""` | Empty. Choices: `""`, `a`. |'
    assert table[5] == '| `x_needed` | str | *required* | Must be given. |'


def test_rewrite_keeps_the_prose_and_refuses_a_readme_without_markers(tmp_path):
    block = f'{role_docs.BEGIN}\nnew\n{role_docs.END}'
    text = f'# r\n\nprose before\n\n{role_docs.BEGIN}\nold\n{role_docs.END}\n\nprose after\n'
    assert role_docs.rewrite(text, block, tmp_path) == f'# r\n\nprose before\n\n{block}\n\nprose after\n'
    with pytest.raises(SystemExit, match='marker'):
        role_docs.rewrite('# r\n| a | b |\n', block, tmp_path)


@pytest.mark.parametrize(
    'role', [role for role in ROLES if (ROOT / 'roles' / role / 'tasks' / 'validate.yml').exists()]
)
def test_the_first_input_check_also_checks_the_argument_specs(role):
    # One task per role for all of its input (the playbooks import roles with rolespec_validate: false).
    first = role_docs.load_yaml(ROOT / 'roles' / role / 'tasks' / 'validate.yml')[0]
    assert 'selfhosted_ai.stack.checks' in first, f'{role}: the first task of tasks/validate.yml is not a checks task'
    assert first['selfhosted_ai.stack.checks'].get('argument_spec') == 'main', role
