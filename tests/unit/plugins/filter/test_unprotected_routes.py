# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The unprotected_routes filter: which proxy routes reach an app without authentication."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.selfhosted_ai.stack.plugins.filter.unprotected_routes import unprotected_routes

APP = 'app:3000'


def route(**fields):
    return dict({'name': 'app', 'host': 'app.example.org', 'upstreams': [APP]}, **fields)


def test_an_open_route_is_named_with_its_host():
    assert unprotected_routes([route()], [APP]) == ['app (app.example.org)']


@pytest.mark.parametrize(
    'protection',
    [
        {'basic_auth': ['admin']},
        {'forward_auth': {'upstream': 'auth:9091', 'uri': '/verify'}},
        {'bearer_token_secret': 'app/token'},
    ],
    ids=['basic-auth', 'forward-auth', 'bearer-token'],
)
def test_a_protected_route_and_its_sub_routes_are_not_named(protection):
    sub = {'path': '/api/*', 'upstreams': [APP]}
    assert unprotected_routes([route(paths=[sub], **protection)], APP) == []


@pytest.mark.parametrize('auth', [False, 'false', 'no'])
def test_a_sub_route_without_the_routes_authentication_is_named(auth):
    sub = {'path': ['/api/*', '/share/*'], 'upstreams': [APP], 'auth': auth}
    assert unprotected_routes([route(basic_auth=['admin'], paths=[sub])], [APP]) == [
        'app (app.example.org) /api/* /share/*'
    ]


def test_a_sub_route_of_an_open_route_to_another_app_names_only_the_sub_route():
    other = route(
        name='other', host='other.example.org', upstreams=['other:80'], paths=[{'path': '/x/*', 'upstreams': [APP]}]
    )
    assert unprotected_routes([other], [APP]) == ['other (other.example.org) /x/*']


def test_routes_to_other_apps_and_empty_upstreams_are_ignored():
    routes = [route(upstreams=['other:80'], paths=[{'path': '/x/*', 'upstreams': ['other:81']}])]
    assert unprotected_routes(routes, [APP, '']) == []
    assert unprotected_routes([route()], []) == []


def test_the_same_route_of_two_proxy_hosts_is_named_once():
    assert unprotected_routes([route(), route()], [APP]) == ['app (app.example.org)']


@pytest.mark.parametrize('routes', [None, 'app', [['app']]])
def test_routes_that_are_not_a_list_of_mappings_are_refused(routes):
    with pytest.raises(AnsibleFilterError, match='list of routes'):
        unprotected_routes(routes, [APP])
