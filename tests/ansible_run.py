# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-playbook of this virtualenv with the collection on its path, as the unit and playbook tests run it
(pytest.ini puts tests/ on sys.path)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / 'ansible-playbook'


def ansible_playbook(
    *args, extra_env: dict | None = None, cwd: Path = REPO, timeout: int = 120
) -> subprocess.CompletedProcess:
    """Run ansible-playbook with ``args`` (and ``extra_env`` on top of the environment); the result holds stdout,
    stderr and returncode (never raises)."""
    env = {
        **os.environ,
        'ANSIBLE_COLLECTIONS_PATH': str(REPO / '.collections'),
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_LOCALHOST_WARNING': 'false',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'false',
        **(extra_env or {}),
    }
    return subprocess.run(
        [str(ANSIBLE_PLAYBOOK), *(str(arg) for arg in args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ansible_playbook_on_localhost(*args, **kwargs) -> subprocess.CompletedProcess:
    """ansible_playbook against localhost on the local connection, with this virtualenv's Python for the modules
    (a module run by the test or benchmark itself, against a server on loopback); ``args`` follow as given."""
    return ansible_playbook(
        '-i', 'localhost,', '-c', 'local', '-e', 'ansible_python_interpreter=' + sys.executable, *args, **kwargs
    )


def play_locally(
    tmp_path: Path, playbook: str, *extra_vars: str, inventory: str = 'inventories/multi-host', limit: str | None = None
) -> subprocess.CompletedProcess:
    """Write ``playbook`` under ``tmp_path`` and run it against an inventory of the repository on the local
    connection (the plays only compute and write under ``tmp_path``); ``extra_vars`` go to ``-e`` each."""
    path = tmp_path / 'play.yml'
    path.write_text(playbook)
    args = ['-i', inventory, '-c', 'local', '-e', 'ansible_python_interpreter=' + sys.executable]
    for value in extra_vars:
        args += ['-e', value]
    if limit:
        args += ['--limit', limit]
    return ansible_playbook(*args, path)
