# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The harness's local registry and an image it serves, for tests that run real containers on this machine's Docker
engine (fixture ``local_valkey_image``)."""

from __future__ import annotations

import subprocess

import pytest
from harness import harness


@pytest.fixture
def local_valkey_image():
    """The local registry's Valkey image, present on this engine (`make images` builds it), with the registry up."""
    image = f'{harness.REGISTRY_PUSH_HOST}/valkey/valkey:8.1.1'
    if subprocess.run(['docker', 'image', 'inspect', image], capture_output=True, check=False).returncode != 0:
        pytest.skip(f'{image} is not on this Docker engine (make images builds it)')
    # the registry runs as a plain process: after a reboot the image is there and the registry is not
    harness.ensure_registry()
    return image
