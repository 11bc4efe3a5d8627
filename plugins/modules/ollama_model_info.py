#!/usr/bin/python
# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ollama_model_info
short_description: List the models of an Ollama server
version_added: 0.1.0
author:
  - selfhosted_ai.stack maintainers (!UNKNOWN)
description:
  - Lists the models present on an Ollama server (C(GET /api/tags)) with their size, digest, modification
    time and details.
extends_documentation_fragment:
  - selfhosted_ai.stack._ollama
options:
  name:
    description:
      - Return only this model (same rules and same name matching as the O(selfhosted_ai.stack.ollama_model#module:name)
        option of M(selfhosted_ai.stack.ollama_model)). RV(models) is empty when it is not present.
      - By default all models are returned.
    type: str
  names:
    description:
      - Models to look for, with the same rules and name matching as O(name); RV(present) lists those Ollama has.
      - One request answers for all of them, so a role can ask once which of its models a run must pull.
    type: list
    elements: str
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
seealso:
  - module: selfhosted_ai.stack.ollama_model
"""

EXAMPLES = r"""
- name: List the models of the local Ollama
  selfhosted_ai.stack.ollama_model_info:
  register: ollama

- name: Show name and size of each
  ansible.builtin.debug:
    msg: "{{ ollama.models | map(attribute='name') | zip(ollama.models | map(attribute='size')) | list }}"

- name: Is a given model there?
  selfhosted_ai.stack.ollama_model_info:
    name: llama3.2
  register: llama

- name: Say so
  ansible.builtin.debug:
    msg: "llama3.2 is {{ 'present' if llama.models else 'absent' }}"

- name: Which of the wanted models are there?
  selfhosted_ai.stack.ollama_model_info:
    names: [llama3.2, qwen2.5:7b]
  register: wanted
- name: Say which are missing
  ansible.builtin.debug:
    msg: "missing: {{ ['llama3.2', 'qwen2.5:7b'] | difference(wanted.present) }}"
"""

RETURN = r"""
present:
  description: The names of O(names) that Ollama has, spelled as given, in the order given.
  returned: when O(names) is given
  type: list
  elements: str
  sample: [llama3.2]
models:
  description: The models, in the order Ollama lists them (most recently modified first).
  returned: always
  type: list
  elements: dict
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
      sample: 3825819519
    digest:
      description: Digest of the model manifest.
      type: str
      sample: fe938a131f40e6f6d40083c9f0f430a515233eb2edaa6d72eb85c50d64f2300e
    modified_at:
      description: When the model was last pulled or changed, as Ollama reports it.
      type: str
      sample: "2023-12-07T09:32:18.757212583-08:00"
    details:
      description: Format, family, parameter size and quantization as Ollama reports them.
      type: dict
      sample: {format: gguf, family: llama, families: null, parameter_size: 7B, quantization_level: Q4_0}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._ollama import (
    ModelName,
    OllamaClient,
    OllamaError,
    model_info,
    ollama_argument_spec,
    validate_api_url,
)


def main():
    argument_spec = ollama_argument_spec()
    argument_spec.update(
        name=dict(type='str'),
        names=dict(type='list', elements='str'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params

    name = None
    try:
        if params['name'] is not None:
            name = ModelName.parse(params['name'])
        wanted = [(given, ModelName.parse(given)) for given in params['names'] or []]
        validate_api_url(params['api_url'])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if params['timeout'] <= 0:
        module.fail_json(msg='timeout must be a positive number of seconds, not %s.' % params['timeout'])

    client = OllamaClient(
        api_url=params['api_url'],
        bearer_token=params['bearer_token'],
        timeout=params['timeout'],
        validate_certs=params['validate_certs'],
    )
    try:
        models = client.list_models()
    except OllamaError as exc:
        module.fail_json(msg=exc.message, models=[])

    result = dict(changed=False)
    if params['names'] is not None:
        result['present'] = [given for given, parsed in wanted if client.find_model(parsed, models=models) is not None]
    if name is not None:
        found = client.find_model(name, models=models)
        models = [found] if found is not None else []
    module.exit_json(models=[model_info(entry) for entry in models], **result)


if __name__ == '__main__':
    main()
