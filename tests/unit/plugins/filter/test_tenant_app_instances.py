# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tenant_app_instances filter: the app instances of the tenants, and the bad input it refuses."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.selfhosted_ai.stack.plugins.filter.tenant_app_instances import tenant_app_instances


def instances(tenants, **options):
    return tenant_app_instances(tenants, ['n8n', 'openwebui'], domain='ai.example.org', **options)


def test_each_tenant_gets_each_app_on_its_own_network_and_subdomain():
    result = instances([{'id': 'acme'}, {'id': 'big_corp', 'apps': ['openwebui']}])
    assert [(i['tenant'], i['app'], i['container'], i['network'], i['host'], i['upstream']) for i in result] == [
        ('acme', 'n8n', 'n8n-acme', 'tenant-acme', 'n8n-acme.ai.example.org', 'n8n-acme:5678'),
        ('acme', 'openwebui', 'openwebui-acme', 'tenant-acme', 'ai-acme.ai.example.org', 'openwebui-acme:8080'),
        # DNS labels have no '_': big_corp's subdomain has '-'.
        (
            'big_corp',
            'openwebui',
            'openwebui-big_corp',
            'tenant-big_corp',
            'ai-big-corp.ai.example.org',
            'openwebui-big_corp:8080',
        ),
    ]


def test_the_slice_is_named_as_the_tenant_module_names_it():
    (n8n,) = instances([{'id': 'acme', 'apps': ['n8n']}])
    assert {k: n8n[k] for k in ('database', 'db_user', 'valkey_user', 'key_prefix', 'bucket', 'approle')} == {
        'database': 'n8n_acme',
        'db_user': 'tenant_acme',
        'valkey_user': 'tenant_acme',
        'key_prefix': 'acme:',
        'bucket': 'tenant-acme',
        'approle': 'tenant-acme',
    }


def test_limits_come_from_the_quotas_or_the_defaults():
    result = instances(
        [{'id': 'acme', 'quotas': {'app_memory': '2G', 'app_cpus': '0.5'}}, {'id': 'beta'}], app_memory='768m'
    )
    assert [(i['memory'], i['cpus']) for i in result] == [('2g', 0.5), ('2g', 0.5), ('768m', 1.0), ('768m', 1.0)]


def test_n8n_workers_come_from_the_quota_or_the_default_and_are_named_after_the_n8n_container():
    result = instances(
        [{'id': 'acme', 'quotas': {'n8n_workers': 2}}, {'id': 'beta'}, {'id': 'gamma', 'quotas': {'n8n_workers': '0'}}],
        n8n_workers=1,
        container_names={'n8n': 'flows-{id}'},
    )
    assert [(i['container'], i['workers']) for i in result] == [
        ('flows-acme', ['flows-acme-worker-1', 'flows-acme-worker-2']),
        ('openwebui-acme', []),
        ('flows-beta', ['flows-beta-worker-1']),
        ('openwebui-beta', []),
        # 0: regular mode, whatever the default.
        ('flows-gamma', []),
        ('openwebui-gamma', []),
    ]
    assert all(i['workers'] == [] for i in instances([{'id': 'acme'}]))


def test_absent_and_purge_pass_through():
    (n8n,) = instances([{'id': 'acme', 'apps': ['n8n'], 'state': 'absent', 'purge': True}])
    assert (n8n['state'], n8n['purge']) == ('absent', True)


def test_names_are_configurable():
    (n8n,) = instances(
        [{'id': 'acme', 'apps': ['n8n']}],
        container_names={'n8n': 'flows-{id}'},
        host_names={'n8n': 'flows.{id}.{domain}'},
        network_name='net_{id}',
    )
    assert (n8n['container'], n8n['host'], n8n['network']) == ('flows-acme', 'flows.acme.ai.example.org', 'net_acme')


