# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filters image_registry_ref, image_as_listed and image_download_summary: where the pipeline reads a manifest
before a pull, the name the host's image listing shows, and the line it prints. The real `docker manifest inspect`
runs in tests/integration/playbooks/test_container_pipeline.py.
"""

from __future__ import annotations

import json

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.selfhosted_ai.stack.plugins.filter.image_download_summary import image_download_summary
from ansible_collections.selfhosted_ai.stack.plugins.filter.image_registry_ref import (
    image_as_listed,
    image_registry_ref,
)


@pytest.mark.parametrize(
    ('image', 'mirrors', 'insecure', 'expected'),
    [
        ('valkey/valkey:8.1.1', [], [], ('valkey/valkey:8.1.1', False)),
        ('caddy:2.11.7', ['http://10.0.0.2:5000'], [], ('10.0.0.2:5000/library/caddy:2.11.7', True)),
        (
            'docker.io/ollama/ollama:0.12.6',
            ['https://mirror.example.org'],
            [],
            ('mirror.example.org/ollama/ollama:0.12.6', False),
        ),
        ('mirror.example.org/ollama/ollama:0.12.6', [], [], ('mirror.example.org/ollama/ollama:0.12.6', False)),
        (
            'ghcr.io/open-webui/open-webui:v0.12.4',
            ['http://10.0.0.2:5000'],
            [],
            ('ghcr.io/open-webui/open-webui:v0.12.4', False),
        ),
        ('127.0.0.1:5000/valkey/valkey:8.1.1', [], [], ('127.0.0.1:5000/valkey/valkey:8.1.1', True)),
        ('localhost:5000/x:1.0', [], [], ('localhost:5000/x:1.0', True)),
        ('registry.lan:5000/x:1.0', [], ['registry.lan:5000'], ('registry.lan:5000/x:1.0', True)),
        ('registry.lan:5000/x:1.0', [], [], ('registry.lan:5000/x:1.0', False)),
    ],
)
def test_where_the_manifest_is_read(image, mirrors, insecure, expected):
    ref = image_registry_ref(image, mirrors, insecure)
    assert (ref['image'], ref['ref'], ref['insecure']) == (image, *expected)


def test_not_an_image():
    with pytest.raises(AnsibleFilterError, match='non-empty string'):
        image_registry_ref('')


def manifest(size_per_layer, layers, architecture=None, oci=False):
    entry = {'Ref': 'x', 'Descriptor': {'platform': {'architecture': architecture or 'amd64', 'os': 'linux'}}}
    entry['OCIManifest' if oci else 'SchemaV2Manifest'] = {'layers': [{'size': size_per_layer}] * layers}
    return entry


def result(stdout, rc=0, stderr=''):
    return {'item': {'image': 'n8nio/n8n:2.40.2'}, 'rc': rc, 'stdout': stdout, 'stderr': stderr}


def test_one_platform():
    line = image_download_summary(result(json.dumps(manifest(100_000_000, 3))), 'amd64')
    assert (
        line
        == 'n8nio/n8n:2.40.2: pulling 300.0 MB in 3 layers (compressed, for amd64; layers the host has are skipped)'
    )


def test_the_hosts_platform_of_several():
    listing = [manifest(1_000_000, 2, 'arm64'), manifest(2_500_000_000, 1, 'amd64', oci=True)]
    assert 'pulling 2.5 GB in 1 layers (compressed, for amd64' in image_download_summary(
        result(json.dumps(listing)), 'amd64'
    )
    assert 'pulling 2.0 MB in 2 layers (compressed, for arm64' in image_download_summary(
        result(json.dumps(listing)), 'arm64'
    )
    assert 'lists no image for linux/s390x' in image_download_summary(result(json.dumps(listing)), 's390x')


def test_a_registry_that_does_not_answer():
    line = image_download_summary(result('', rc=1, stderr='warning\nno such manifest: n8nio/n8n:2.40.2\n'), 'amd64')
    assert line == (
        'n8nio/n8n:2.40.2: pulling it now; its size is unknown (the registry did not say: no such manifest: '
        'n8nio/n8n:2.40.2)'
    )
    assert 'not JSON' in image_download_summary(result('<html>'), 'amd64')


@pytest.mark.parametrize(
    ('image', 'listed'),
    [
        ('valkey/valkey:8.1.1', 'valkey/valkey:8.1.1'),
        ('docker.io/valkey/valkey:8.1.1', 'valkey/valkey:8.1.1'),
        ('docker.io/library/caddy:2.11.7', 'caddy:2.11.7'),
        ('index.docker.io/library/caddy:2.11.7', 'caddy:2.11.7'),
        ('library/caddy:2.11.7', 'caddy:2.11.7'),
        ('caddy@sha256:' + '0' * 64, 'caddy@sha256:' + '0' * 64),
        ('127.0.0.1:5000/valkey/valkey:8.1.1', '127.0.0.1:5000/valkey/valkey:8.1.1'),
        ('ghcr.io/library/x:1', 'ghcr.io/library/x:1'),
    ],
)
def test_image_as_listed_drops_docker_hubs_host_and_library(image, listed):
    assert image_as_listed(image) == listed
