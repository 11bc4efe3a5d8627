# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters image_registry_ref and image_as_listed (documented in image_registry_ref.yml and image_as_listed.yml): where
the container pipeline reads an image's manifest before it pulls the image (roles/container/tasks/image_size.yml),
and the image's name as the host's image listing shows it (roles/container/vars/main.yml)."""

import re
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

DOCKER_HUB = ('docker.io', 'index.docker.io', 'registry-1.docker.io')
LOOPBACK = ('localhost', '127.0.0.1', '[::1]')


def split_registry(image):
    """(registry host or '' for Docker Hub, repository path with library/ for official images, tag or digest part)."""
    if not isinstance(image, str) or not image:
        raise AnsibleFilterError('image_registry_ref: an image reference is a non-empty string, got %r' % (image,))
    first, sep, rest = image.partition('/')
    if sep and ('.' in first or ':' in first or first == 'localhost'):
        registry, path = first, rest
    else:
        registry, path = '', image
    if registry in DOCKER_HUB:
        registry = ''
    if not registry and '/' not in path:
        path = 'library/' + path
    return registry, path


def image_registry_ref(image, mirrors=None, insecure_registries=None):
    """Where `docker manifest inspect` reads the image's manifest: the first Docker Hub mirror for a Docker Hub image
    (the daemon pulls through it too), the image's own registry otherwise; insecure for a plain-HTTP mirror, a
    loopback registry or one of docker_insecure_registries."""
    registry, path = split_registry(image)
    insecure_registries = list(insecure_registries or [])
    if not registry and mirrors:
        mirror = urlsplit(mirrors[0] if '://' in mirrors[0] else 'https://' + mirrors[0])
        return {'image': image, 'ref': '%s/%s' % (mirror.netloc, path), 'insecure': mirror.scheme == 'http'}
    ref = '%s/%s' % (registry, path) if registry else image
    host = re.sub(r':[0-9]+$', '', registry)
    insecure = bool(registry) and (host in LOOPBACK or registry in insecure_registries)
    return {'image': image, 'ref': ref, 'insecure': insecure}


def image_as_listed(image):
    """The reference as `docker images` (and docker_host_info) lists it: Docker Hub's host and library/ dropped."""
    registry, path = split_registry(image)
    if registry:
        return '%s/%s' % (registry, path)
    return path[len('library/') :] if path.startswith('library/') else path


class FilterModule:
    def filters(self):
        return {'image_registry_ref': image_registry_ref, 'image_as_listed': image_as_listed}
