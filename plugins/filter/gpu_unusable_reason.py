# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


DOCUMENTATION = r"""
name: gpu_unusable_reason
short_description: Why a container cannot use this host's NVIDIA GPUs, or nothing when it can
version_added: 0.1.0
author:
  - selfhosted_ai.stack maintainers (@selfhosted-ai)
description:
  - A container gets NVIDIA GPUs when C(gpu_facts) finds one whose driver answers and Docker has the C(nvidia)
    runtime (the nvidia_container_toolkit role). Returns the empty string then, else the first reason that fails.
positional: runtimes
options:
  _input:
    description: The C(gpu) facts of the C(selfhosted_ai.stack.gpu_facts) module (C(ansible_facts.gpu)).
    type: dict
    required: true
  runtimes:
    description: The Docker engine's runtimes (C(host_info.Runtimes) of community.docker.docker_host_info).
    type: dict
    required: true
"""

EXAMPLES = r"""
ollama_gpu_reason: "{{ ansible_facts.gpu | selfhosted_ai.stack.gpu_unusable_reason(docker_host.host_info.Runtimes | default({})) }}"
# => '' on a GPU host with the toolkit, 'no NVIDIA GPU found' elsewhere
"""

RETURN = r"""
_value:
  description: Empty when the GPUs can be used, else why not.
  type: str
"""


def gpu_unusable_reason(gpu, runtimes):
    gpu = gpu or {}
    if not gpu.get('present'):
        return 'no NVIDIA GPU found'
    if gpu.get('status') != 'ok':
        return 'the NVIDIA driver does not answer (status %s)' % gpu.get('status')
    if 'nvidia' not in (runtimes or {}):
        return 'Docker has no nvidia runtime (run the nvidia_container_toolkit role)'
    return ''


class FilterModule:
    def filters(self):
        return {'gpu_unusable_reason': gpu_unusable_reason}