@pytest.mark.parametrize(
    ('tenants', 'options', 'message'),
    [
        ([{'id': 'acme', 'apps': ['flowise']}], {}, "tenant acme, app flowise: no app instance can run for 'flowise'"),
        ([{'id': 'acme', 'apps': ['N8N']}], {}, "app name 'N8N' is refused"),
        (
            [{'id': 'acme'}, {'id': 'beta'}],
            {'host_names': {'openwebui': 'ai.{domain}/{id}'}},
            "subdomain 'ai.ai.example.org/acme' is not a host name",
        ),
        (
            [{'id': 'acme'}],
            {'host_names': {'openwebui': 'n8n-{id}.{domain}'}},
            "tenant acme, app openwebui: subdomain 'n8n-acme.ai.example.org' is taken by tenant acme, app n8n",
        ),
        (
            [{'id': 'acme', 'apps': ['openwebui']}],
            {'taken_hosts': ['AI-acme.ai.example.org']},
            "subdomain 'ai-acme.ai.example.org' is taken by another route of the proxy",
        ),
        (
            [{'id': 'acme'}],
            {'container_names': {'n8n': 'app-{id}', 'openwebui': 'app-{id}'}},
            "container name 'app-acme' is taken",
        ),
        ([{'id': 'acme'}], {'host_names': {'n8n': 'n8n.{domain}'}}, 'host_names.n8n is'),
        ([{'id': 'acme'}], {'network_name': 'tenants'}, "network_name is 'tenants'; it must contain {id}"),
        ([{'id': 'acme'}], {'host_names': {'flowise': 'f-{id}.{domain}'}}, "host_names names app(s) 'flowise'"),
        ([{'id': 'acme', 'quotas': {'app_memory': 'lots'}}], {}, "tenant acme: quota app_memory: 'lots' is not a size"),
        ([{'id': 'acme', 'quotas': {'app_memory': '1.5g'}}], {}, "quota app_memory: '1.5g' is not a size"),
        ([{'id': 'acme', 'quotas': {'app_memory': '1m'}}], {}, "quota app_memory: '1m' is below the minimum"),
        ([{'id': 'acme', 'quotas': {'app_memory': True}}], {}, 'quota app_memory: True is not a size'),
        (
            [{'id': 'acme', 'quotas': {'app_cpus': 'two'}}],
            {},
            "quota app_cpus must be a number of CPUs from 0.01 to 1024, got 'two'",
        ),
        ([{'id': 'acme', 'quotas': {'app_cpus': 0}}], {}, 'quota app_cpus must be a number of CPUs'),
        ([{'id': 'acme'}], {'app_memory': '12 parsecs'}, "'12 parsecs' is not a size"),
        (
            [{'id': 'acme', 'quotas': {'n8n_workers': -1}}],
            {},
            'tenant acme: quota n8n_workers must be a whole number from 0 (n8n in regular mode) to 16, got -1',
        ),
        ([{'id': 'acme', 'quotas': {'n8n_workers': 17}}], {}, 'quota n8n_workers must be a whole number from 0'),
        ([{'id': 'acme', 'quotas': {'n8n_workers': 1.5}}], {}, 'quota n8n_workers must be a whole number from 0'),
        ([{'id': 'acme', 'quotas': {'n8n_workers': True}}], {}, 'quota n8n_workers must be a whole number from 0'),
        (
            [{'id': 'acme'}],
            {'n8n_workers': 'two'},
            "n8n_workers (tenant_apps_n8n_workers) must be a whole number from 0 (n8n in regular mode) to 16, got 'two'",
        ),
        (
            [{'id': 'acme', 'quotas': {'n8n_workers': 1}}],
            {'container_names': {'openwebui': 'n8n-{id}-worker-1'}},
            "tenant acme, app openwebui: container name 'n8n-acme-worker-1' is taken by tenant acme, app n8n",
        ),
        ([{'id': 'acme'}, {'id': 'acme'}], {}, "tenant id 'acme' appears twice"),
        ([{'id': 'Acme'}], {}, "tenant id 'Acme' is refused"),
    ],
    ids=[
        'unsupported-app',
        'bad-app-name',
        'not-a-host-name',
        'duplicate-subdomain-within-a-tenant',
        'subdomain-of-another-route',
        'duplicate-container-name',
        'pattern-without-id',
        'network-without-id',
        'pattern-for-an-unknown-app',
        'memory-not-a-size',
        'memory-fraction',
        'memory-too-small',
        'memory-boolean',
        'cpus-not-a-number',
        'cpus-zero',
        'default-memory-not-a-size',
        'workers-negative',
        'workers-above-the-bound',
        'workers-fraction',
        'workers-boolean',
        'default-workers-not-a-number',
        'worker-name-taken',
        'duplicate-tenant',
        'bad-tenant-id',
    ],
)
def test_bad_input_is_refused_with_a_message_naming_it(tenants, options, message):
    with pytest.raises(AnsibleFilterError) as error:
        instances(tenants, **options)
    assert message in str(error.value)


def test_duplicate_subdomain_across_tenants_is_refused():
    # beta's Open WebUI and aibeta's n8n would both be aibeta.ai.example.org.
    with pytest.raises(
        AnsibleFilterError,
        match="tenant aibeta, app n8n: subdomain 'aibeta.ai.example.org' is taken by tenant beta, app openwebui",
    ):
        instances(
            [{'id': 'beta'}, {'id': 'aibeta'}], host_names={'n8n': '{id}.{domain}', 'openwebui': 'ai{id}.{domain}'}
        )


def test_each_tenant_runs_on_its_apps_host_or_the_default_one():
    result = instances(
        [{'id': 'acme', 'apps_host': 'app2'}, {'id': 'beta', 'apps': ['n8n']}],
        apps_hosts=['app1', 'app2'],
        default_apps_host='app1',
    )
    assert [(i['container'], i['apps_host']) for i in result] == [
        ('n8n-acme', 'app2'),
        ('openwebui-acme', 'app2'),
        ('n8n-beta', 'app1'),
    ]


@pytest.mark.parametrize(
    ('tenants', 'options', 'message'),
    [
        (
            [{'id': 'acme', 'apps_host': 'db1'}],
            {'apps_hosts': ['app1'], 'default_apps_host': 'app1'},
            "tenant acme: its apps would run on 'db1', which is not a host for tenant apps (app1)",
        ),
        # No apps host at all: the default is empty.
        ([{'id': 'acme'}], {'apps_hosts': [], 'default_apps_host': ''}, "would run on '', which is not a host for"),
        ([{'id': 'acme', 'apps_host': 'app 1'}], {}, 'tenant acme: apps_host must be the name of an inventory host'),
        ([{'id': 'acme', 'apps_host': ['app1']}], {}, 'tenant acme: apps_host must be the name of an inventory host'),
    ],
    ids=['host-outside-group-apps', 'no-apps-host', 'host-name-with-a-space', 'host-name-not-a-string'],
)
def test_a_placement_outside_the_tenant_apps_hosts_is_refused(tenants, options, message):
    with pytest.raises(AnsibleFilterError) as error:
        instances(tenants, **options)
    assert message in str(error.value)


def test_an_absent_tenant_needs_no_apps_host_in_the_group():
    # Its containers are removed wherever they run; the host it ran on may have left the inventory.
    (n8n,) = instances([{'id': 'acme', 'apps': ['n8n'], 'state': 'absent', 'apps_host': 'gone1'}], apps_hosts=['app1'])
    assert (n8n['state'], n8n['apps_host']) == ('absent', 'gone1')
