#!/usr/bin/python
# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ollama_model
short_description: Pull or remove a model of an Ollama server
version_added: 0.1.0
author:
  - selfhosted_ai.stack maintainers (!UNKNOWN)
description:
  - Makes sure a model is present on an Ollama server (pulled from its registry) or absent (deleted),
    through Ollama's REST API.
  - Reads the models with C(GET /api/tags) first and acts only when needed, so a second run changes nothing
    and sends no pull request. Names are compared the way Ollama lists them, so C(llama3),
    C(llama3:latest) and C(registry.ollama.ai/library/llama3:latest) are the same model.
  - >-
    O(state=present) sends C(POST /api/pull) and reads its stream of progress objects to the end.
    A model name the registry does not know makes Ollama send an error in that stream
    (for example C(pull model manifest: file does not exist)); the module then fails with that message.
  - O(state=absent) sends C(DELETE /api/delete).
  - The name is validated before any request is sent.
extends_documentation_fragment:
  - selfhosted_ai.stack._ollama
options:
  name:
    description:
      - The model, as C([host/][namespace/]model[:tag]), for example C(llama3.2), C(qwen2.5:7b),
        C(hf.co/bartowski/llama-3.2-1b-instruct-gguf:q4_k_m).
      - Lowercase only. Model and tag use letters a-z, digits, C(_), C(-) and C(.); a namespace uses letters,
        digits, C(_) and C(-); each part starts with a letter, digit or C(_) and has at most 80 characters.
        The tag defaults to C(latest), the namespace to C(library), the host to C(registry.ollama.ai).
        Digests (C(@sha256:...)) and C(..) are refused.
      - Ollama itself matches names case-insensitively; requiring lowercase keeps the name that is compared
        and the name that is pulled the same.
    type: str
    required: true
  state:
    description:
      - V(present) pulls the model when it is not there; V(absent) deletes it when it is.
      - A model that is present is not pulled again, even if the registry has a newer build under the same tag.
    type: str
    choices: [present, absent]
    default: present
  pull_timeout:
    description:
      - Longest silence, in seconds, tolerated between two progress lines of a pull.
      - This is not a limit on the whole download, which may take hours for large models; use the task
        keyword C(timeout) for that.
    type: int
    default: 600
  progress_dir:
    description:
      - A directory on the target where a pull writes its progress (the step, the bytes downloaded and announced)
        to a file named after the model, rewritten at each new step and at most once a second, and removed when
        the pull ends.
      - "For a pull started as an async job (C(async), C(poll: 0)) and followed with
        M(selfhosted_ai.stack.ollama_pull_wait), which reads the file; the ollama role does so."
      - Created with mode C(0700) when missing.
    type: path
attributes:
  check_mode:
    support: full
    description: Reads the models and reports what would change, without pulling or deleting.
  diff_mode:
    support: full
    description: Shows the state of the model before and after.
  idempotent:
    support: full
    description: A model already in the wanted state is left alone (no pull request is sent).
notes:
  - Ansible cannot show a module's output while the module runs. Progress is therefore written, line by
    line as it arrives, to the system log of the target (journald or syslog; follow it with
    C(journalctl -f -t ansible-ollama_model) or similar), and returned at the end as RV(progress),
    one entry per step and per layer rather than every streamed line, with a one-line summary in RV(msg).
    With O(progress_dir), run as an async job, M(selfhosted_ai.stack.ollama_pull_wait) shows it on the controller.
  - On the controller, the C(selfhosted_ai.stack.progress) callback prints the task's name, its hosts and the
    time spent while a pull keeps the terminal silent; name the model in the task's name.
  - The requests run from the target host, so O(api_url) is the address of Ollama as seen from there.
seealso:
  - module: selfhosted_ai.stack.ollama_model_info
  - name: Ollama API
    description: The endpoints used by this module.
    link: https://github.com/ollama/ollama/blob/main/docs/api.md
"""

EXAMPLES = r"""
- name: Pull the models of the inventory
  selfhosted_ai.stack.ollama_model:
    name: "{{ item }}"
  loop: "{{ ollama_models }}"

- name: Pull a model from an Ollama behind the reverse proxy
  selfhosted_ai.stack.ollama_model:
    name: qwen2.5:7b
    api_url: https://ai.example.org/ollama
    bearer_token: "{{ ollama_bearer_token }}"
  timeout: 7200

- name: Remove a model no longer wanted
  selfhosted_ai.stack.ollama_model:
    name: llama2:13b
    state: absent
"""

RETURN = r"""
msg:
  description:
    - What was done, in a line a person reads - for a pull the bytes downloaded, the layers and the time it took;
      otherwise the model with its size on disk (C(llama3:latest (3.56 GB) is present)). The ollama role prints it
      for the models it pulled or removed.
  returned: always
  type: str
  sample: "pulled qwen2.5:7b: 4.36 GB in 5 layers in 3m12s"
name:
  description: The model name as Ollama lists it (tag always shown, default host and namespace left out).
  returned: always
  type: str
  sample: llama3:latest
state:
  description: The state asked for.
  returned: always
  type: str
  sample: present
