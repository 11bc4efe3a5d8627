#!/usr/bin/python
# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: backup_info
short_description: Report the backup snapshots of the stack and the state of the last backup run
version_added: 0.1.0
author:
  - selfhosted_ai.stack maintainers (!UNKNOWN)
description:
  - Runs the backup program that the role C(selfhosted_ai.stack.backup) installs, as
    C(<program> --config <config> snapshots [--service <service>]), and returns the snapshots of the restic
    repository tagged C(selfhosted_ai), the latest snapshot of each service, and the state file of the
    last backup run (its path is read from the configuration).
  - Reads only (restic lists the snapshots); nothing is written, locked or pruned. Returns no secret.
  - Runs on the host that holds the configuration (root only), usually with C(become).
options:
  program:
    description: Path of the backup program on the managed host.
    type: path
    default: /usr/local/sbin/selfhosted-ai-backup
  config:
    description: Path of the program's JSON configuration, as the role writes it.
    type: path
    default: /etc/selfhosted_ai/backup/config.json
  service:
    description:
      - Return only the snapshots of this service (a C(name) of the configuration's C(services)).
      - By default the snapshots of every service are returned.
    type: str
attributes:
  check_mode:
    support: full
    description: Only reads; runs the same way in check mode.
  diff_mode:
    support: none
    description: Changes nothing.
  idempotent:
    support: full
    description: Changes nothing.
requirements:
  - the backup program of the role C(selfhosted_ai.stack.backup), and restic, on the managed host
"""

EXAMPLES = r"""
- name: What do the backups hold?
  become: true
  selfhosted_ai.stack.backup_info:
  register: backups

- name: Fail when the last backup run failed
  ansible.builtin.assert:
    that: backups.state.ok
    fail_msg: "The last backup run failed: {{ backups.state.error }}"

- name: The latest PostgreSQL snapshot
  become: true
  selfhosted_ai.stack.backup_info:
    service: postgres
  register: postgres_backups

- name: Show it
  ansible.builtin.debug:
    msg: "{{ postgres_backups.services.postgres.short_id }} of {{ postgres_backups.services.postgres.time }}"
"""

RETURN = r"""
snapshots:
  description: The snapshots tagged C(selfhosted_ai) (of O(service) only, when given), oldest first.
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: Full snapshot id.
      type: str
      sample: 65cefa56a555bce896492ad0f4165b681e625e934cce4f2deeec9cc87e1ddffa
    short_id:
      description: Short snapshot id, as restic prints it.
      type: str
      sample: 65cefa56
    time:
      description: Time of the snapshot (restic's RFC 3339).
      type: str
      sample: "2026-01-05T03:10:02.418263Z"
    host:
      description: Host name the snapshot was taken for.
      type: str
      sample: sandbox-main
    service:
      description: The service, from the snapshot's C(service:<name>) tag.
      type: str
      sample: postgres
    paths:
      description: Paths the snapshot holds (the service's staging directory).
      type: list
      elements: str
      sample: [/var/lib/selfhosted_ai/backup/staging/postgres]
services:
  description: Service name to its latest snapshot (an element of RV(snapshots)).
  returned: success
  type: dict
  sample:
    postgres: {"id": "65cefa56a555...", "short_id": "65cefa56", "time": "2026-01-05T03:10:02Z", "host": "sandbox-main",
               "service": "postgres", "paths": ["/var/lib/selfhosted_ai/backup/staging/postgres"]}
state:
  description:
    - The state file of the backup program; null when no run has written it yet.
    - C(last_success) is kept from an earlier run when the last one failed.
  returned: success
  type: dict
  contains:
    last_run:
      description: Start of the last backup run (UTC, ISO 8601).
      type: str
    last_success:
      description: Start of the last backup run that had no failure, or null.
      type: str
    ok:
      description: Whether the last backup run succeeded.
      type: bool
    error:
      description: What failed in the last run, or null.
      type: str
    services:
      description: Service name to C(snapshot), C(time) and C(data_added) (bytes) of its last backup.
      type: dict
    last_check:
      description: Time of the last C(check) run, when there was one.
      type: str
    check_ok:
      description: Whether that check passed.
      type: bool
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule


def read_state(module, config_path):
    """The state file named by the configuration, or None when no run has written it yet."""
    try:
        with open(config_path) as handle:
            state_file = json.load(handle)['state_file']
    except (OSError, ValueError, KeyError, TypeError) as exc:
        module.fail_json(msg='cannot read state_file from the configuration %s: %s' % (config_path, exc))
    try:
        with open(state_file) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        module.fail_json(msg='cannot read the state file %s: %s' % (state_file, exc))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            program=dict(type='path', default='/usr/local/sbin/selfhosted-ai-backup'),
            config=dict(type='path', default='/etc/selfhosted_ai/backup/config.json'),
            service=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not os.path.isfile(params['program']):
        module.fail_json(
            msg='the backup program %s is not there; is the role selfhosted_ai.stack.backup applied?'
            % params['program']
        )
    state = read_state(module, params['config'])
    cmd = [params['program'], '--config', params['config'], 'snapshots']
    if params['service']:
        cmd += ['--service', params['service']]
    rc, stdout, stderr = module.run_command(cmd)
    try:
        answer = json.loads(stdout.strip().splitlines()[-1]) if stdout.strip() else {}
    except ValueError:
        answer = {}
    if rc != 0 or 'snapshots' not in answer:
        message = answer.get('error') or stderr.strip() or 'no output'
        module.fail_json(msg='%s snapshots failed (exit %d): %s' % (params['program'], rc, message), rc=rc)
    module.exit_json(changed=False, snapshots=answer['snapshots'], services=answer['services'], state=state)


if __name__ == '__main__':
    main()
