# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter image_download_summary (documented in image_download_summary.yml): the line the container pipeline prints
before it pulls an image (roles/container/tasks/image_size.yml)."""

import json


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
        return {'image_download_summary': image_download_summary}
