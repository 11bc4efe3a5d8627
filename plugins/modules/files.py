#!/usr/bin/python
# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: files
short_description: Directories and small files of one service in one module run
version_added: 0.1.0
author:
  - selfhosted_ai.stack maintainers (!UNKNOWN)
description:
  - Creates the directories in O(directories), then writes each file of O(files) whose content differs from what is
    there, and sets the owner, group and mode of every path, then removes the paths of O(absent) that exist - what a
    chain of M(ansible.builtin.file),
    M(ansible.builtin.template) and M(ansible.builtin.copy) tasks does, in one module run on the host instead of one
    per path (a service's configuration directory and its files, or a loop of files).
  - Contents come rendered from the controller (for example C(lookup('ansible.builtin.template', 'x.j2'))). A file is
    written to a temporary file in its directory and moved into place, so a service never reads half a file. With
    C(validate) the temporary file is checked first, and a file that fails is not written.
  - Paths are handled in order; on an error the module stops and names the path, and the paths before it may have
    been changed already (as with the chain of tasks it replaces).
  - Set C(no_log) on the task when a content is a secret; the contents are never returned, and the diff only when
    Ansible runs with C(--diff).
options:
  owner:
    description: Owner of every path without its own C(owner).
    type: str
  group:
    description: Group of every path without its own C(group).
    type: str
  mode:
    description: Mode of every file without its own C(mode).
    type: raw
  directory_mode:
    description: Mode of every directory without its own C(mode).
    type: raw
  directories:
    description: Directories to create (with their parents) and whose owner, group and mode to set.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the directory.
        type: path
        required: true
      owner:
        description: Owner (name or uid); unset keeps the current one.
        type: str
      group:
        description: Group (name or gid); unset keeps the current one.
        type: str
      mode:
        description: Mode as an octal string (C("0750")); unset keeps the current one.
        type: raw
  files:
    description: Files to write when their content differs, and whose owner, group and mode to set.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the file; its directory must exist or be in O(directories).
        type: path
        required: true
      content:
        description: The whole content of the file (text, written as UTF-8).
        type: str
        required: true
      keep_content:
        description:
          - Write O(files[].content) only when the file is missing; an existing file keeps what it holds and gets the
            owner, group and mode (a log file that a service appends to, which must exist before a reader starts).
        type: bool
        default: false
      owner:
        description: Owner (name or uid); unset keeps the current one (root for a new file).
        type: str
      group:
        description: Group (name or gid); unset keeps the current one.
        type: str
      mode:
        description: Mode as an octal string (C("0640")); unset keeps the current one (the umask's for a new file).
        type: raw
      validate:
        description:
          - A command run with the temporary file's path in place of C(%s) before a changed file is moved into place;
            a non-zero exit leaves the file as it is and fails the module with the command's output.
        type: str
  absent:
    description:
      - Files, links or directories (with everything in them) to remove, after the others; one that is not there is
        left alone. C(/), a directory right under it (C(/etc)) and a path with C(..) are refused before anything
        changes.
    type: list
    elements: path
    default: []
attributes:
  check_mode:
    support: full
    description: Reads every path and reports what would change, writing nothing (no validation either).
  diff_mode:
    support: full
    description: Shows each changed file before and after (hidden with the rest of the result under C(no_log)).
  idempotent:
    support: full
    description: Paths that already hold the content and attributes are left alone.
"""

EXAMPLES = r"""
- name: Write the configuration of the backup program
  selfhosted_ai.stack.files:
    owner: root
    group: root
    mode: "0644"
    directories:
      - {path: /etc/selfhosted-ai/backup, mode: "0700"}
    files:
      - path: /etc/selfhosted-ai/backup/config.json
        content: "{{ lookup('ansible.builtin.template', 'config.json.j2') }}"
        mode: "0600"
      - path: /etc/systemd/system/backup.service
        content: "{{ lookup('ansible.builtin.template', 'backup.service.j2') }}"
  register: __backup_files
  notify: Reload systemd
"""

RETURN = r"""
changed_paths:
  description: The directories and files created, written or given other attributes (in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [/etc/selfhosted-ai/backup/config.json]
"""

import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text


def read_bytes(path):
    """The file's bytes, or None when there is no file."""
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def file_args(module, entry):
    return module.load_file_common_arguments(
        dict(owner=entry['owner'], group=entry['group'], mode=entry['mode']), path=entry['path']
    )


def with_defaults(params, entry, mode_key):
    """The entry with the module's owner, group and mode where it sets none of its own."""
    return dict(
        entry,
        owner=entry.get('owner') or params['owner'],
        group=entry.get('group') or params['group'],
        mode=entry.get('mode') or params[mode_key],
    )


def ensure_directory(module, entry, diff):
    path = entry['path']
    changed = False
    if not os.path.isdir(path):
        if os.path.lexists(path):
            module.fail_json(msg='%s exists and is not a directory; nothing there was changed' % path)
        changed = True
        diff.append(dict(before_header=path, after_header=path, before='absent\n', after='directory\n'))
        if module.check_mode:
            return True
        os.makedirs(path)
    return module.set_fs_attributes_if_different(file_args(module, entry), changed, expand=False)


def write_file(module, entry, diff):
    path = entry['path']
    wanted = to_bytes(entry['content'], errors='surrogate_or_strict')
    current = read_bytes(path)
    if current == wanted or (entry['keep_content'] and current is not None):
        return module.set_fs_attributes_if_different(file_args(module, entry), False, expand=False)
    diff.append(
        dict(
            before_header=path,
            after_header=path,
            before=to_text(current, errors='surrogate_or_replace') if current is not None else '',
            after=entry['content'],
        )
    )
    directory = os.path.dirname(path)
    if module.check_mode:
        return True
    if not os.path.isdir(directory):
        module.fail_json(msg='the directory of %s does not exist; add it to directories' % path)
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(wanted)
            handle.flush()
            os.fsync(handle.fileno())
        # The attributes first: a secret file is never readable by others, not even for a moment.
        module.set_fs_attributes_if_different(file_args(module, dict(entry, path=tmp)), True, expand=False)
        if entry.get('validate'):
            rc, out, err = module.run_command(entry['validate'] % tmp)
            if rc != 0:
                module.fail_json(
                    msg='%s failed its validation (%s), so it was not written: %s'
                    % (path, entry['validate'], (err or out).strip()),
                    rc=rc,
                )
        # os.replace, not atomic_move: atomic_move gives the file the old file's (or the umask's) mode first.
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return True


def remove_path(module, entry, diff):
    """Remove the file, link or directory tree at entry['path']; False when there is none."""
    path = entry['path']
    if not os.path.lexists(path):
        return False
    diff.append(dict(before_header=path, after_header=path, before='present\n', after='absent\n'))
    if not module.check_mode:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    return True


def main():
    attributes = dict(owner=dict(type='str'), group=dict(type='str'), mode=dict(type='raw'))
    module = AnsibleModule(
        argument_spec=dict(
            owner=dict(type='str'),
            group=dict(type='str'),
            mode=dict(type='raw'),
            directory_mode=dict(type='raw'),
            directories=dict(
                type='list',
                elements='dict',
                default=[],
                options=dict(path=dict(type='path', required=True), **attributes),
            ),
            files=dict(
                type='list',
                elements='dict',
                default=[],
                options=dict(
                    path=dict(type='path', required=True),
                    content=dict(type='str', required=True),
                    keep_content=dict(type='bool', default=False),
                    validate=dict(type='str'),
                    **attributes,
                ),
            ),
            absent=dict(type='list', elements='path', default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    entries = [(ensure_directory, with_defaults(params, d, 'directory_mode')) for d in params['directories']]
    entries += [(write_file, with_defaults(params, f, 'mode')) for f in params['files']]
    entries += [(remove_path, {'path': path}) for path in params['absent']]
    relative = [entry['path'] for _step, entry in entries if not os.path.isabs(entry['path'])]
    if relative:
        module.fail_json(msg='paths must be absolute: %s; nothing was changed' % ', '.join(relative))
    # A slip in a variable must not empty the host: / and the directories right under it are never removed.
    refused = [
        path
        for path in params['absent']
        if '..' in path.split('/') or len([part for part in path.split('/') if part not in ('', '.')]) < 2
    ]
    if refused:
        module.fail_json(
            msg='absent: %s refused (/, a directory right under it, or a path with ..); nothing was changed'
            % ', '.join(refused)
        )
    unplaced = [f['path'] for f in params['files'] if f.get('validate') and '%s' not in f['validate']]
    if unplaced:
        module.fail_json(
            msg='validate must contain %%s (the file to check) for %s; nothing was changed' % ', '.join(unplaced)
        )
    changed_paths = []
    diff = []
    for step, entry in entries:
        try:
            if step(module, entry, diff):
                changed_paths.append(entry['path'])
        except OSError as exc:
            module.fail_json(
                msg='cannot %s %s: %s'
                % ('remove' if step is remove_path else 'write', entry['path'], to_native(exc.strerror or exc)),
                changed_paths=changed_paths,
            )
    result = dict(changed=bool(changed_paths), changed_paths=changed_paths)
    if module._diff and diff:
        result['diff'] = diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