model:
  description:
    - The model as GET /api/tags lists it after the task; null when it is absent, or in check mode when
      it would only be pulled.
  returned: always
  type: dict
  contains:
    name:
      description: Name of the model.
      type: str
      sample: llama3:latest
    model:
      description: Model reference as given by Ollama (same as name on current versions).
      type: str
      sample: llama3:latest
    size:
      description: Size on disk in bytes.
      type: int
      sample: 4661224676
    digest:
      description: Digest of the model manifest.
      type: str
      sample: 365c0bd3c000a25d28ddbf732fe1c6add414de7275464c4e4d1c3b5fcb5d8ad1
    modified_at:
      description: When the model was last pulled or changed, as Ollama reports it.
      type: str
      sample: "2024-05-14T11:17:06.823415-07:00"
    details:
      description: Format, family, parameter size and quantization as Ollama reports them.
      type: dict
      sample: {format: gguf, family: llama, families: [llama], parameter_size: 8.0B, quantization_level: Q4_0}
progress:
  description:
    - Summary of the pull stream, one entry per step and one per layer with its size; empty when nothing
      was pulled (also in check mode).
  returned: always
  type: list
  elements: dict
  sample:
    - status: pulling manifest
    - status: pulling 6a0746a1ec1a
      digest: sha256:6a0746a1ec1aef3e7ec53868f220ff6e389f6f8ef87a01d77c96807de94ca2aa
      total: 4661211424
      completed: 4661211424
    - status: verifying sha256 digest
    - status: writing manifest
    - status: success
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.formatters import bytes_to_human

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._durations import short_duration
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._ollama import (
    ModelName,
    OllamaClient,
    OllamaError,
    ProgressFile,
    model_info,
    ollama_argument_spec,
    validate_api_url,
)


def sized(name, model):
    """The model's name with its size on disk, when Ollama lists one."""
    size = (model or {}).get('size')
    return '%s (%s)' % (name, bytes_to_human(size)) if size else name


def main():
    argument_spec = ollama_argument_spec()
    argument_spec.update(
        name=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        pull_timeout=dict(type='int', default=600),
        progress_dir=dict(type='path'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params

    # Validate everything before the first request.
    try:
        name = ModelName.parse(params['name'])
        validate_api_url(params['api_url'])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    for option in ('timeout', 'pull_timeout'):
        if params[option] <= 0:
            module.fail_json(msg='%s must be a positive number of seconds, not %s.' % (option, params[option]))

    client = OllamaClient(
        api_url=params['api_url'],
        bearer_token=params['bearer_token'],
        timeout=params['timeout'],
        validate_certs=params['validate_certs'],
    )
    wanted = params['state']
    result = dict(changed=False, name=name.short, state=wanted, model=None, progress=[])

    def log_entry(entry):
        text = 'ollama_model: pull %s: %s' % (name.short, entry['status'])
        if entry.get('total'):
            text += ' (%d bytes)' % entry['total']
        module.log(text)

    before = after = None
    pulled = before_model = None
    try:
        current = before_model = client.find_model(name)
        before = after = 'present' if current is not None else 'absent'

        if wanted == 'present' and current is None:
            result['changed'] = True
            after = 'present'
            if not module.check_mode:
                progress_file = None
                if params['progress_dir']:
                    try:
                        progress_file = ProgressFile(params['progress_dir'], name.short)
                    except OSError as exc:
                        module.fail_json(
                            msg='Cannot make the progress directory %s: %s' % (params['progress_dir'], exc)
                        )
                module.log('ollama_model: pulling %s from %s' % (name.short, client.api_url))
                started = time.monotonic()
                try:
                    progress = client.pull(
                        name.short,
                        on_entry=log_entry,
                        read_timeout=params['pull_timeout'],
                        on_event=progress_file.update if progress_file else None,
                    )
                finally:
                    if progress_file:
                        progress_file.remove()
                result['progress'] = progress.entries
                layers = len([e for e in progress.entries if e.get('digest')])
                pulled = '%s in %d layers in %s' % (
                    bytes_to_human(progress.total_bytes),
                    layers,
                    short_duration(time.monotonic() - started),
                )
                module.log(
                    'ollama_model: pulled %s (%d bytes in %d layers)' % (name.short, progress.total_bytes, layers)
                )
                current = client.find_model(name)
                if current is None:
                    module.warn(
                        'Ollama reported the pull of %s as successful, but GET /api/tags does not list it.' % name.short
                    )
        elif wanted == 'absent' and current is not None:
            result['changed'] = True
            after = 'absent'
            if not module.check_mode:
                if not client.delete(current.get('name') or name.short):
                    # Removed by someone else between the listing and the delete.
                    result['changed'] = False
                module.log('ollama_model: deleted %s' % name.short)
            current = None
    except OllamaError as exc:
        # A failed pull stores no model (Ollama keeps downloaded layers only to resume a later pull),
        # and a failed delete removes nothing: report no change.
        result['changed'] = False
        module.fail_json(msg=exc.message, **result)

    result['model'] = model_info(current) if current is not None else None
    if wanted == 'present':
        if not result['changed']:
            result['msg'] = '%s is present' % sized(name.short, current)
        elif module.check_mode:
            result['msg'] = '%s would be pulled' % name.short
        else:
            result['msg'] = 'pulled %s: %s' % (name.short, pulled)
    elif result['changed']:
        result['msg'] = '%s %s' % ('would delete' if module.check_mode else 'deleted', sized(name.short, before_model))
    else:
        result['msg'] = '%s is absent' % name.short
    if module._diff:
        result['diff'] = dict(
            before=dict(name=name.short, state=before),
            after=dict(name=name.short, state=after),
        )
    module.exit_json(**result)


if __name__ == '__main__':
    main()
