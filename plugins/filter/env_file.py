# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter env_file (documented in env_file.yml): variables as a file a POSIX shell sources, for containers that read
their secrets from their environment and from no file (the file is mounted, the container's command sources it, and
`docker inspect` shows none of them)."""

import re
import shlex

from ansible.errors import AnsibleFilterError

NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')


def env_file(variables):
    """One NAME=value line per variable, in the mapping's order, each value quoted for the shell (shlex.quote)."""
    if not isinstance(variables, dict):
        raise AnsibleFilterError('env_file: expects a mapping of variable names to values')
    lines = []
    for name, value in variables.items():
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise AnsibleFilterError('env_file: %r is not a shell variable name' % (name,))
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise AnsibleFilterError('env_file: the value of %s is not a string or a number' % name)
        if '\0' in str(value):
            raise AnsibleFilterError('env_file: the value of %s holds a NUL character' % name)
        lines.append('%s=%s\n' % (name, shlex.quote(str(value))))
    return ''.join(lines)


class FilterModule:
    def filters(self):
        return {'env_file': env_file}
