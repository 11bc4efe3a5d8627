# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


DOCUMENTATION = r"""
name: tenant_app_instances
short_description: The app instances (container, network, subdomain, limits) of the inventory's tenants
version_added: 0.1.0
author:
  - selfhosted_ai.stack maintainers (@selfhosted-ai)
description:
  - One entry per tenant and app of the C(tenants) list, for the role C(selfhosted_ai.stack.tenant_apps) - the
    container, the tenant's own Docker network, the subdomain of its route, the memory and CPU limits, and the names of
    the tenant's slice it connects to (database, Valkey user and key prefix, bucket), as the tenant module names them.
  - The whole list is checked first, with the tenant module's own rules (ids, apps, quotas, duplicates), then - an app
    this filter cannot run, two instances with the same container name or subdomain (or a subdomain another route of the
    proxy already has), a name pattern without C({id}), a host name that is not one. Each error names the value and the
    rule; nothing is returned in part.
  - In host names the C(_) of a tenant id becomes C(-) (DNS labels have no C(_)); ids have no C(-), so the mapping is
    one-to-one.
positional: default_apps
options:
  _input:
    description: The inventory's C(tenants) list (id, display_name, apps, quotas, state, purge).
    type: list
    elements: dict
    required: true
  default_apps:
    description: Apps of tenants that list none (C(tenants_default_apps)).
    type: list
    elements: str
    default: []
  domain:
    description: The domain of the routes (C({domain}) in O(host_names)).
    type: str
    default: example.org
  container_names:
    description: Container name pattern per app, with C({id}); unlisted apps keep the defaults C(n8n-{id}), C(openwebui-{id}).
    type: dict
    default: {}
  host_names:
    description: Subdomain pattern per app, with C({id}) and C({domain}); defaults C(n8n-{id}.{domain}), C(ai-{id}.{domain}).
    type: dict
    default: {}
  network_name:
    description: The tenant's Docker network, with C({id}).
    type: str
    default: tenant-{id}
  app_memory:
    description: Memory limit of each app container of a tenant without the quota C(app_memory).
    type: str
    default: 1g
  app_cpus:
    description: CPU limit of each app container of a tenant without the quota C(app_cpus).
    type: float
    default: 1.0
  n8n_workers:
    description:
      - Queue-mode workers of the n8n of a tenant without the quota C(n8n_workers), a whole number from 0 to 16; 0 runs
        n8n in regular mode (its executions in its one process).
      - Worker I(k) of a tenant is named after its n8n container, C(<container>-worker-<k>) (V(n8n-acme-worker-1)).
    type: int
    default: 0
  taken_hosts:
    description: Host names other routes of the proxy already serve (C(reverse_proxy_routes)); a tenant route on one is refused.
    type: list
    elements: str
    default: []
  apps_hosts:
    description:
      - The inventory hosts that may run app instances (group C(tenant_apps), else group C(apps)); a tenant whose
        C(apps_host) is not one of them is refused. Unset - no check.
    type: list
    elements: str
  default_apps_host:
    description: The host of the instances of tenants without C(apps_host) (C(tenant_apps_default_host)).
    type: str
    default: ''
"""

EXAMPLES = r"""
instances: "{{ tenants | selectattr('id', 'defined') | list | selfhosted_ai.stack.tenant_app_instances(['n8n', 'openwebui'], domain='ai.example.org') }}"
# => [{'tenant': 'acme', 'app': 'n8n', 'container': 'n8n-acme', 'network': 'tenant-acme', 'host': 'n8n-acme.ai.example.org',
#      'port': 5678, 'upstream': 'n8n-acme:5678', 'memory': '1g', 'cpus': 1.0, 'database': 'n8n_acme', ...}, ...]
"""

RETURN = r"""
_value:
  description:
    - One mapping per tenant and app, in the order of the list - tenant, app, state, purge, container, network, host,
      port, upstream, volume, memory, cpus, workers (the names of the n8n queue-mode workers, empty for regular mode and
      other apps), apps_host (the inventory host that runs it), database, db_user, valkey_user, key_prefix, bucket, approle. No secret.
  type: list
  elements: dict
"""

import re

from ansible.errors import AnsibleFilterError

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_common import (
    TenantInputError,
    check_n8n_workers,
    memory_size_bytes,
    validate_tenants,
)

# The apps a tenant can have an instance of: the port they serve on, their default names.
SUPPORTED_APPS = {
    'n8n': {'port': 5678, 'container': 'n8n-{id}', 'host': 'n8n-{id}.{domain}'},
    'openwebui': {'port': 8080, 'container': 'openwebui-{id}', 'host': 'ai-{id}.{domain}'},
}
_CONTAINER_NAME_RE = re.compile(r'[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}', re.ASCII)
_HOST_NAME_RE = re.compile(
    r'(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?', re.ASCII
)


def _fail(message):
    raise AnsibleFilterError('tenant_app_instances: %s' % message)


