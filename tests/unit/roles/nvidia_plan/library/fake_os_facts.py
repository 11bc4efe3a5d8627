# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test helper: returns the facts it is given, so a play can pretend to run on another distribution."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={'facts': {'type': 'dict', 'required': True}}, supports_check_mode=True)
    module.exit_json(changed=False, ansible_facts=module.params['facts'])


if __name__ == '__main__':
    main()
