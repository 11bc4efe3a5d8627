# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


DOCUMENTATION = r"""
name: unprotected_routes
short_description: The reverse proxy routes that reach an app without authentication
version_added: 0.1.0
author:
  - selfhosted_ai.stack maintainers (@selfhosted-ai)
description:
  - Names the routes of O(_input) that send requests to one of O(upstreams) without authentication, for apps that
    nobody may reach without a login in front (an app without logins of its own, or one whose first visitor becomes
    its owner).
  - A route is protected by C(basic_auth), C(forward_auth) or C(bearer_token_secret). A path sub-route is protected
    by its route's protection unless it sets C(auth=false).
  - Returns C(<route name> (<host>)) for a route, C(<route name> (<host>) <path>) for a path sub-route.
positional: upstreams
options:
  _input:
    description: Routes in the form of the reverse_proxy role's C(reverse_proxy_routes), possibly of several hosts.
    type: list
    elements: dict
    required: true
  upstreams:
    description: The app's C(host:port) upstreams (a list, or one as a string); empty entries are ignored.
    type: raw
    required: true
"""

EXAMPLES = r"""
__flowise_open_routes: "{{ reverse_proxy_routes | selfhosted_ai.stack.unprotected_routes(['flowise:3000']) }}"
# with a route {name: flowise, host: flowise.example.org, upstreams: [flowise:3000]}
# => ['flowise (flowise.example.org)']
"""

RETURN = r"""
_value:
  description: One entry per unprotected route or path sub-route, in the order of O(_input), without duplicates.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

_PROTECTIONS = ('basic_auth', 'forward_auth', 'bearer_token_secret')


def _protected(route):
    return any(route.get(key) for key in _PROTECTIONS)


def _reaches(entry, upstreams):
    return any(upstream in upstreams for upstream in entry.get('upstreams') or [])


def _path_text(path):
    return ' '.join(path) if isinstance(path, (list, tuple)) else str(path)


def unprotected_routes(routes, upstreams):
    if isinstance(upstreams, str):
        upstreams = [upstreams]
    upstreams = {str(upstream) for upstream in upstreams or [] if upstream}
    if not isinstance(routes, (list, tuple)) or not all(isinstance(route, dict) for route in routes):
        raise AnsibleFilterError('unprotected_routes: expects a list of routes (mappings), got %r' % (routes,))
    found = []
    for route in routes:
        label = '%s (%s)' % (route.get('name', '?'), route.get('host', '?'))
        protected = _protected(route)
        if not protected and _reaches(route, upstreams):
            found.append(label)
        for sub in route.get('paths') or []:
            sub_protected = protected and boolean(sub.get('auth', True), strict=False)
            if not sub_protected and _reaches(sub, upstreams):
                found.append('%s %s' % (label, _path_text(sub.get('path', '?'))))
    return list(dict.fromkeys(found))


class FilterModule:
    def filters(self):
        return {'unprotected_routes': unprotected_routes}
