# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Role selfhosted_ai.stack.packages, run for real on this machine (Debian): its input check and its one listing.

Only packages every Debian system has are asked for, so the role reads `dpkg-query` and never runs apt here.
"""

from __future__ import annotations

import json

import pytest
from ansible_run import ansible_playbook_on_localhost

CHECK = 'TASK [selfhosted_ai.stack.packages : Check the Debian packages needed by'
LISTING = 'TASK [selfhosted_ai.stack.packages : Read the installed Debian packages, once per run]'
APT = 'TASK [selfhosted_ai.stack.packages : Install the missing Debian packages'


def run_role(tmp_path, *wanted):
    imports = ''.join(
        f"""
    - name: Packages, call {number}
      ansible.builtin.import_role:
        name: selfhosted_ai.stack.packages
        rolespec_validate: false
      vars:
        packages_wanted: {json.dumps(value)}
        packages_for: caller {number}"""
        for number, value in enumerate(wanted, 1)
    )
    playbook = tmp_path / 'play.yml'
    playbook.write_text(f'- name: Packages\n  hosts: localhost\n  gather_facts: false\n  tasks:{imports}\n')
    return ansible_playbook_on_localhost(playbook)


def test_packages_already_installed_are_listed_once_and_never_installed(tmp_path):
    result = run_role(tmp_path, ['bash', 'dpkg'], ['dpkg'])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(LISTING) == 1
    # The second call finds its package in the listing: its include is skipped, its check too.
    assert result.stdout.count(CHECK) == 1
    assert APT not in result.stdout
    assert 'changed=0' in result.stdout


@pytest.mark.parametrize(
    'wanted',
    ['dpkg', ['dpkg=1.21.22'], ['dpkg', 'Bad Name'], {'dpkg': True}],
    ids=['a-string', 'a-version', 'a-bad-name', 'a-mapping'],
)
def test_a_malformed_list_stops_before_the_listing(tmp_path, wanted):
    # After a call that listed the packages, so a malformed second call is not merely missing from a first listing.
    result = run_role(tmp_path, ['dpkg'], wanted)
    assert result.returncode != 0
    assert 'caller 2: packages_wanted must be a list of Debian package names without versions' in result.stdout
    assert result.stdout.count(LISTING) == 1
    assert APT not in result.stdout
