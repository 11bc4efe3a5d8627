# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
name: container_plan
short_description: What the container pipeline does with one container definition in this run
version_added: 0.1.0
author:
  - selfhosted_ai.stack maintainers (@selfhosted-ai)
description:
  - Used by the container role (roles/container/tasks/main.yml), one task per container - on a rerun that leaves the
    container alone, the only task of the pipeline that does any work.
  - Checks the definition (a Docker name, an image pinned to a release version or a digest, a known wait, a list of
    volumes) and fails with a message that names what is wrong, before anything is changed.
  - Fingerprints it (a SHA-256 of the pipeline's revision, the service, the definition and its secret environment,
    the value of the container's fingerprint label) and compares it with the host's container as the host listing
    saw it (roles/container/tasks/host_listing.yml).
  - Returns a mapping of the container's name to its plan, for a combine into the fact container_results. The plan
    holds the fingerprint, whether the container goes through docker_container (C(run_needed)) and whether the
    converge tasks run at all (C(converge_needed)), and the pipeline's outcome for a container left alone
    (C(changed), C(started), C(running), C(not_started_reason), C(ready)); converge.yml records the outcome of the
    others.
  - The secret environment is an input of the hash only; the plan holds no value of it.
positional: service
options:
  _input:
    description: The container definition (container_definition).
    type: dict
    required: true
  service:
    description: The service the container belongs to (container_service).
    type: str
    required: true
  secret_env:
    description: The secret environment (container_secret_env).
    type: dict
    default: {}
  volumes:
    description: Named volumes the container needs (container_volumes).
    type: list
    elements: str
    default: []
  not_started_reason:
    description: Why the container is not started on this host; empty when it is.
    type: str
    default: ""
  wait:
    description: How the pipeline tells the service is ready (container_wait).
    type: str
    default: none
  wait_exec:
    description: The command of C(wait=exec).
    type: list
    elements: str
    default: []
  known_containers:
    description: The host's containers as the listing saw them (container_known_containers), name -> fingerprint,
      running, healthy, networks.
    type: dict
    default: {}
  known_volumes:
    description: The host's volume names (container_known_volumes).
    type: list
    elements: str
    default: []
  skip_unchanged:
    description: Leave a running container whose fingerprint label equals the definition's alone.
    type: bool
    default: true
  config_changed:
    description: A configuration the container reads changed in this run (the wait runs).
    type: bool
    default: false
  check_mode:
    description: The run is in check mode.
    type: bool
    default: false
  state:
    description: V(started) runs the container (one that is not running goes through docker_container), V(present)
      creates it stopped (the batch entry point's C(container_batch_state)).
    type: str
    default: started
    choices: [started, present]
  revision:
    description: The pipeline's revision (roles/container/vars/main.yml), part of the fingerprint.
    type: int
    default: 1
  checked:
    description: The definitions of containers not started on this host that Docker has already checked in check
      mode (the cached fact container_checked_definitions), name -> fingerprint. Such a definition whose fingerprint
      is there is not checked again; the converge tasks still run, to say why it is not started.
    type: dict
    default: {}
"""

EXAMPLES = r"""
container_results: >-
  {{ container_results | default({}) | combine(container_definition | selfhosted_ai.stack.container_plan(
       container_service, secret_env=container_secret_env | default({}), known_containers=container_known_containers)) }}
"""

RETURN = r"""
_value:
  description: The container's name mapped to its plan, with the keys fingerprint, run_needed, converge_needed, changed,
    started, running, not_started_reason and ready.
  type: dict
"""

import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.filter.core import get_hash, to_json

from ansible_collections.selfhosted_ai.stack.plugins.test.image import pinned_image

DOCKER_NAME = re.compile(r'[a-zA-Z0-9][a-zA-Z0-9_.-]*\Z')
WAITS = ('healthy', 'exec', 'none')


def container_fingerprint(definition, service, secret_env=None, revision=1):
    """The value of the fingerprint label."""
    document = {'revision': revision, 'service': service, 'definition': definition, 'secrets': secret_env or {}}
    return get_hash(to_json(document, sort_keys=True), 'sha256')


def _check(definition, service, volumes, wait, wait_exec):
    name = definition.get('name') if isinstance(definition, dict) else None
    image = definition.get('image') if isinstance(definition, dict) else None
    if (
        not isinstance(name, str)
        or not DOCKER_NAME.match(name)
        or not pinned_image(image)
        or wait not in WAITS
        or (wait == 'exec' and not wait_exec)
        or isinstance(volumes, str)
        or not isinstance(volumes, (list, tuple))
    ):
        raise AnsibleFilterError(
            "%s: the container needs a Docker name (got '%s') and an image pinned to a release version or a digest "
            "(got '%s'; set the role's *_image variable to name:X.Y.Z or name@sha256:...); container_wait is healthy, "
            'exec (with container_wait_exec) or none; container_volumes a list of volume names.'
            % (service, name or '', image or '')
        )
    return name


def container_plan(
    definition,
    service,
    secret_env=None,
    volumes=(),
    not_started_reason='',
    wait='none',
    wait_exec=(),
    known_containers=None,
    known_volumes=(),
    skip_unchanged=True,
    config_changed=False,
    check_mode=False,
    state='started',
    revision=1,
    checked=None,
):
    name = _check(definition, service, volumes, wait, wait_exec)
    skip_unchanged, config_changed, check_mode = (
        boolean(flag) for flag in (skip_unchanged, config_changed, check_mode)
    )
    fingerprint = container_fingerprint(definition, service, secret_env, revision)
    known = (known_containers or {}).get(name) or {}
    started_here = not not_started_reason
    if started_here:
        run_needed = (
            not skip_unchanged
            or known.get('fingerprint', '') != fingerprint
            or (state == 'started' and not known.get('running', False))
        )
    else:
        # Docker checks the definition in check mode; once per fingerprint is enough.
        run_needed = not skip_unchanged or (checked or {}).get(name) != fingerprint
    missing_volumes = [volume for volume in (volumes if started_here else []) if volume not in (known_volumes or [])]
    return {
        name: {
            'fingerprint': fingerprint,
            'run_needed': run_needed,
            'converge_needed': run_needed or bool(missing_volumes),
            # The outcome of a container left alone (converge.yml records the others').
            'changed': False,
            'started': started_here and not check_mode,
            'running': started_here,
            'not_started_reason': not_started_reason,
            'ready': not config_changed and bool(known.get('healthy', False)),
        }
    }


class FilterModule:
    def filters(self):
        return {'container_plan': container_plan}
