# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter env_file: what a real shell gets back from the file, and what is refused."""

from __future__ import annotations

import json
import subprocess

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.selfhosted_ai.stack.plugins.filter.env_file import FilterModule, env_file

HOSTILE = {
    'DATABASE_URL': 'postgresql://u:p%2Fw@postgres:5432/db',
    'QUOTES': 'it\'s "quoted"',
    'SUBSTITUTIONS': '$(touch pwned) `touch pwned` ${HOME} $HOME',
    'LINES': 'first\nsecond\n',
    'SPACES': '  leading and trailing  ',
    'EMPTY': '',
    'PORT': 5432,
}


@pytest.mark.parametrize('shell', ['sh', 'bash'])
def test_a_shell_that_sources_the_file_gets_every_value_back_and_runs_none(tmp_path, shell):
    (tmp_path / 'env').write_text(env_file(HOSTILE))
    done = subprocess.run(
        [
            shell,
            '-c',
            'set -a && . ./env && set +a && exec python3 -c "import json, os; print(json.dumps(dict(os.environ)))"',
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env={'PATH': '/usr/bin:/bin'},
    )
    environment = json.loads(done.stdout)
    assert {name: environment[name] for name in HOSTILE} == {name: str(value) for name, value in HOSTILE.items()}
    assert not (tmp_path / 'pwned').exists()


def test_one_line_per_variable_in_order():
    assert env_file({'B': 'x', 'A': 'a b'}) == "B=x\nA='a b'\n"
    assert env_file({}) == ''


@pytest.mark.parametrize(
    ('variables', 'message'),
    [
        ('A=1', 'expects a mapping'),
        ({'1ABC': 'x'}, "'1ABC' is not a shell variable name"),
        ({'A-B': 'x'}, "'A-B' is not a shell variable name"),
        ({'A\nB': 'x'}, 'is not a shell variable name'),
        ({'A': ['x']}, 'the value of A is not a string or a number'),
        ({'A': True}, 'the value of A is not a string or a number'),
        ({'A': 'x\0y'}, 'the value of A holds a NUL character'),
    ],
)
def test_bad_input_is_refused_without_the_value(variables, message):
    with pytest.raises(AnsibleFilterError, match=message) as error:
        env_file(variables)
    assert 'x\0y' not in str(error.value)


def test_the_filter_is_registered():
    assert FilterModule().filters()['env_file'] is env_file
