# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
name: probe_targets
short_description: The reverse proxy's public routes, as a blackbox exporter on this host probes them
version_added: 0.1.0
author:
  - selfhosted_ai.stack maintainers (@selfhosted-ai)
description:
  - The C(reverse_proxy) role declares its routes in C(__reverse_proxy_probes) - name, host, path (the route's
    C(health_uri), else C(/)), how each authenticates
    (C(basic), C(bearer), C(forward) or C(none)) and who issues the certificates (C(internal), Caddy's own CA, or
    C(acme)). This lookup templates that declaration for every host of the C(proxy) group and returns one probe per
    route.
  - On the proxy's own host the probe connects to the Caddy container on the stack network (port 443) and names the
    route in C(hostname) (TLS server name and Host header), so it needs no DNS; from another host it connects to the
    route's URL, as a client does.
  - C(expect) is what a client without credentials must be answered, from the route's authentication - C(open)
    (2xx or 3xx from the app), C(401) (basic authentication or a bearer token, which the proxy checks first) or C(auth)
    (forward authentication - its server's 401 or its redirect to a login page).
options:
  _terms:
    description: Not used.
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: What the blackbox exporter on this host probes
  ansible.builtin.debug:
    msg: "{{ query('selfhosted_ai.stack.probe_targets') }}"
  # [{proxy: edge1, route: n8n, url: https://n8n.example.org/healthz, target: https://caddy:443/healthz, hostname: n8n.example.org,
  #   auth: none, expect: open, issuer: acme, remote: false}, ...]
"""

RETURN = r"""
_raw:
  description:
    - One mapping per route - proxy (the inventory host), route (its name), url (as clients use it), target and
      hostname (what the blackbox exporter connects to and names), auth, expect, issuer, remote (on another host)
      container (the proxy's container) and ca_root (the internal CA's root certificate in that container).
  type: list
  elements: dict
"""

from ansible.plugins.lookup import LookupBase

from ansible_collections.selfhosted_ai.stack.plugins.plugin_utils._role_scope import RoleScope

# What a client without credentials is answered, by the route's authentication.
EXPECT = {'none': 'open', 'basic': '401', 'bearer': '401', 'forward': 'auth'}


def probes(declared, proxy, here):
    """The probes of one proxy host's routes (``declared``: its __reverse_proxy_probes), seen from ``here``."""
    port = int(declared['https_port'])
    suffix = '' if port == 443 else f':{port}'
    local = f'https://{declared["container"]}:{int(declared["port"])}'
    for route in declared['routes']:
        path = route.get('path') or '/'
        url = f'https://{route["host"]}{suffix}{path}'
        yield {
            'proxy': proxy,
            'route': route['name'],
            'url': url,
            'target': local + path if proxy == here else url,
            'hostname': route['host'] if proxy == here else '',
            'auth': route['auth'],
            'expect': EXPECT[route['auth']],
            'issuer': declared['issuer'],
            'remote': proxy != here,
            'container': declared['container'],
            'ca_root': declared['ca_root'],
        }


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        variables = variables or {}
        here = variables.get('inventory_hostname')
        scope = RoleScope(self._loader, self._templar, variables, 'probe_targets')
        found = []
        for proxy in scope.hosts_running('reverse_proxy'):
            found.extend(probes(scope.template('reverse_proxy', 'probes', proxy), proxy, here))
        return found
