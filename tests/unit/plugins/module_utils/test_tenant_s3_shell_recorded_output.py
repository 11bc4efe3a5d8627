# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SeaweedShellAdmin and SeaweedShellBatchAdmin against RECORDED `weed shell` output (SeaweedFS
4.48, `s3.configure` then `fs.cat /etc/iam/policies.json`); no server runs here. The same reads
against a live SeaweedFS, compared with the IAM API's, are in
tests/integration/tenants/test_tenant_bulk_read.py; the batch writes run live in
tests/integration/tenants/test_tenant_s3_shell_and_valkey_file.py and the ladder."""

from __future__ import annotations

import json

import pytest

from ansible_collections.selfhosted_ai.stack.plugins.module_utils import _tenant_s3
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_common import BackendError, validate_tenants

SECRET = 'DI7yRP48iKzFdqPMJmnjTePSeBLRHewZAOnXk3nm'


def _identity(name, keys, actions, static=False):
    return {
        'name': name,
        'credentials': [{'accessKey': k, 'secretKey': SECRET, 'status': s} for k, s in keys],
        'actions': actions,
        'account': None,
        'disabled': False,
        'serviceAccountIds': [],
        'policyNames': [],
        'isStatic': static,
        'tags': [],
    }


def _policy(bucket):
    # as the IAM API stores it: Action as a string
    return {
        'Version': '2012-10-17',
        'Statement': [
            {
                'Effect': 'Allow',
                'Action': 's3:*',
                'Resource': ['arn:aws:s3:::%s' % bucket, 'arn:aws:s3:::%s/*' % bucket],
            }
        ],
    }


CONFIGURE = {
    'identities': [
        _identity('tenant-acme', [('AKIAACME', 'Active')], ['Admin:tenant-acme']),
        _identity(
            'tenant-two-keys',
            [('AKIAOLD', 'Active'), ('AKIAINACTIVE', 'Inactive'), ('AKIANEW', 'Active')],
            ['Admin:tenant-two-keys'],
        ),
        _identity('tenant-nopolicy', [], []),
        _identity('tenant-widened', [('AKIAWIDE', 'Active')], ['Admin:tenant-widened', 'Admin']),
        _identity('tenant-other-bucket', [('AKIAOTHER', 'Active')], ['Admin:tenant-other-bucket', 'Read:tenant-acme']),
        _identity('admin', [('ADMINKEY', '')], ['Admin', 'Read', 'Write', 'List', 'Tagging'], static=True),
        _identity('langfuse', [('LANGKEY', '')], ['Read:langfuse'], static=True),
    ],
    'accounts': [],
    'serviceAccounts': [],
    'policies': [],
    'groups': [],
}
POLICIES = {
    'policies': {},
    'inlinePolicies': dict(
        (u, {'tenant-bucket': _policy(u)})
        for u in ('tenant-acme', 'tenant-two-keys', 'tenant-widened', 'tenant-other-bucket')
    ),
}


def _recorded(configure=None, policies=None):
    # weed shell prints each document indented with two spaces after the colon
    configure = CONFIGURE if configure is None else configure
    policies = POLICIES if policies is None else policies
    return json.dumps(configure, indent=2).replace('": ', '":  ') + '\n' + json.dumps(policies, indent=2) + '\n'


def _admin(stdout, stderr='', rc=0):
    calls = []

    def runner(script):
        calls.append(script)
        return stdout, stderr, rc

    admin = _tenant_s3.SeaweedShellAdmin(
        client=None, policy_name='tenant-bucket', command=['weed', 'shell'], runner=runner
    )
    return admin, calls


def test_recorded_output_gives_the_iam_reads_shape():
    admin, calls = _admin(_recorded())
    found = admin.list_identities()
    assert calls == ['s3.configure\nfs.cat /etc/iam/policies.json\n']
    assert sorted(found) == [
        'tenant-acme',
        'tenant-nopolicy',
        'tenant-other-bucket',
        'tenant-two-keys',
        'tenant-widened',
    ]
    want = _tenant_s3.normalise_policy(_tenant_s3.bucket_policy('tenant-acme'))
    assert found['tenant-acme'] == {'access_keys': ['AKIAACME'], 'policy': want}
    assert found['tenant-two-keys']['access_keys'] == ['AKIANEW', 'AKIAOLD']  # sorted, inactive left out
    assert found['tenant-nopolicy'] == {'access_keys': [], 'policy': None}


def test_actions_beyond_the_bucket_are_drift():
    found = _admin(_recorded())[0].list_identities()
    assert found['tenant-widened']['policy'] == {
        'drifted': "actions ['Admin', 'Admin:tenant-widened'] exceed the policy"
    }
    assert 'drifted' in found['tenant-other-bucket']['policy']
    assert 'drifted' not in found['tenant-acme']['policy'][0]


def test_only_limits_the_result_and_no_secret_is_kept():
    found = _admin(_recorded())[0].list_identities(only={'tenant-acme', 'tenant-absent'})
    assert list(found) == ['tenant-acme']
    assert SECRET not in repr(found)


def test_no_policy_file_yet():
    stdout = json.dumps({'identities': [_identity('tenant-new', [('AKIANEW', 'Active')], [])]}, indent=2) + '\n'
    admin, dummy = _admin(stdout, 'error: filer: no entry is found in filer store\n', 1)
    assert admin.list_identities() == {'tenant-new': {'access_keys': ['AKIANEW'], 'policy': None}}


@pytest.mark.parametrize(
    'stdout, stderr, rc, message',
    [
        ('', 'error: dial tcp 127.0.0.1:19333: connect: connection refused\n', 1, 'printed no identity configuration'),
        (json.dumps(POLICIES), '', 0, 'printed no identity configuration'),
        (json.dumps(CONFIGURE), 'error: filer: permission denied\n', 1, 'printed no policy document'),
        ('not json at all ' + SECRET, '', 0, 'printed no identity configuration'),
    ],
)
def test_failures_name_the_step_and_never_quote_stdout(stdout, stderr, rc, message):
    admin = _admin(stdout, stderr, rc)[0]
    with pytest.raises(_tenant_s3.ShellError, match=message) as failure:
        admin.list_identities()
    assert SECRET not in str(failure.value)
    assert 'exit status %s' % rc in str(failure.value)


def test_a_command_that_cannot_run():
    admin = _tenant_s3.SeaweedShellAdmin(
        client=None, policy_name='tenant-bucket', command=['/nonexistent/weed', 'shell']
    )
    with pytest.raises(_tenant_s3.ShellError, match='cannot run /nonexistent/weed'):
        admin.list_identities()


@pytest.mark.parametrize(
    'actions, allowed',
    [
        ([], True),
        (['Admin:b'], True),
        (['Read:b', 'Write:b/prefix'], True),
        (['Admin'], False),
        (['Read:c'], False),
        (['Admin:b', 'List'], False),
        ([None], False),
    ],
)
def test_actions_within(actions, allowed):
    assert _tenant_s3.actions_within(actions, {'b'}) is allowed


def test_plan_puts_the_policy_again_for_drift_and_shows_it_in_the_diff():
    tenant = validate_tenants([{'id': 'widened'}])[0]
    admin = _admin(_recorded())[0]
    found = admin.list_identities()
    backend = _tenant_s3.S3TenantBackend(dict(endpoint_url='http://127.0.0.1:1'))
    backend.admin = admin
    creds = {'s3_access_key': 'AKIAWIDE', 's3_secret_key': 'x'}
    change, ops = backend.plan(tenant, {'bucket': True, 'identity': found['tenant-widened']}, creds)
    assert change.actions == ['set policy of tenant-widened to bucket tenant-widened only']
    assert [op[0] for op in ops] == ['put_policy']
    assert change.before['identity']['policy'] == 'drifted'
    ok = validate_tenants([{'id': 'acme'}])[0]
    change, ops = backend.plan(
        ok, {'bucket': True, 'identity': found['tenant-acme']}, {'s3_access_key': 'AKIAACME', 's3_secret_key': 'x'}
    )
    assert ops == [] and change.before['identity']['policy'] == 'bucket-only'


# ---------------------------------------------------------------- admin_api: seaweedfs_shell
def _batch_admin(stdout, stderr='', rc=0):
    calls = []

    def runner(script):
        calls.append(script)
        return stdout, stderr, rc

    return _tenant_s3.SeaweedShellBatchAdmin(command=['weed', 'shell'], runner=runner), calls


def _own(bucket):
    return ['%s:%s' % (action, bucket) for action in ('Read', 'Write', 'List', 'Tagging')]


BATCH_CONFIGURE = {
    'identities': [
        _identity('tenant-ok', [('TOK', 'Active')], _own('tenant-ok')),
        _identity('tenant-widened', [('TWIDE', 'Active')], _own('tenant-widened') + ['Admin', 'Read:tenant-ok']),
        dict(
            _identity('tenant-with-policy', [('TPOL', 'Active')], _own('tenant-with-policy')), policyNames=['readall']
        ),
        _identity('tenant-from-iam', [('AKIAIAM', 'Active')], ['Admin:tenant-from-iam']),
        _identity('tenant-bare', [], []),
        _identity('admin', [('ADMINKEY', '')], ['Admin'], static=True),
    ]
}


def test_batch_read_reports_actions_and_policy_names_as_the_grant():
    admin, calls = _batch_admin(json.dumps(BATCH_CONFIGURE, indent=2))
    found = admin.list_identities()
    assert calls == ['s3.configure\n']
    assert sorted(found) == ['tenant-bare', 'tenant-from-iam', 'tenant-ok', 'tenant-widened', 'tenant-with-policy']
    assert found['tenant-ok'] == {'access_keys': ['TOK'], 'policy': admin.grant('tenant-ok')}
    assert admin.grant('tenant-ok') == {
        'actions': ['List:tenant-ok', 'Read:tenant-ok', 'Tagging:tenant-ok', 'Write:tenant-ok'],
        'policies': [],
    }
    assert found['tenant-with-policy']['policy']['policies'] == ['readall']
    assert found['tenant-bare']['policy'] is None
    assert SECRET not in repr(found)


def test_batch_lines_for_a_new_tenant_create_the_identity_with_its_actions_before_the_key():
    admin = _batch_admin(json.dumps(BATCH_CONFIGURE))[0]
    ops = [('create_bucket', None), ('create_user', None), ('create_key', 'TNEW'), ('put_policy', 'tenant-new')]
    assert admin.batch_lines('tenant-new', 'tenant-new', ops, None, 'TNEW', 's3cr3t') == [
        's3.bucket.create -name tenant-new',
        's3.configure -user tenant-new -actions List:tenant-new,Read:tenant-new,Tagging:tenant-new,Write:tenant-new -apply',
        's3.configure -user tenant-new -access_key TNEW -secret_key s3cr3t -apply',
    ]


def test_batch_lines_take_back_what_exceeds_the_bucket():
    admin = _batch_admin(json.dumps(BATCH_CONFIGURE))[0]
    found = admin.list_identities()

    def lines(user):
        return admin.batch_lines(user, user, [('put_policy', user)], found[user]['policy'])

    assert lines('tenant-widened') == ['s3.configure -user tenant-widened -actions Admin,Read:tenant-ok -delete -apply']
    assert lines('tenant-with-policy') == ['s3.configure -user tenant-with-policy -policies readall -delete -apply']
    # an identity the IAM API made (admin_api switched from iam): its Admin action goes, the tenant's come
    assert lines('tenant-from-iam') == [
        's3.configure -user tenant-from-iam -actions Admin:tenant-from-iam -delete -apply',
        's3.configure -user tenant-from-iam -actions List:tenant-from-iam,Read:tenant-from-iam,'
        'Tagging:tenant-from-iam,Write:tenant-from-iam -apply',
    ]


def test_batch_lines_rotate_keys_and_delete_identities():
    admin = _batch_admin(json.dumps(BATCH_CONFIGURE))[0]
    grant = admin.list_identities()['tenant-ok']['policy']
    assert admin.batch_lines(
        'tenant-ok', 'tenant-ok', [('create_key', 'TNEW'), ('delete_key', 'TOK')], grant, 'TNEW', 's'
    ) == [
        's3.configure -user tenant-ok -access_key TNEW -secret_key s -apply',
        's3.configure -user tenant-ok -access_key TOK -delete -apply',
    ]
    assert admin.batch_lines('tenant-ok', 'tenant-ok', [('delete_user', None)], grant) == [
        's3.configure -user tenant-ok -delete -apply'
    ]


@pytest.mark.parametrize('secret', ['with space', 'semi;colon', 'new\nline', ''])
def test_batch_lines_refuse_words_the_shell_cannot_take(secret):
    admin = _batch_admin(json.dumps(BATCH_CONFIGURE))[0]
    with pytest.raises(_tenant_s3.ShellError, match='tenant-x') as failure:
        admin.batch_lines('tenant-x', 'tenant-x', [('create_key', 'TX')], None, 'TX', secret)
    assert secret not in str(failure.value) or not secret


def test_batch_errors_are_returned_with_the_secrets_blanked():
    admin, calls = _batch_admin(
        '{echo of ' + SECRET + '}',
        'error: bucket tenant-a already exists\nerror: parse -secret_key ' + SECRET + '\n',
        1,
    )
    errors = admin.apply_batch(['s3.bucket.create -name tenant-a'], hidden=[SECRET])
    assert calls == ['s3.bucket.create -name tenant-a\n']
    assert errors == ['error: bucket tenant-a already exists', 'error: parse -secret_key ********']
    assert _batch_admin('', '', 0)[0].apply_batch(['s3.configure']) == []
    assert _batch_admin('', 'killed\n', 137)[0].apply_batch(['s3.configure']) == ['exit status 137: killed']


def test_batch_plan_uses_the_module_made_key_and_refuses_stored_keys_the_shell_cannot_take():
    admin = _batch_admin(json.dumps(BATCH_CONFIGURE))[0]
    backend = _tenant_s3.S3TenantBackend(dict(endpoint_url='http://127.0.0.1:1', admin_api='seaweedfs_shell'))
    backend.admin = admin
    found = admin.list_identities()
    assert backend.keys_made_by_server is False
    tenant = validate_tenants([{'id': 'new'}])[0]
    change, ops = backend.plan(
        tenant, {'bucket': False, 'identity': None}, {'s3_access_key': 'TNEW', 's3_secret_key': 's'}
    )
    assert ops == [('create_bucket', None), ('create_user', None), ('create_key', 'TNEW'), ('put_policy', 'tenant-new')]
    ok = validate_tenants([{'id': 'ok'}])[0]
    change, ops = backend.plan(
        ok, {'bucket': True, 'identity': found['tenant-ok']}, {'s3_access_key': 'TOK', 's3_secret_key': 's'}
    )
    assert ops == [] and change.before['identity']['policy'] == 'bucket-only'
    widened = validate_tenants([{'id': 'widened'}])[0]
    change, ops = backend.plan(
        widened, {'bucket': True, 'identity': found['tenant-widened']}, {'s3_access_key': 'TWIDE', 's3_secret_key': 's'}
    )
    assert ops == [('put_policy', 'tenant-widened')] and change.before['identity']['policy'] == 'drifted'
    with pytest.raises(BackendError, match='s3_secret_key stored for tenant new .*cannot take') as failure:
        backend.plan(tenant, {'bucket': False, 'identity': None}, {'s3_access_key': 'TNEW', 's3_secret_key': 'a b;rm'})
    assert 'a b;rm' not in str(failure.value)


def test_batch_mode_needs_the_shell_command():
    backend = _tenant_s3.S3TenantBackend(
        dict(endpoint_url='http://127.0.0.1:1', admin_api='seaweedfs_shell', seaweedfs_shell=None)
    )
    with pytest.raises(_tenant_s3.TenantInputError, match='give its command in s3.seaweedfs_shell'):
        backend.validate([])
