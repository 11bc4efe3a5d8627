# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the two host-side helpers of playbooks/04_tenants.yml add, against the real servers.

* S3 identities read through SeaweedFS's admin shell (``s3.seaweedfs_shell``) see what the IAM
  API hides: an identity whose actions were widened with ``s3.configure`` is reported and put
  back to its bucket; a shell that fails stops the run before anything changes.
* S3 identities written in one shell batch (``s3.admin_api: seaweedfs_shell``): a batch cut short
  names the tenants it did not finish, their keys wait in Vault and a rerun completes them with
  those keys; identities the IAM API made are taken over; widened actions are taken back.
* Valkey ``persist: file``: the tenant users' lines go into an aclfile the server cannot write,
  other lines stay, a line that drifted is rewritten, and a server started from that file lets
  the tenants log in.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
import redis
from _probe import credentials, s3_access, snapshot
from tenant_harness import module_args, run_tenant

pytestmark = pytest.mark.integration


def _actions(result, tenant_id, backend):
    return [t for t in result['tenants'] if t['id'] == tenant_id][0]['backends'][backend]['actions']


def _shell(stack, script):
    return subprocess.run(
        stack['s3']['seaweedfs_shell'], input=script, capture_output=True, text=True, timeout=60, check=True
    )


def test_shell_read_finds_actions_widened_behind_the_iam_api(stack):
    tid = 'widened'
    args = module_args(stack, [{'id': tid, 'apps': ['n8n']}], ('s3', 'vault'))
    args['s3'] = stack['s3_shell_read']
    iam_args = dict(args, s3=stack['s3_iam'])
    assert run_tenant(args)['changed'] is True
    creds = credentials(stack, tid)
    other = 'tenant-widened-other'
    stack['servers']['s3'].client().create_bucket(Bucket=other)
    assert not s3_access(stack, creds['s3_access_key'], creds['s3_secret_key'], other, 'list')

    # an operator (or a script) widens the identity with weed shell: it may now use every bucket
    _shell(stack, 's3.configure -user tenant-widened -actions Admin -apply\n')
    assert s3_access(stack, creds['s3_access_key'], creds['s3_secret_key'], other, 'list')

    # the IAM API still shows the bucket-only policy: a read through it sees nothing wrong
    assert run_tenant(iam_args, check_mode=True)['changed'] is False
    # the shell read sees the actions the gateway enforces
    check = run_tenant(args, check_mode=True, diff=True)
    assert check['changed'] is True
    assert _actions(check, tid, 's3') == ['set policy of tenant-widened to bucket tenant-widened only']
    assert check['diff']['before'][tid]['s3']['identity']['policy'] == 'drifted'
    fixed = run_tenant(args)
    assert _actions(fixed, tid, 's3') == _actions(check, tid, 's3')
    assert not s3_access(stack, creds['s3_access_key'], creds['s3_secret_key'], other, 'list')
    assert s3_access(stack, creds['s3_access_key'], creds['s3_secret_key'], 'tenant-widened', 'put')
    assert run_tenant(args)['changed'] is False
    stack['servers']['s3'].client().delete_bucket(Bucket=other)
    run_tenant(module_args(stack, [{'id': tid, 'apps': ['n8n'], 'state': 'absent', 'purge': True}], ('s3', 'vault')))


def test_failing_shell_stops_before_any_change(stack):
    before = snapshot(stack)
    args = module_args(stack, [{'id': 'shellfail', 'apps': ['n8n']}])
    for command in (['false'], ['/nonexistent/weed', 'shell'], ['sh', '-c', 'echo not json; echo oops >&2; exit 3']):
        args['s3'] = dict(stack['s3'], seaweedfs_shell=command)
        failed = run_tenant(args)
        assert failed.get('failed') is True and failed['backend'] == 's3', failed
        assert 'SeaweedFS admin shell' in failed['msg']
        assert stack['s3']['secret_key'] not in failed['msg']
    assert snapshot(stack) == before


def _eventually(check, seconds=15):
    """The gateway reloads identities a moment after the filer has them."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, 'not within %d s' % seconds
        time.sleep(0.2)
    return True


def _s3_identity(stack, user):
    """The identity as the gateway's configuration holds it (s3.configure), secrets left out."""
    out = _shell(stack, 's3.configure\n').stdout
    config = json.loads(out[out.index('{') :])
    for ident in config['identities']:
        if ident['name'] == user:
            return {'keys': sorted(c['accessKey'] for c in ident['credentials']), 'actions': sorted(ident['actions'])}
    return None