def _patterns(given, key, option):
    if not isinstance(given, dict):
        _fail('%s must be a mapping app -> pattern, got %r' % (option, given))
    unknown = sorted(set(given) - set(SUPPORTED_APPS))
    if unknown:
        _fail('%s names app(s) %s; supported: %s' % (option, ', '.join(map(repr, unknown)), ', '.join(SUPPORTED_APPS)))
    patterns = {app: given.get(app, spec[key]) for app, spec in SUPPORTED_APPS.items()}
    for app, pattern in patterns.items():
        if not isinstance(pattern, str) or '{id}' not in pattern:
            _fail('%s.%s is %r; it must contain {id}, so that every tenant gets its own name' % (option, app, pattern))
    return patterns


def tenant_app_instances(
    tenants,
    default_apps=None,
    domain='example.org',
    container_names=None,
    host_names=None,
    network_name='tenant-{id}',
    app_memory='1g',
    app_cpus=1.0,
    taken_hosts=None,
    n8n_workers=0,
    apps_hosts=None,
    default_apps_host='',
):
    try:
        validated = validate_tenants(list(tenants) if isinstance(tenants, (list, tuple)) else tenants, default_apps)
        memory_size_bytes(app_memory)
        n8n_workers = check_n8n_workers(n8n_workers, 'n8n_workers (tenant_apps_n8n_workers)')
    except TenantInputError as exc:
        _fail(str(exc))
    try:
        app_cpus = float(app_cpus)
    except (TypeError, ValueError):
        _fail('app_cpus must be a number of CPUs, got %r' % (app_cpus,))
    containers = _patterns(container_names or {}, 'container', 'container_names')
    hosts = _patterns(host_names or {}, 'host', 'host_names')
    if not isinstance(network_name, str) or '{id}' not in network_name:
        _fail('network_name is %r; it must contain {id}, so that every tenant gets its own network' % (network_name,))
    taken = {str(host).lower(): 'another route of the proxy (reverse_proxy_routes)' for host in taken_hosts or []}
    used_containers = {}
    instances = []
    for tenant in validated:
        apps_host = tenant.apps_host or default_apps_host
        if tenant.present and tenant.apps and apps_hosts is not None and apps_host not in apps_hosts:
            _fail(
                'tenant %s: its apps would run on %r, which is not a host for tenant apps (%s); set its apps_host to '
                'one of them' % (tenant.id, apps_host, ', '.join(apps_hosts) or 'the group is empty')
            )
        for app in tenant.apps:
            where = 'tenant %s, app %s' % (tenant.id, app)
            if app not in SUPPORTED_APPS:
                _fail(
                    "%s: no app instance can run for %r; supported: %s (list only those in the tenant's apps, or in "
                    'tenants_default_apps)' % (where, app, ', '.join(SUPPORTED_APPS))
                )
            container = containers[app].replace('{id}', tenant.id)
            host = hosts[app].replace('{id}', tenant.id.replace('_', '-')).replace('{domain}', domain).lower()
            network = network_name.replace('{id}', tenant.id)
            if not _CONTAINER_NAME_RE.fullmatch(container):
                _fail('%s: container name %r is not a Docker name (letters, digits, _ . -)' % (where, container))
            if not _CONTAINER_NAME_RE.fullmatch(network):
                _fail('%s: network name %r is not a Docker name (letters, digits, _ . -)' % (where, network))
            if not _HOST_NAME_RE.fullmatch(host):
                _fail(
                    '%s: subdomain %r is not a host name (check host_names and the domain %r)' % (where, host, domain)
                )
            if host in taken:
                _fail(
                    '%s: subdomain %r is taken by %s; every route needs its own host name' % (where, host, taken[host])
                )
            workers = []
            if app == 'n8n':
                count = tenant.quotas.get('n8n_workers', n8n_workers)
                workers = ['%s-worker-%d' % (container, k) for k in range(1, count + 1)]
            for name in workers:
                if not _CONTAINER_NAME_RE.fullmatch(name):
                    _fail(
                        '%s: worker name %r is not a Docker name (at most 128 letters, digits, _ . -)' % (where, name)
                    )
            for name in [container] + workers:
                if name in used_containers:
                    _fail('%s: container name %r is taken by %s' % (where, name, used_containers[name]))
                used_containers[name] = where
            taken[host] = where
            port = SUPPORTED_APPS[app]['port']
            instances.append(
                {
                    'tenant': tenant.id,
                    'app': app,
                    'state': tenant.state,
                    'purge': tenant.purge,
                    'container': container,
                    'network': network,
                    'host': host,
                    'port': port,
                    'upstream': '%s:%d' % (container, port),
                    'volume': '%s_data' % container.replace('-', '_'),
                    'memory': tenant.quotas.get('app_memory', str(app_memory).strip().lower()),
                    'cpus': tenant.quotas.get('app_cpus', app_cpus),
                    'workers': workers,
                    'apps_host': apps_host,
                    # The tenant's slice, as the tenant module names it (docs/tenants.md).
                    'database': '%s_%s' % (app, tenant.id),
                    'db_user': tenant.pg_role,
                    'valkey_user': tenant.valkey_user,
                    'key_prefix': tenant.key_prefix,
                    'bucket': tenant.bucket,
                    'approle': tenant.vault_name,
                }
            )
    return instances


class FilterModule:
    def filters(self):
        return {'tenant_app_instances': tenant_app_instances}
