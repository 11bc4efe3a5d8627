#!/usr/bin/python
# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_daemon_json
short_description: Merge keys into Docker's daemon.json, keeping every other key
version_added: 0.1.0
author:
  - selfhosted_ai.stack maintainers (!UNKNOWN)
description:
  - Reads Docker's C(daemon.json), sets the keys given in O(settings) and O(merge_settings), keeps every other
    key, and writes the file only when the result differs from what is there (compared as JSON, so formatting
    alone never causes a write).
  - Several roles own keys in this one file (C(selfhosted_ai.stack.docker) the logging and address pools,
    C(selfhosted_ai.stack.nvidia_container_toolkit) the C(nvidia) runtime); each sets its own keys with this module.
  - A missing file counts as an empty object. A file that cannot be read, is not UTF-8, is not JSON, or does not hold
    a JSON object stops the module with a message, and the file is left as it is; it is never replaced by the
    module's keys alone.
  - The new file is written to a temporary file in the same directory and moved into place, so Docker never reads a
    half-written file. With O(backup=true) the previous file is kept beside it first.
  - The module does not restart Docker; notify a handler when it reports a change.
options:
  path:
    description:
      - The daemon configuration file. Its directory must exist (Docker's packages create it); in check mode a
        missing directory is reported as a change, since the installation before may only have been predicted.
    type: path
    default: /etc/docker/daemon.json
  settings:
    description:
      - Top-level keys and the values they must have. A value replaces the key's current value as a whole.
    type: dict
    default: {}
  merge_settings:
    description:
      - Top-level keys whose value is a JSON object that is merged one level deep into the key's current object
        (for example C(runtimes)), so entries other roles put there stay. Each value must be a mapping.
      - A key may appear in O(settings) or here, not in both.
      - When the current value of such a key is not a JSON object, the module fails and changes nothing.
    type: dict
    default: {}
  backup:
    description: Keep the previous file as a timestamped copy beside it before replacing it.
    type: bool
    default: true
extends_documentation_fragment:
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    description: Reads the file and reports whether it would be written (and the resulting configuration), writing nothing.
  diff_mode:
    support: full
    description: Shows the file before and after.
  idempotent:
    support: full
    description: A file that already holds the keys, compared as JSON, is left alone.
notes:
  - The module validates the file as JSON only; Docker itself rejects unknown keys when it starts.
"""

EXAMPLES = r"""
- name: Set the logging keys the docker role owns
  selfhosted_ai.stack.docker_daemon_json:
    settings:
      log-driver: json-file
      log-opts: {max-size: 10m, max-file: "3"}
      live-restore: true
    owner: root
    group: root
    mode: "0644"
  notify: Restart Docker

- name: Add the NVIDIA runtime next to any other runtime
  selfhosted_ai.stack.docker_daemon_json:
    merge_settings:
      runtimes:
        nvidia: {path: nvidia-container-runtime, runtimeArgs: []}
    settings:
      default-runtime: nvidia
  notify: Restart Docker
"""

RETURN = r"""
path:
  description: The file.
  returned: always
  type: str
  sample: /etc/docker/daemon.json
config:
  description: The configuration the file holds after this run (in check mode, what it would hold).
  returned: success
  type: dict
  sample: {"log-driver": "json-file", "runtimes": {"nvidia": {"path": "nvidia-container-runtime"}}}
created:
  description: Whether the file did not exist before.
  returned: success
  type: bool
backup_file:
  description: The copy of the previous file, when one was made.
  returned: when the file was replaced and O(backup=true)
  type: str
  sample: /etc/docker/daemon.json.12345.2026-12-03@23:10:00~
"""

import errno
import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native


class DaemonJsonError(Exception):
    """A problem with the file or the input; nothing has been changed."""


def read_config(path):
    """Return (config, text) of the file, or (None, None) when it does not exist.

    Only a missing file counts as empty; any other read error, bad encoding, bad JSON or a value
    that is not an object raises DaemonJsonError.
    """
    try:
        with open(path, 'rb') as handle:
            raw = handle.read()
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None, None
        raise DaemonJsonError('cannot read %s: %s' % (path, exc.strerror or exc.__class__.__name__)) from exc
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise DaemonJsonError('%s is not UTF-8 text (byte %d)' % (path, exc.start)) from None
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise DaemonJsonError('%s is not valid JSON: %s' % (path, exc)) from None
    if not isinstance(config, dict):
        raise DaemonJsonError('%s holds a JSON %s, not an object' % (path, type(config).__name__))
    return config, text


def merge(current, settings, merge_settings):
    """The configuration with the given keys set; ``current`` is not modified."""
    both = sorted(set(settings) & set(merge_settings))
    if both:
        raise DaemonJsonError('keys in both settings and merge_settings: %s' % ', '.join(both))
    wanted = dict(current)
    for key, entries in merge_settings.items():
        if not isinstance(entries, dict):
            raise DaemonJsonError('merge_settings.%s must be a mapping, not %s' % (key, type(entries).__name__))
        existing = wanted.get(key, {})
        if not isinstance(existing, dict):
            raise DaemonJsonError(
                'the key %r holds a JSON %s, not an object, so entries cannot be merged into it'
                % (key, type(existing).__name__)
            )
        wanted[key] = dict(existing, **entries)
    wanted.update(settings)
    return wanted


def render(config):
    return json.dumps(config, indent=2, sort_keys=True) + '\n'


def write_atomically(module, path, content):
    directory = os.path.dirname(path) or '.'
    fd, tmp = tempfile.mkstemp(prefix='.daemon.json.', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(to_bytes(content))
            handle.flush()
            os.fsync(handle.fileno())
        module.atomic_move(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', default='/etc/docker/daemon.json'),
            settings=dict(type='dict', default={}),
            merge_settings=dict(type='dict', default={}),
            backup=dict(type='bool', default=True),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    path = module.params['path']
    result = dict(changed=False, path=path)

    try:
        current, before_text = read_config(path)
        wanted = merge(current or {}, module.params['settings'], module.params['merge_settings'])
    except DaemonJsonError as exc:
        module.fail_json(msg='%s. Nothing was changed; fix or remove the file, then rerun.' % exc, **result)

    result.update(config=wanted, created=current is None)
    if not os.path.isdir(os.path.dirname(path) or '.'):
        if module.check_mode:
            # --check on a host where the Docker package is not installed yet (its install was only predicted).
            result['changed'] = True
            module.exit_json(**result)
        module.fail_json(
            msg='the directory of %s does not exist (is Docker installed?). Nothing was changed.' % path, **result
        )
    if current is None or wanted != current:
        result['changed'] = True
        after_text = render(wanted)
        if module._diff:
            result['diff'] = dict(before_header=path, after_header=path, before=before_text or '', after=after_text)
        if not module.check_mode:
            try:
                if current is not None and module.params['backup']:
                    result['backup_file'] = module.backup_local(path)
                write_atomically(module, path, after_text)
            except OSError as exc:
                module.fail_json(msg='cannot write %s: %s' % (path, to_native(exc.strerror or exc)), **result)

    if os.path.exists(path):
        file_args = module.load_file_common_arguments(module.params, path=path)
        result['changed'] = module.set_fs_attributes_if_different(file_args, result['changed'])
    module.exit_json(**result)


if __name__ == '__main__':
    main()
