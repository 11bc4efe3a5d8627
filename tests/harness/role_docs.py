# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Writes the variable table of each role README from the role's meta/argument_specs.yml.

    python tests/harness/role_docs.py [ROLE ...]          rewrite the tables (all roles without arguments)
    python tests/harness/role_docs.py --check [ROLE ...]  exit 1 and name the READMEs that are out of date

Only the lines between the two marker comments below are generated; the prose around them is kept
as it is. The output depends on nothing but the spec (and defaults/main.yml for the Jinja defaults
the spec leaves out), so two runs on the same files write the same bytes (`make docs`).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BEGIN = '<!-- BEGIN role variables (generated from meta/argument_specs.yml by `make docs`; do not edit) -->'
END = '<!-- END role variables -->'
# A default longer than this (the rendered flow YAML) is summarised in the table; ansible-doc and
# defaults/main.yml show it whole.
MAX_DEFAULT_CHARS = 120

# Ansible's documentation markup (C(), O(), V(), I(), B(), U(), M(), E(), P(), L(,)) as Markdown.
_MARKUP = [
    (re.compile(r'L\(([^)]+?),\s*([^)]+?)\)'), r'[\1](\2)'),
    (re.compile(r'[COVEMP]\(([^)]+?)\)'), r'`\1`'),
    (re.compile(r'I\(([^)]+?)\)'), r'*\1*'),
    (re.compile(r'B\(([^)]+?)\)'), r'**\1**'),
    (re.compile(r'U\(([^)]+?)\)'), r'\1'),
]


class _FlowDumper(yaml.SafeDumper):
    """Dumps one value as a single line of flow YAML."""


def load_yaml(path: Path):
    with path.open(encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def role_dirs(root: Path = REPO) -> list[Path]:
    return sorted(path.parent.parent for path in (root / 'roles').glob('*/meta/argument_specs.yml'))


def _one_line(text: str) -> str:
    return re.sub(r'\s+', ' ', text).strip()


def _cell(text: str) -> str:
    """Text that is safe inside a Markdown table cell (one line, pipes escaped)."""
    return _one_line(text).replace('|', r'\|')


def _code(text: str) -> str:
    ticks = '``' if '`' in text else '`'
    pad = ' ' if text.startswith('`') or text.endswith('`') else ''
    return f'{ticks}{pad}{text}{pad}{ticks}'


def render_value(value) -> str:
    """A default as it reads in defaults/main.yml: strings bare (Jinja included), the rest as flow YAML."""
    if isinstance(value, str):
        return _one_line(value) if value.strip() else '""'
    dumped = yaml.dump(value, Dumper=_FlowDumper, default_flow_style=True, width=10**6, sort_keys=False)
    return _one_line(dumped.removesuffix('\n...\n'))


def render_default(value) -> str:
    text = render_value(value)
    if len(text) > MAX_DEFAULT_CHARS and isinstance(value, (dict, list)):
        return f'{len(value)} entries (see `defaults/main.yml`)'
    return _code(text)


def render_description(option: dict) -> str:
    description = option.get('description', '')
    if isinstance(description, list):
        description = ' '.join(description)
    text = _one_line(str(description))
    for pattern, replacement in _MARKUP:
        text = pattern.sub(replacement, text)
    if option.get('choices'):
        text += ' Choices: ' + ', '.join(_code(render_value(choice)) for choice in option['choices']) + '.'
    return text


def render_type(option: dict) -> str:
    kind = option.get('type', 'str')
    if option.get('elements'):
        kind = f'{kind} of {option["elements"]}'
    return kind


def render_table(options: dict, defaults: dict) -> list[str]:
    lines = ['| Variable | Type | Default | Description |', '|---|---|---|---|']
    for name, option in options.items():
        option = option or {}
        if 'default' in option:
            default = render_default(option['default'])
        elif option.get('required'):
            default = '*required*'
        elif name in defaults:
            default = render_default(defaults[name])
        else:
            default = ''
        lines.append(
            f'| {_code(name)} | {render_type(option)} | {_cell(default)} | {_cell(render_description(option))} |'
        )
    return lines


def render_block(role_dir: Path) -> str:
    """The generated block of one role's README, markers included."""
    specs = load_yaml(role_dir / 'meta' / 'argument_specs.yml')['argument_specs']
    defaults_file = role_dir / 'defaults' / 'main.yml'
    defaults = (load_yaml(defaults_file) if defaults_file.exists() else None) or {}
    entry_points = sorted(specs, key=lambda name: (name != 'main', name))
    lines = [BEGIN]
    for entry_point in entry_points:
        spec = specs[entry_point] or {}
        if len(entry_points) > 1:
            lines += [
                '',
                f'Entry point `{entry_point}`'
                + ('' if entry_point == 'main' else f' (`tasks_from: {entry_point}`)')
                + f': {_cell(spec.get("short_description", ""))}',
            ]
        options = spec.get('options') or {}
        lines += [''] + (
            render_table(options, defaults if entry_point == 'main' else {}) if options else ['No variables.']
        )
    lines += ['', END]
    return '\n'.join(lines)


def rewrite(readme_text: str, block: str, readme: Path) -> str:
    begin = readme_text.find(BEGIN)
    end = readme_text.find(END)
    if begin < 0 or end < begin:
        raise SystemExit(
            f'{readme}: no generated variable block; put the two marker lines\n  {BEGIN}\n  {END}\n'
            'where the table belongs and run make docs'
        )
    return readme_text[:begin] + block + readme_text[end + len(END) :]


def expected_readme(role_dir: Path) -> tuple[str, str]:
    """(current text, text the generator would write) of one role's README."""
    readme = role_dir / 'README.md'
    text = readme.read_text(encoding='utf-8')
    return text, rewrite(text, render_block(role_dir), readme)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--check', action='store_true', help='change nothing, fail when a README is out of date')
    parser.add_argument('roles', nargs='*', help='role names (default: every role)')
    args = parser.parse_args(argv)
    dirs = [REPO / 'roles' / name for name in args.roles] if args.roles else role_dirs()
    stale = []
    for role_dir in dirs:
        current, wanted = expected_readme(role_dir)
        if current == wanted:
            continue
        if args.check:
            stale.append(str((role_dir / 'README.md').relative_to(REPO)))
        else:
            (role_dir / 'README.md').write_text(wanted, encoding='utf-8')
            print(f'role_docs: wrote {(role_dir / "README.md").relative_to(REPO)}')
    if stale:
        print('role_docs: out of date (run make docs): ' + ', '.join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
