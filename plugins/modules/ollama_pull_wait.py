#!/usr/bin/python
# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ollama_pull_wait
short_description: Wait a while for model pulls running as async jobs, and say how far they got
version_added: 0.1.0
author:
  - selfhosted_ai.stack maintainers (!UNKNOWN)
description:
  - Ansible shows nothing of a module while it runs, and a model pull can run for an hour. The ollama role therefore
    starts each pull as an async job of M(selfhosted_ai.stack.ollama_model) with O(selfhosted_ai.stack.ollama_model#module:progress_dir)
    set, and runs this module in an C(until) loop; each run waits up to O(wait) seconds and returns one line of
    progress, which the C(selfhosted_ai.stack.progress) callback prints at each retry.
  - A pull counts as finished when its async job has written its result (or its job file is gone); the results
    themselves are read afterwards with M(ansible.builtin.async_status), which reports a failed pull.
  - Reads files only; sends no request to Ollama.
options:
  pulls:
    description: The pulls to wait for.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The model, as given to M(selfhosted_ai.stack.ollama_model).
        type: str
        required: true
      results_file:
        description: The async job's file, RV(ansible.builtin.async_status#module:results_file) of the task that started it.
        type: path
        required: true
  progress_dir:
    description: The directory given to M(selfhosted_ai.stack.ollama_model) as O(selfhosted_ai.stack.ollama_model#module:progress_dir).
    type: path
    required: true
  wait:
    description: Seconds to wait at most for the pulls to finish before returning.
    type: int
    default: 30
attributes:
  check_mode:
    support: full
    description: Only reads.
  diff_mode:
    support: none
    description: Changes nothing.
  idempotent:
    support: full
    description: Changes nothing.
seealso:
  - module: selfhosted_ai.stack.ollama_model
  - module: ansible.builtin.async_status
"""

EXAMPLES = r"""
- name: Start pulling the models
  selfhosted_ai.stack.ollama_model:
    name: "{{ item }}"
    progress_dir: /run/selfhosted-ai/ollama-pulls
  async: 21600
  poll: 0
  loop: [llama3.2, qwen2.5:7b]
  register: pulls

- name: Wait for the pulls, saying how far they got
  selfhosted_ai.stack.ollama_pull_wait:
    pulls: >-
      {{ pulls.results | items2dict(key_name='item', value_name='results_file')
         | dict2items(key_name='name', value_name='results_file') }}
    progress_dir: /run/selfhosted-ai/ollama-pulls
  register: waited
  until: waited.done
  retries: 720
  delay: 0
"""

RETURN = r"""
done:
  description: Whether every pull has finished.
  returned: always
  type: bool
progress_line:
  description: The pulls' progress in one line, the models in the order given.
  returned: always
  type: str
  sample: "llama3.2:latest 1.2 GB of 2.0 GB (60%) at 34.1 MB/s; qwen2.5:7b pulling manifest"
pulls:
  description: Each pull's state.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The model as Ollama lists it.
      type: str
    finished:
      description: Whether its job has finished.
      type: bool
    status:
      description: The last step Ollama reported (C(pulling <layer>), C(verifying sha256 digest), ...).
      type: str
    completed:
      description: Bytes downloaded so far.
      type: int
    total:
      description: Bytes of the layers announced so far.
      type: int
    bytes_per_second:
      description: Download rate while this module waited; null when it could not be measured.
      type: float
"""

import json
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.formatters import bytes_to_human

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._ollama import (
    ModelName,
    progress_path,
    read_progress,
)

POLL_SECONDS = 1.0


def job_finished(results_file):
    """Whether the async job behind results_file has written its result (async_wrapper's job file format)."""
    try:
        with open(results_file) as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return True  # no job: async_status says so
    except (OSError, ValueError):
        return False  # being written
    return 'started' not in data or bool(data.get('finished'))


def describe(pull):
    if pull['finished']:
        return '%s finished' % pull['name']
    if not pull['total']:
        return '%s %s' % (pull['name'], pull['status'] or 'starting')
    text = '%s %s of %s (%d%%)' % (
        pull['name'],
        bytes_to_human(pull['completed']),
        bytes_to_human(pull['total']),
        100 * pull['completed'] // pull['total'],
    )
    if pull['bytes_per_second']:
        text += ' at %s/s' % bytes_to_human(pull['bytes_per_second'])
    if not pull['status'].startswith('pulling '):
        text += ', ' + pull['status']
    return text


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pulls=dict(
                type='list',
                elements='dict',
                required=True,
                options=dict(name=dict(type='str', required=True), results_file=dict(type='path', required=True)),
            ),
            progress_dir=dict(type='path', required=True),
            wait=dict(type='int', default=30),
        ),
        supports_check_mode=True,
    )
    try:
        names = [ModelName.parse(pull['name']).short for pull in module.params['pulls']]
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if module.params['wait'] < 0:
        module.fail_json(msg='wait must be 0 or more seconds, not %s.' % module.params['wait'])
    paths = [progress_path(module.params['progress_dir'], name) for name in names]
    jobs = [pull['results_file'] for pull in module.params['pulls']]

    first = [read_progress(path) for path in paths]
    deadline = time.monotonic() + module.params['wait']
    while True:
        finished = [job_finished(job) for job in jobs]
        if all(finished) or time.monotonic() >= deadline:
            break
        time.sleep(POLL_SECONDS)
    last = [read_progress(path) for path in paths]

    pulls = []
    for name, done, before, now in zip(names, finished, first, last, strict=True):
        now = now or before or {}
        rate = None
        if before and now and now.get('updated', 0) > before.get('updated', 0):
            rate = (now['completed'] - before['completed']) / (now['updated'] - before['updated'])
        pulls.append(
            dict(
                name=name,
                finished=done,
                status=now.get('status') or '',
                completed=now.get('completed') or 0,
                total=now.get('total') or 0,
                bytes_per_second=rate if rate and rate > 0 else None,
            )
        )
    module.exit_json(
        changed=False, done=all(finished), pulls=pulls, progress_line='; '.join(describe(pull) for pull in pulls)
    )


if __name__ == '__main__':
    main()
