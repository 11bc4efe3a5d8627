"""The pinned_image test: release versions and digests pass, moving references do not."""

import pytest

from ansible_collections.selfhosted_ai.stack.plugins.test.image import pinned_image

DIGEST = 'sha256:' + '0123456789abcdef' * 4


@pytest.mark.parametrize(
    'image',
    [
        'valkey/valkey:8.1.1',
        'qdrant/qdrant:v1.15.5',
        'neo4j:5.26.12-community',
        'pgvector/pgvector:0.8.0-pg17',
        'docker.io/cloudflare/cloudflared:2025.11.1',
        'docker.io/nvidia/cuda:12.8.1-base-ubuntu24.04',
        'ghcr.io/open-webui/open-webui:v0.6.41',
        'registry.local:5000/team/app:1.2',
        'docker.io/yanwk/comfyui-boot:cu130-slim-20260720',
        'caddy@' + DIGEST,
        'caddy:latest@' + DIGEST,
    ],
)
def test_pinned_references_pass(image):
    assert pinned_image(image)


@pytest.mark.parametrize(
    'image',
    [
        'valkey/valkey',
        'valkey/valkey:latest',
        'n8nio/n8n:next',
        'ghcr.io/open-webui/open-webui:main',
        'postgres:17',
        'postgres:17-bookworm',
        'yanwk/comfyui-boot:cu130-slim',
        'yanwk/comfyui-boot:cu130-slim-2026',
        'yanwk/comfyui-boot:cu130-slim-20261340',
        'yanwk/comfyui-boot:20260720',
        'registry.local:5000/team/app',
        'caddy@sha256:abc',
        'Valkey/valkey:8.1.1',
        'valkey/valkey:8.1.1; rm -rf /',
        '',
        None,
        17,
    ],
)
def test_moving_or_malformed_references_fail(image):
    assert not pinned_image(image)
