# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters image_registry_ref and image_download_summary (documented in their .yml files): what the container
pipeline prints before it pulls an image (roles/container/tasks/image_size.yml)."""

import json
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


def human_size(size):
    for unit in ('B', 'kB', 'MB', 'GB'):
        if size < 1000 or unit == 'GB':
            return ('%d %s' if unit == 'B' else '%.1f %s') % (size, unit)
        size /= 1000.0
    return None  # not reached


def image_download_summary(result, architecture):
    """One line from a looped `docker manifest inspect --verbose` result: what the pull of item.image downloads."""
    image = (result.get('item') or {}).get('image', '?')
    if result.get('rc') != 0:
        reason = ((result.get('stderr') or result.get('msg') or '').strip().splitlines() or ['no answer'])[-1]
        return '%s: pulling it now; its size is unknown (the registry did not say: %s)' % (image, reason[:200])
    try:
        manifests = json.loads(result.get('stdout') or '')
    except ValueError:
        return '%s: pulling it now; its size is unknown (the manifest is not JSON)' % image
    if isinstance(manifests, dict):
        manifests = [manifests]
    for entry in manifests:
        platform = (entry.get('Descriptor') or {}).get('platform') or {}
        if len(manifests) > 1 and (platform.get('architecture'), platform.get('os', 'linux')) != (
            architecture,
            'linux',
        ):
            continue
        manifest = entry.get('SchemaV2Manifest') or entry.get('OCIManifest') or {}
        layers = manifest.get('layers') or []
        total = sum(int(layer.get('size') or 0) for layer in layers)
        return '%s: pulling %s in %d layers (compressed, for %s; layers the host has are skipped)' % (
            image,
            human_size(total),
            len(layers),
            architecture,
        )
    return '%s: pulling it now; its manifest lists no image for linux/%s' % (image, architecture)


class FilterModule:
    def filters(self):
        return {'image_registry_ref': image_registry_ref, 'image_download_summary': image_download_summary}