def test_batch_cut_short_is_completed_by_a_rerun_with_the_keys_in_vault(stack):
    ids = ['cut%d' % i for i in range(4)]
    args = module_args(stack, [{'id': tid, 'apps': ['n8n']} for tid in ids], ('s3', 'vault'))
    # a shell that takes only the first three lines it is given: reads pass, the batch stops early
    cut = ['sh', '-c', 'head -n 3 | "$@"', 'cut'] + stack['s3']['seaweedfs_shell']
    failed = run_tenant(dict(args, s3=dict(stack['s3'], seaweedfs_shell=cut)))
    assert failed.get('failed') is True and failed['backend'] == 's3', failed
    assert 'left 3 tenant(s) unfinished (cut1, cut2, cut3)' in failed['msg']
    stored = dict((tid, credentials(stack, tid)) for tid in ids)
    assert all(stored[tid]['s3_access_key'] for tid in ids)
    first = _s3_identity(stack, 'tenant-cut0')
    assert first['keys'] == [stored['cut0']['s3_access_key']]
    assert first['actions'] == ['List:tenant-cut0', 'Read:tenant-cut0', 'Tagging:tenant-cut0', 'Write:tenant-cut0']
    assert _s3_identity(stack, 'tenant-cut1') is None

    done = run_tenant(args)
    assert done['changed'] is True
    assert [t['backends']['s3']['changed'] for t in done['tenants']] == [False, True, True, True]
    for tid in ids:
        assert credentials(stack, tid)['s3_access_key'] == stored[tid]['s3_access_key']
        assert _s3_identity(stack, 'tenant-' + tid)['keys'] == [stored[tid]['s3_access_key']]
        assert s3_access(stack, stored[tid]['s3_access_key'], stored[tid]['s3_secret_key'], 'tenant-' + tid, 'put')
    assert not s3_access(stack, stored['cut3']['s3_access_key'], stored['cut3']['s3_secret_key'], 'tenant-cut0', 'list')
    assert run_tenant(args)['changed'] is False
    run_tenant(module_args(stack, [{'id': tid, 'state': 'absent', 'purge': True} for tid in ids], ('s3', 'vault')))
    assert all(_s3_identity(stack, 'tenant-' + tid) is None for tid in ids)


def test_batch_takes_over_identities_the_iam_api_made(stack):
    tid = 'from_iam'
    args = module_args(stack, [{'id': tid, 'apps': ['n8n']}], ('s3', 'vault'))
    assert run_tenant(dict(args, s3=stack['s3_iam']))['changed'] is True
    creds = credentials(stack, tid)
    assert _s3_identity(stack, 'tenant-from-iam')['actions'] == ['Admin:tenant-from-iam']

    check = run_tenant(args, check_mode=True)
    assert _actions(check, tid, 's3') == ['set policy of tenant-from-iam to bucket tenant-from-iam only']
    assert run_tenant(args)['changed'] is True
    assert _s3_identity(stack, 'tenant-from-iam') == {
        'keys': [creds['s3_access_key']],
        'actions': ['List:tenant-from-iam', 'Read:tenant-from-iam', 'Tagging:tenant-from-iam', 'Write:tenant-from-iam'],
    }
    assert credentials(stack, tid)['s3_secret_key'] == creds['s3_secret_key']
    assert _eventually(
        lambda: s3_access(stack, creds['s3_access_key'], creds['s3_secret_key'], 'tenant-from-iam', 'put')
    )
    assert run_tenant(args)['changed'] is False
    run_tenant(module_args(stack, [{'id': tid, 'state': 'absent', 'purge': True}], ('s3', 'vault')))


def test_batch_takes_back_widened_actions(stack):
    tid = 'batch_wide'
    args = module_args(stack, [{'id': tid, 'apps': ['n8n']}], ('s3', 'vault'))
    assert run_tenant(args)['changed'] is True
    creds = credentials(stack, tid)
    other = 'tenant-batch-wide-other'
    stack['servers']['s3'].client().create_bucket(Bucket=other)
    _shell(
        stack,
        's3.configure -user tenant-batch-wide -actions Admin -apply\n'
        's3.configure -user tenant-batch-wide -policies readall -apply\n',
    )
    assert _eventually(lambda: s3_access(stack, creds['s3_access_key'], creds['s3_secret_key'], other, 'list'))

    check = run_tenant(args, check_mode=True, diff=True)
    assert _actions(check, tid, 's3') == ['set policy of tenant-batch-wide to bucket tenant-batch-wide only']
    assert check['diff']['before'][tid]['s3']['identity']['policy'] == 'drifted'
    assert run_tenant(args)['changed'] is True
    assert _s3_identity(stack, 'tenant-batch-wide')['actions'] == [
        'List:tenant-batch-wide',
        'Read:tenant-batch-wide',
        'Tagging:tenant-batch-wide',
        'Write:tenant-batch-wide',
    ]
    assert _eventually(lambda: not s3_access(stack, creds['s3_access_key'], creds['s3_secret_key'], other, 'list'))
    assert s3_access(stack, creds['s3_access_key'], creds['s3_secret_key'], 'tenant-batch-wide', 'put')
    assert run_tenant(args)['changed'] is False
    stack['servers']['s3'].client().delete_bucket(Bucket=other)
    run_tenant(module_args(stack, [{'id': tid, 'state': 'absent', 'purge': True}], ('s3', 'vault')))


