# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""probe_targets: what a blackbox exporter connects to for each route of a proxy, and the answer it expects.
The lookup over a real inventory is tested in tests/integration/playbooks/test_monitoring_scrape_config.py."""

from __future__ import annotations

import pytest

from ansible_collections.selfhosted_ai.stack.plugins.lookup.probe_targets import probes

PROXY = {
    'container': 'caddy',
    'port': 443,
    'https_port': 443,
    'issuer': 'internal',
    'ca_root': '/data/caddy/pki/authorities/local/root.crt',
    'routes': [
        {'name': 'open', 'host': 'open.example.org', 'path': '/healthz', 'auth': 'none'},
        {'name': 'basic', 'host': 'basic.example.org', 'auth': 'basic'},
        {'name': 'token', 'host': 'token.example.org', 'auth': 'bearer'},
        {'name': 'sso', 'host': 'sso.example.org', 'auth': 'forward'},
    ],
}


def test_beside_the_proxy_the_container_is_probed_with_the_route_named():
    found = list(probes(PROXY, 'edge1', 'edge1'))
    assert [(p['target'], p['hostname'], p['url']) for p in found][:2] == [
        ('https://caddy:443/healthz', 'open.example.org', 'https://open.example.org/healthz'),
        ('https://caddy:443/', 'basic.example.org', 'https://basic.example.org/'),
    ]
    assert {p['remote'] for p in found} == {False}
    assert {p['issuer'] for p in found} == {'internal'}


@pytest.mark.parametrize(
    'https_port, url', [(443, 'https://sso.example.org/'), (8443, 'https://sso.example.org:8443/')]
)
def test_from_another_host_the_route_is_probed_at_its_url(https_port, url):
    found = list(probes(dict(PROXY, https_port=https_port), 'edge1', 'mon1'))
    assert (found[3]['target'], found[3]['hostname'], found[3]['remote']) == (url, '', True)


def test_the_expected_answer_follows_the_routes_authentication():
    found = {p['route']: p['expect'] for p in probes(PROXY, 'edge1', 'edge1')}
    assert found == {'open': 'open', 'basic': '401', 'token': '401', 'sso': 'auth'}
