# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Jinja test pinned_image (documented in pinned_image.yml)."""

import re

# name[:tag][@sha256:digest]; the name may carry a registry host with a port (registry:5000/x/y).
_REFERENCE = re.compile(
    r'^(?P<name>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)'
    r'(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?'
    r'(?:@(?P<digest>sha256:[0-9a-f]{64}))?$'
)
# A release version: at least major.minor, optionally a leading v and a suffix (-community, -pg17).
_VERSION_TAG = re.compile(r'^v?[0-9]+(?:\.[0-9]+)+(?:[-+_.][A-Za-z0-9_.-]+)?$')
# A dated build, <variant>-YYYYMMDD: images without release versions (yanwk/comfyui-boot:cu130-slim-20260720)
# tag each build with its date next to the moving variant tag.
_DATED_TAG = re.compile(r'^[a-z0-9][a-z0-9_.-]*-20[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])$')


def pinned_image(value):
    """True for an image reference pinned to a digest or to a release version tag."""
    if not isinstance(value, str):
        return False
    match = _REFERENCE.match(value)
    if match is None:
        return False
    if match.group('digest'):
        return True
    tag = match.group('tag')
    return tag is not None and (_VERSION_TAG.match(tag) is not None or _DATED_TAG.match(tag) is not None)


class TestModule:
    def tests(self):
        return {'pinned_image': pinned_image}