def _start_server_from(aclfile, tmp_path):
    """A second server whose users come from the aclfile the module wrote."""
    from ports import free_port

    binary = stack_binary()
    port = free_port()
    conf = tmp_path / 'from-file.conf'
    conf.write_text('bind 127.0.0.1\nport %d\ndir %s\nsave ""\naclfile %s\n' % (port, tmp_path, aclfile))
    proc = subprocess.Popen([binary, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, port


def stack_binary():
    import shutil

    return shutil.which('valkey-server') or shutil.which('redis-server')


def _login(port, user, password):
    import time

    deadline = time.monotonic() + 10
    while True:
        try:
            client = redis.Redis(host='127.0.0.1', port=port, username=user, password=password, socket_timeout=3)
            client.set('%s:probe' % user[len('tenant_') :], b'1')
            return True
        except (redis.AuthenticationError, redis.ResponseError):  # AuthenticationError is a ConnectionError
            return False
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_valkey_persist_file(stack, tmp_path):
    aclfile = tmp_path / 'users.acl'
    kept = [
        'user default on nopass sanitize-payload ~* &* +@all',
        'user app on #%s ~app:* resetchannels -@all +get' % ('0' * 64),
        'user tenant_elsewhere on #%s ~elsewhere:* resetchannels -@all' % ('1' * 64),
    ]
    aclfile.write_text(''.join(line + '\n' for line in kept))
    os.chmod(aclfile, 0o400)
    valkey = dict(stack['valkey'], persist='file', aclfile=str(aclfile))
    tenants = [{'id': 'filed_a', 'apps': ['n8n']}, {'id': 'filed_b', 'apps': ['n8n']}]
    args = dict(module_args(stack, tenants, ('valkey', 'vault')), valkey=valkey)

    assert run_tenant(args)['changed'] is True
    text = aclfile.read_text()
    lines = text.splitlines()
    assert lines[:3] == kept, 'lines of other users must stay as they were'
    assert [line.split()[1] for line in lines[3:]] == ['tenant_filed_a', 'tenant_filed_b']
    live = stack['servers']['valkey'].client().acl_list()
    assert lines[3] in live and lines[4] in live
    assert oct(os.stat(aclfile).st_mode & 0o777) == '0o400'
    assert run_tenant(args)['changed'] is False

    # a line lost from the file (a role run that dropped it, an edit): reported, then rewritten
    aclfile.write_text(''.join(line + '\n' for line in lines if 'tenant_filed_b' not in line))
    check = run_tenant(args, check_mode=True)
    assert _actions(check, 'filed_b', 'valkey') == ['write ACL user tenant_filed_b to %s' % aclfile]
    assert _actions(check, 'filed_a', 'valkey') == []
    assert 'tenant_filed_b' not in aclfile.read_text()
    assert _actions(run_tenant(args), 'filed_b', 'valkey') == _actions(check, 'filed_b', 'valkey')
    assert aclfile.read_text() == text

    # a server started from the file lets the tenants in (the format is what the server loads)
    proc, port = _start_server_from(aclfile, tmp_path)
    try:
        creds = credentials(stack, 'filed_a')
        assert _login(port, creds['valkey_user'], creds['valkey_password'])
        assert not _login(port, creds['valkey_user'], creds['valkey_password'] + 'x')
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    # absent: the line goes with the user; the other lines stay
    gone = [dict(t, state='absent', purge=True) for t in tenants]
    assert run_tenant(dict(args, tenants=gone))['changed'] is True
    assert aclfile.read_text().splitlines() == kept
    assert run_tenant(dict(args, tenants=gone))['changed'] is False


def test_valkey_persist_file_needs_a_readable_file(stack, tmp_path):
    before = snapshot(stack)
    args = dict(module_args(stack, [{'id': 'nofile', 'apps': ['n8n']}], ('valkey', 'vault')))
    args['valkey'] = dict(stack['valkey'], persist='file', aclfile=str(tmp_path / 'missing.acl'))
    failed = run_tenant(args)
    assert failed.get('failed') is True and 'cannot read the aclfile' in failed['msg']
    args['valkey'] = dict(stack['valkey'], persist='file')
    failed = run_tenant(args)
    assert failed.get('failed') is True and 'persist=file needs aclfile' in failed['msg']
    assert snapshot(stack) == before
