# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""S3 tenant backend (boto3). Private to the collection.

Per tenant: a bucket ``tenant-<id>`` (``_`` becomes ``-``: S3 forbids underscores), an
identity ``tenant-<id>`` with one access key, and a policy that allows that bucket only.

Buckets are plain S3 calls. Identities are server specific, so they sit behind
``S3IdentityAdmin``; ``IamApiAdmin`` speaks the AWS IAM API (CreateUser, CreateAccessKey,
PutUserPolicy), which SeaweedFS serves on its S3 port when IAM writes are enabled
(``weed s3 -iam.readOnly=false`` / ``weed server -s3.iam.readOnly=false``). Garage (its admin
API: keys + bucket permissions) and MinIO-compatible servers (``mc admin`` API: users +
canned policies) fit the same methods.

The IAM API has no bulk read: two calls per identity (keys, inline policy). ``SeaweedShellAdmin``
reads every identity in one call from SeaweedFS's own admin shell instead (``weed shell``:
``s3.configure`` prints the identity configuration the S3 gateway enforces, ``fs.cat
/etc/iam/policies.json`` the inline policies the IAM API keeps), and writes through the IAM API.
It also sees what the IAM API hides: an identity's effective actions (``Admin:<bucket>``), which
``s3.configure`` can widen behind the IAM API's back; such an identity is reported with a drifted
policy, and putting the policy again resets its actions.

``SeaweedShellBatchAdmin`` (``admin_api: seaweedfs_shell``) also writes through the shell: every
tenant's bucket, identity, key and actions in one batch of ``s3.bucket.create`` and
``s3.configure`` lines. SeaweedFS's IAM writes get slower with every identity it holds (200
tenants took 154 to 172 s through them on a fresh server); one batch writes 200 in about a
second. The module then makes the keys itself, so they reach Vault before the server hears of them.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_backend import (
    PENDING,
    Op,
    Phase,
    TenantBackend,
)
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_common import (
    Change,
    TenantInputError,
    generate_access_key,
    tenant_id_from_prefixed,
)

try:
    import boto3
    import botocore.exceptions
    from botocore.config import Config

    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
except ImportError:
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = traceback.format_exc()

S3_SPEC = dict(
    endpoint_url=dict(type='str', required=True),
    access_key=dict(type='str', required=True, no_log=True),
    secret_key=dict(type='str', required=True, no_log=True),
    region=dict(type='str', default='us-east-1'),
    validate_certs=dict(type='bool', default=True),
    admin_api=dict(type='str', default='iam', choices=['iam', 'seaweedfs_shell']),
    iam_endpoint_url=dict(type='str'),
    policy_name=dict(type='str', default='tenant-bucket'),
    connect_timeout=dict(type='int', default=10),
    seaweedfs_shell=dict(type='list', elements='str'),
    seaweedfs_shell_timeout=dict(type='int', default=120),
)

_PURGE_PAGE = 1000
# per-identity reads in flight at once: the IAM API has no bulk read of keys and policies
# (SeaweedFS answers ListAccessKeys without UserName with the caller's keys only, as AWS does)
_READ_WORKERS = 8
# what SeaweedFS's admin shell is asked for: the identities it enforces, the IAM inline policies
_SHELL_SCRIPT = 's3.configure\nfs.cat /etc/iam/policies.json\n'
# fs.cat of a file that was never written (no inline policy yet)
_SHELL_NO_ENTRY = 'no entry is found'
# what a tenant identity may do on its own bucket when the shell writes it: objects and their
# tags, not the bucket itself (no Admin: it could not delete its bucket or change its ACL)
TENANT_ACTIONS = ('List', 'Read', 'Tagging', 'Write')
# words a shell line may hold: the shell splits lines on blanks and knows no quoting
_SHELL_WORD = re.compile(r'^[A-Za-z0-9][A-Za-z0-9+/=:,._-]*$')


def bucket_policy(bucket):
    return {
        'Version': '2012-10-17',
        'Statement': [
            {
                'Effect': 'Allow',
                'Action': ['s3:*'],
                'Resource': ['arn:aws:s3:::%s' % bucket, 'arn:aws:s3:::%s/*' % bucket],
            }
        ],
    }


def normalise_policy(doc):
    """Compare policies by meaning: strings vs one-element lists, key order, statement order."""
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except ValueError:
            return doc
    if not isinstance(doc, dict):
        return doc
    statements = doc.get('Statement') or []
    if isinstance(statements, dict):
        statements = [statements]
    out = []
    for stmt in statements:
        item = {}
        for key, value in stmt.items():
            if key == 'Sid':
                continue
            if isinstance(value, str) and key in ('Action', 'Resource', 'NotAction', 'NotResource'):
                value = [value]
            if isinstance(value, list):
                value = sorted(value)
            item[key] = value
        out.append(item)
    return sorted(out, key=lambda s: json.dumps(s, sort_keys=True))


def bucket_actions(bucket):
    """The SeaweedFS actions of a tenant identity written by the shell, sorted as the reader reports them."""
    return sorted('%s:%s' % (action, bucket) for action in TENANT_ACTIONS)


def _error_code(exc):
    return (getattr(exc, 'response', None) or {}).get('Error', {}).get('Code', '')


class S3IdentityAdmin:
    """What a server must offer for tenant identities (one per tenant, keys, a bucket policy).

    Either the per-identity methods below (the server makes each key: ``keys_made_by_server``) or,
    with ``keys_made_by_server = False``, ``batch_lines`` and ``apply_batch`` that write keys the
    module made (as SeaweedShellBatchAdmin does).
    """

    keys_made_by_server = True

    def grant(self, bucket):
        """What list_identities reports as ``policy`` for an identity allowed ``bucket`` and nothing else."""
        raise NotImplementedError

    def list_identities(self, only=None):
        """{user_name: {"access_keys": [ids], "policy": grant or None}} for tenant users
        (only those named in ``only`` when it is given)."""
        raise NotImplementedError

    def ensure_user(self, user):
        raise NotImplementedError

    def create_key(self, user):
        """Return (access_key_id, secret_access_key)."""
        raise NotImplementedError

    def delete_key(self, user, key_id):
        raise NotImplementedError

    def put_policy(self, user, bucket):
        """Allow ``bucket`` only."""
        raise NotImplementedError

    def delete_user(self, user):
        """Delete keys, policy and identity."""
        raise NotImplementedError


class IamApiAdmin(S3IdentityAdmin):
    """AWS IAM API (SeaweedFS embedded IAM, Ceph RGW, AWS)."""

    def __init__(self, client, policy_name, prefix='tenant-'):
        self.iam = client
        self.policy_name = policy_name
        self.prefix = prefix

    def grant(self, bucket):
        return normalise_policy(bucket_policy(bucket))

    def list_identities(self, only=None):
        users = []
        for page in self.iam.get_paginator('list_users').paginate():
            users.extend(u['UserName'] for u in page.get('Users', []) if u['UserName'].startswith(self.prefix))
        if only is not None:
            users = [u for u in users if u in only]
        if len(users) < 2:
            return dict((user, self.read_user(user)) for user in users)
        # boto3 clients are thread safe; a bounded pool overlaps the round trips
        with ThreadPoolExecutor(max_workers=min(_READ_WORKERS, len(users))) as pool:
            return dict(zip(users, pool.map(self.read_user, users), strict=True))

    def read_user(self, user):
        keys = sorted(
            k['AccessKeyId']
            for k in self.iam.list_access_keys(UserName=user).get('AccessKeyMetadata', [])
            if k.get('Status', 'Active') == 'Active'
        )
        try:
            doc = self.iam.get_user_policy(UserName=user, PolicyName=self.policy_name)['PolicyDocument']
            policy = normalise_policy(doc)
        except botocore.exceptions.ClientError as exc:
            if _error_code(exc) not in ('NoSuchEntity', 'NoSuchEntityException', 'NotFound', '404'):
                raise
            policy = None
        return {'access_keys': keys, 'policy': policy}

    def ensure_user(self, user):
        try:
            self.iam.create_user(UserName=user)
        except botocore.exceptions.ClientError as exc:
            if _error_code(exc) not in ('EntityAlreadyExists', 'EntityAlreadyExistsException'):
                raise

    def create_key(self, user):
        key = self.iam.create_access_key(UserName=user)['AccessKey']
        return key['AccessKeyId'], key['SecretAccessKey']

    def delete_key(self, user, key_id):
        self.iam.delete_access_key(UserName=user, AccessKeyId=key_id)

    def put_policy(self, user, bucket):
        self.iam.put_user_policy(
            UserName=user, PolicyName=self.policy_name, PolicyDocument=json.dumps(bucket_policy(bucket))
        )

    def delete_user(self, user):
        for key_id in self.read_user(user)['access_keys']:
            self.delete_key(user, key_id)
        try:
            self.iam.delete_user_policy(UserName=user, PolicyName=self.policy_name)
        except botocore.exceptions.ClientError as exc:
            if _error_code(exc) not in ('NoSuchEntity', 'NoSuchEntityException'):
                raise
        self.iam.delete_user(UserName=user)


class ShellError(Exception):
    """The admin shell failed or printed something this reader does not understand."""


def _json_documents(text):
    """The JSON objects printed one after the other in ``text`` (other text between them is skipped)."""
    decoder = json.JSONDecoder()
    docs = []
    pos = text.find('{')
    while pos != -1:
        try:
            doc, end = decoder.raw_decode(text, pos)
        except ValueError:
            pos = text.find('{', pos + 1)
            continue
        docs.append(doc)
        pos = text.find('{', end)
    return docs


def parse_shell_output(stdout, stderr, returncode):
    """(identities, inline policies) from ``weed shell`` running ``_SHELL_SCRIPT``.

    ``identities``: the ``identities`` list of ``s3.configure``; ``inline policies``:
    ``{user: {policy name: document}}`` (empty when the IAM API never stored one).
    Raises ShellError with a message that never quotes stdout (it holds secret keys).
    """
    docs = _json_documents(stdout or '')
    identities = _configured_identities(docs, stderr, returncode)
    if len(docs) > 1 and isinstance(docs[1], dict) and ('inlinePolicies' in docs[1] or 'policies' in docs[1]):
        inline = docs[1].get('inlinePolicies') or {}
    elif _SHELL_NO_ENTRY in (stderr or ''):
        inline = {}
    else:
        raise ShellError(
            'fs.cat /etc/iam/policies.json printed no policy document (exit status %s%s)'
            % (returncode, _last_line(stderr))
        )
    return identities, inline


def _configured_identities(docs, stderr, returncode):
    """The ``identities`` list of the first document ``s3.configure`` printed."""
    if not docs or not isinstance(docs[0], dict) or 'identities' not in docs[0]:
        raise ShellError(
            's3.configure printed no identity configuration (exit status %s%s)' % (returncode, _last_line(stderr))
        )
    return docs[0].get('identities') or []


def _active_keys(identity):
    return sorted(
        c.get('accessKey')
        for c in identity.get('credentials') or []
        if c.get('accessKey') and (c.get('status') or 'Active') == 'Active'
    )


def _last_line(text):
    lines = [line for line in (text or '').strip().splitlines() if line.strip()]
    return (': ' + lines[-1][:300]) if lines else ''


def _policy_buckets(policy):
    """Bucket names an (un-normalised) policy document grants, from its Resource ARNs."""
    buckets = set()
    for stmt in normalise_policy(policy) or []:
        if not isinstance(stmt, dict):
            continue
        for arn in stmt.get('Resource') or []:
            if isinstance(arn, str) and arn.startswith('arn:aws:s3:::'):
                buckets.add(arn[len('arn:aws:s3:::') :].split('/', 1)[0])
    return buckets


def actions_within(actions, buckets):
    """True when every SeaweedFS action of an identity is limited to one of ``buckets``
    (``Admin:b``, ``Read:b``, ``Write:b/prefix``...); a bare ``Read`` or ``Admin`` covers every bucket."""
    for action in actions or []:
        if not isinstance(action, str) or ':' not in action:
            return False
        scope = action.split(':', 1)[1].split('/', 1)[0]
        if scope not in buckets:
            return False
    return True


class _WeedShell:
    """Runs SeaweedFS's admin shell. ``command`` is the argv that opens it with commands read from
    standard input, such as ``["docker", "exec", "-i", "seaweedfs", "weed", "shell", "-master=127.0.0.1:9333"]``;
    ``runner`` replaces the process in unit tests."""

    def _init_shell(self, command, timeout, runner):
        self.command = list(command)
        self.timeout = timeout
        self.runner = runner or self._run

    def _run(self, script):
        try:
            proc = subprocess.run(
                self.command,
                input=script,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,  # the caller reads the return code along with the output
            )
        except OSError as exc:
            raise ShellError('cannot run %s: %s' % (self.command[0], exc)) from exc
        except subprocess.TimeoutExpired:
            raise ShellError('%s did not finish within %d s' % (' '.join(self.command), self.timeout)) from None
        return proc.stdout, proc.stderr, proc.returncode

    def _tenant_identities(self, identities, only):
        """(name, identity) of the tenant identities among those ``s3.configure`` printed."""
        for ident in identities:
            user = ident.get('name') or ''
            if user.startswith(self.prefix) and (only is None or user in only):
                yield user, ident


class SeaweedShellAdmin(_WeedShell, IamApiAdmin):
    """IAM API for writes; every identity read in one ``weed shell`` call."""

    def __init__(self, client, policy_name, command, timeout=120, prefix='tenant-', runner=None):
        super().__init__(client, policy_name, prefix)
        self._init_shell(command, timeout, runner)

    def list_identities(self, only=None):
        identities, inline = parse_shell_output(*self.runner(_SHELL_SCRIPT))
        found = {}
        for user, ident in self._tenant_identities(identities, only):
            doc = (inline.get(user) or {}).get(self.policy_name)
            policy = normalise_policy(doc) if doc is not None else None
            if policy is not None and not actions_within(ident.get('actions'), _policy_buckets(doc)):
                # the gateway enforces more than the stored policy says: report it as drifted
                policy = {'drifted': 'actions %s exceed the policy' % sorted(ident.get('actions') or [])}
            found[user] = {'access_keys': _active_keys(ident), 'policy': policy}
        return found


class SeaweedShellBatchAdmin(_WeedShell, S3IdentityAdmin):
    """Identities read and written through ``weed shell`` alone; the module makes the keys.

    A tenant identity holds the actions ``List``, ``Read``, ``Tagging`` and ``Write`` on its bucket
    (``bucket_actions``) and no policy names. Instead of the per-identity methods, ``batch_lines``
    turns every tenant's ops into shell lines and ``apply_batch`` runs them in one process. The
    shell goes on after a line that fails, so the caller reads the result back.
    """

    keys_made_by_server = False

    def __init__(self, command, timeout=120, prefix='tenant-', runner=None):
        self.prefix = prefix
        self._init_shell(command, timeout, runner)

    def grant(self, bucket):
        return {'actions': bucket_actions(bucket), 'policies': []}

    def list_identities(self, only=None):
        stdout, stderr, returncode = self.runner('s3.configure\n')
        found = {}
        identities = _configured_identities(_json_documents(stdout or ''), stderr, returncode)
        for user, ident in self._tenant_identities(identities, only):
            actions = sorted(a for a in ident.get('actions') or [] if isinstance(a, str))
            policies = sorted(p for p in ident.get('policyNames') or [] if isinstance(p, str))
            grant = {'actions': actions, 'policies': policies} if actions or policies else None
            found[user] = {'access_keys': _active_keys(ident), 'policy': grant}
        return found

    def batch_lines(self, user, bucket, ops, grant=None, access_key=None, secret_key=None):
        """The shell lines for one tenant's ops: the bucket, then the actions (the first line naming a
        new user creates its identity), then the keys, so a key never exists without its bucket.
        ``grant``: what list_identities reported for the user (put_policy deletes what exceeds the bucket)."""
        kinds = dict(ops)
        have = grant or {'actions': [], 'policies': []}
        want = bucket_actions(bucket)
        extra = [a for a in have['actions'] if a not in want]
        missing = [a for a in want if a not in have['actions']]
        values = [user, bucket] + [key_id for kind, key_id in ops if kind == 'delete_key']
        if 'put_policy' in kinds:
            values += extra + have['policies']
        if 'create_key' in kinds:
            values += [access_key, secret_key]
        if not all(isinstance(value, str) and _SHELL_WORD.match(value) for value in values):
            # the shell splits lines on blanks and knows no quoting; the plan refuses such stored
            # credentials and ids are validated before, so this guards against a future caller
            raise ShellError('a value for %s holds characters the admin shell cannot take' % user)
        lines = []
        if 'create_bucket' in kinds:
            lines.append('s3.bucket.create -name %s' % bucket)
        if 'delete_user' in kinds:
            lines.append('s3.configure -user %s -delete -apply' % user)
        if 'put_policy' in kinds:
            if extra:
                lines.append('s3.configure -user %s -actions %s -delete -apply' % (user, ','.join(extra)))
            if have['policies']:
                lines.append('s3.configure -user %s -policies %s -delete -apply' % (user, ','.join(have['policies'])))
            if missing:
                lines.append('s3.configure -user %s -actions %s -apply' % (user, ','.join(missing)))
        if 'create_key' in kinds:
            lines.append('s3.configure -user %s -access_key %s -secret_key %s -apply' % (user, access_key, secret_key))
        for kind, key_id in ops:
            if kind == 'delete_key':
                lines.append('s3.configure -user %s -access_key %s -delete -apply' % (user, key_id))
        return lines

    def apply_batch(self, lines, hidden=()):
        """Run the lines in one shell; return its error lines, with ``hidden`` values blanked out
        (its standard output echoes every identity written, secret keys included: it is not kept)."""
        stderr, returncode = self.runner('\n'.join(lines) + '\n')[1:]
        errors = [line.strip() for line in (stderr or '').splitlines() if line.strip().startswith('error')]
        if returncode and not errors:
            errors = ['exit status %s%s' % (returncode, _last_line(stderr))]
        for value in hidden:
            errors = [line.replace(value, '********') for line in errors]
        return errors


class S3TenantBackend(TenantBackend):
    """Planned first: when the server makes the keys (phase MAKES_CREDENTIALS), each tenant's S3 side
    is applied on its own and its key goes to Vault right after; when the module makes them
    (``admin_api: seaweedfs_shell``), they are in Vault before the one shell batch runs."""

    name = 's3'
    argument_spec = S3_SPEC
    library = 'boto3'
    library_error = BOTO3_IMPORT_ERROR
    order = 10
    _KEYS = ('s3_access_key', 's3_secret_key')

    def __init__(self, options):
        super().__init__(options)
        self.s3 = None
        self.admin = None
        self._buckets = None
        self._identities = None
        self._client_args = None

    @classmethod
    def keeps_credentials(cls, options):
        return True

    @property
    def address(self):
        return self.options['endpoint_url']

    @property
    def keys_made_by_server(self):
        """False when the module makes the keys (they then reach Vault before the server)."""
        return self.admin.keys_made_by_server

    @property
    def phase(self):
        return Phase.MAKES_CREDENTIALS if self.keys_made_by_server else Phase.USES_CREDENTIALS

    def validate(self, tenants):
        del tenants  # the options alone decide
        if self.options.get('admin_api') == 'seaweedfs_shell' and not self.options.get('seaweedfs_shell'):
            raise TenantInputError(
                "s3.admin_api seaweedfs_shell writes identities through SeaweedFS's admin shell: "
                'give its command in s3.seaweedfs_shell'
            )

    def connect(self):
        config = Config(
            retries={'max_attempts': 2, 'mode': 'standard'},
            connect_timeout=self.options['connect_timeout'],
            read_timeout=60,
            max_pool_connections=_READ_WORKERS,
        )
        kwargs = dict(
            aws_access_key_id=self.options['access_key'],
            aws_secret_access_key=self.options['secret_key'],
            region_name=self.options['region'],
            verify=self.options['validate_certs'],
            config=config,
        )
        try:
            session = boto3.session.Session()
            self._client_args = dict(kwargs, endpoint_url=self.options['endpoint_url'])
            self.s3 = session.client('s3', **self._client_args)
            iam = session.client(
                'iam', endpoint_url=self.options.get('iam_endpoint_url') or self.options['endpoint_url'], **kwargs
            )
            if self.options.get('admin_api') == 'seaweedfs_shell':
                self.admin = SeaweedShellBatchAdmin(
                    self.options['seaweedfs_shell'], timeout=self.options['seaweedfs_shell_timeout']
                )
            elif self.options.get('seaweedfs_shell'):
                self.admin = SeaweedShellAdmin(
                    iam,
                    self.options['policy_name'],
                    self.options['seaweedfs_shell'],
                    timeout=self.options['seaweedfs_shell_timeout'],
                )
            else:
                self.admin = IamApiAdmin(iam, self.options['policy_name'])
            self._buckets = set(b['Name'] for b in self.s3.list_buckets().get('Buckets', []))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._fail('cannot list buckets with the admin key: %s' % exc) from exc

    def close(self):
        self.s3 = None
        self.admin = None

    # ------------------------------------------------------------------ read
    def read(self, tenants):
        try:
            # keys and policy are read for the tenants of this call only (two IAM calls per identity)
            self._identities = self.admin.list_identities(only=set(t.s3_user for t in tenants))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._fail(
                'the IAM API refused to list users (SeaweedFS: is IAM enabled and writable, '
                '-s3.iam.readOnly=false? is the admin key an Admin identity?): %s' % exc
            ) from exc
        except ShellError as exc:
            raise self._fail(
                'reading the identities with the SeaweedFS admin shell (s3.seaweedfs_shell) failed: %s' % exc
            ) from exc
        state = {}
        for tenant in tenants:
            ident = self._identities.get(tenant.s3_user)
            state[tenant.id] = {'bucket': tenant.bucket in self._buckets, 'identity': ident}
        return state

    def public_view(self, tenant, current):
        ident = current.get('identity')
        identity = None
        if ident is not None:
            policy = ident['policy']
            if policy:
                policy = 'bucket-only' if policy == self.admin.grant(tenant.bucket) else 'drifted'
            identity = {'access_keys': len(ident['access_keys']), 'policy': policy or None}
        return {'bucket': current.get('bucket', False), 'identity': identity}

    # ------------------------------------------------------------------ plan
    def fill_credentials(self, tenant, wanted):
        wanted['s3_bucket'] = tenant.bucket
        if not self.keys_made_by_server and not (wanted.get('s3_access_key') and wanted.get('s3_secret_key')):
            wanted['s3_access_key'], wanted['s3_secret_key'] = generate_access_key()

    def pending_credentials(self, tenant, ops):
        if self.keys_made_by_server and any(op.kind == 'create_key' for op in ops):
            return dict((key, PENDING) for key in self._KEYS)
        return {}

    def plan(self, tenant, current, creds):
        change = Change()
        change.before = self.public_view(tenant, current)
        ops = []
        ident = current['identity']
        if tenant.present:
            if not current['bucket']:
                ops.append(Op('create_bucket'))
                change.add('create bucket %s' % tenant.bucket)
            if ident is None:
                ops.append(Op('create_user'))
                change.add('create identity %s' % tenant.s3_user)
            known = creds.get('s3_access_key')
            keys = ident['access_keys'] if ident else []
            if known and known in keys and creds.get('s3_secret_key'):
                stale = [k for k in keys if k != known]
            else:
                stale = list(keys)
                # the server makes the key, or the module made it (known, kept in Vault first)
                ops.append(Op('create_key', None if self.keys_made_by_server else known))
                if not self.keys_made_by_server:
                    self._check_shell_words(tenant, creds)
                change.add('create access key for %s (secret stored in Vault)' % tenant.s3_user)
            for key_id in stale:
                ops.append(Op('delete_key', key_id))
                change.add('delete access key %s of %s (no secret on record)' % (key_id, tenant.s3_user))
            if ident is None or ident['policy'] != self.admin.grant(tenant.bucket):
                ops.append(Op('put_policy', tenant.bucket))
                change.add('set policy of %s to bucket %s only' % (tenant.s3_user, tenant.bucket))
            change.after = {'bucket': True, 'identity': {'access_keys': 1, 'policy': 'bucket-only'}}
        else:
            if ident is not None:
                ops.append(Op('delete_user'))
                change.add('delete identity %s, its keys and policy' % tenant.s3_user)
            bucket = current['bucket']
            if tenant.purge and bucket:
                ops.append(Op('purge_bucket'))
                change.add('delete bucket %s and its objects' % tenant.bucket)
                bucket = False
            change.after = {'bucket': bucket, 'identity': None}
        return change, ops

    def _check_shell_words(self, tenant, creds):
        """Keys a person stored by hand may hold what a shell line cannot: refuse before any change."""
        for name in ('s3_access_key', 's3_secret_key'):
            if not _SHELL_WORD.match(creds.get(name) or ''):
                raise self._fail(
                    "the %s stored for tenant %s is empty or holds characters SeaweedFS's admin shell "
                    'cannot take (letters, digits and +/=:,._- only); delete s3_access_key and '
                    's3_secret_key from its Vault record to have new ones made' % (name, tenant.id)
                )

    # ------------------------------------------------------------------ act
    def apply(self, batch):
        """The shell batch (the keys are in Vault already), or each tenant's ops through the
        per-identity admin; returns the keys the server made, by tenant id."""
        if not self.keys_made_by_server:
            self._apply_shell_batch(batch)
            return {}
        made = {}
        for tenant, ops, dummy in batch:
            if ops:
                made[tenant.id] = self._apply_tenant(tenant, ops)
        return made

    def _apply_shell_batch(self, items):
        """``admin_api: seaweedfs_shell``: every tenant's bucket and identity in one admin shell batch.

        ``items``: TenantWork for every tenant; the keys are already in Vault. The
        result is read back (the shell goes on after a failed line), new keys are waited for until
        the gateway accepts them, then purged buckets are emptied and deleted with the S3 API.
        """
        work = [(tenant, ops, creds) for tenant, ops, creds in items if ops]
        lines, hidden = [], []
        try:
            for tenant, ops, creds in work:
                identity_ops = [op for op in ops if op.kind != 'purge_bucket']
                current = self._identities.get(tenant.s3_user) or {}
                lines.extend(
                    self.admin.batch_lines(
                        tenant.s3_user,
                        tenant.bucket,
                        identity_ops,
                        current.get('policy'),
                        creds.get('s3_access_key'),
                        creds.get('s3_secret_key'),
                    )
                )
                if creds.get('s3_secret_key'):
                    hidden.append(creds['s3_secret_key'])
            errors = self.admin.apply_batch(lines, hidden) if lines else []
        except ShellError as exc:
            raise self._fail('the SeaweedFS admin shell (s3.seaweedfs_shell) failed: %s' % exc) from exc
        if lines:
            self._check_batch(work, errors)
            self._wait_for_new_keys(work)
        for tenant, ops, dummy in work:
            if ('purge_bucket', None) in ops:
                try:
                    self._purge(tenant.bucket)
                except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                    raise self._fail('purge_bucket for tenant %s failed: %s' % (tenant.id, exc)) from exc

    def _check_batch(self, work, errors):
        """Read every tenant of the batch back; name those the batch did not finish."""
        try:
            identities = self.admin.list_identities(only=set(tenant.s3_user for tenant, ops, creds in work))
            buckets = set(b['Name'] for b in self.s3.list_buckets().get('Buckets', []))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, ShellError) as exc:
            raise self._fail('reading the tenants back after the admin shell batch failed: %s' % exc) from exc
        unfinished = []
        for tenant, dummy, creds in work:
            ident = identities.get(tenant.s3_user)
            if tenant.present:
                done = (
                    tenant.bucket in buckets
                    and ident is not None
                    and ident['access_keys'] == [creds['s3_access_key']]
                    and ident['policy'] == self.admin.grant(tenant.bucket)
                )
            else:
                done = ident is None
            if not done:
                unfinished.append(tenant.id)
        if unfinished:
            raise self._fail(
                'the admin shell batch left %d tenant(s) unfinished (%s); their credentials are in Vault '
                'and a rerun completes them. Shell errors: %s'
                % (len(unfinished), ', '.join(unfinished[:10]), '; '.join(errors[:5]) or 'none printed')
            )
        if errors:
            self.warnings.append(
                "SeaweedFS's admin shell printed errors, yet every tenant reads back as planned: %s"
                % '; '.join(errors[:5])
            )

    def _wait_for_new_keys(self, work, timeout=30):
        """The gateway loads identities from the filer a moment after the shell wrote them: wait until
        it accepts the last new key, so the tenant's apps can use theirs when the module returns."""
        new = [
            (tenant, creds)
            for tenant, ops, creds in work
            if tenant.present and any(op.kind == 'create_key' for op in ops)
        ]
        if not new:
            return
        tenant, creds = new[-1]
        client = boto3.session.Session().client(
            's3',
            **dict(
                self._client_args,
                aws_access_key_id=creds['s3_access_key'],
                aws_secret_access_key=creds['s3_secret_key'],
            ),
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.list_objects_v2(Bucket=tenant.bucket, MaxKeys=1)
                return
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                if time.monotonic() > deadline:
                    raise self._fail(
                        "the S3 gateway still refused tenant %s's new key %d s after the admin shell wrote "
                        'it (%s); is the gateway reading its identities from this filer?'
                        % (tenant.id, timeout, _error_code(exc) or exc.__class__.__name__)
                    ) from exc
                time.sleep(0.2)

    def _apply_tenant(self, tenant, ops):
        """One tenant's ops; returns {"s3_access_key": ..., "s3_secret_key": ...} when a key was made."""
        made = {}
        try:
            for kind, arg in ops:
                if kind == 'create_bucket':
                    try:
                        self.s3.create_bucket(Bucket=tenant.bucket)
                    except botocore.exceptions.ClientError as exc:
                        if _error_code(exc) not in ('BucketAlreadyOwnedByYou', 'BucketAlreadyExists'):
                            raise
                elif kind == 'create_user':
                    self.admin.ensure_user(tenant.s3_user)
                elif kind == 'create_key':
                    key_id, secret = self.admin.create_key(tenant.s3_user)
                    made = {'s3_access_key': key_id, 's3_secret_key': secret}
                elif kind == 'delete_key':
                    self.admin.delete_key(tenant.s3_user, arg)
                elif kind == 'put_policy':
                    self.admin.put_policy(tenant.s3_user, arg)
                elif kind == 'delete_user':
                    self.admin.delete_user(tenant.s3_user)
                elif kind == 'purge_bucket':
                    self._purge(tenant.bucket)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._fail('%s for tenant %s failed: %s' % (kind, tenant.id, exc)) from exc
        return made

    def _purge(self, bucket):
        paginator = self.s3.get_paginator('list_objects_v2')
        for page in paginator.paginate(Bucket=bucket, PaginationConfig={'PageSize': _PURGE_PAGE}):
            keys = [{'Key': o['Key']} for o in page.get('Contents', [])]
            if keys:
                self.s3.delete_objects(Bucket=bucket, Delete={'Objects': keys, 'Quiet': True})
        self.s3.delete_bucket(Bucket=bucket)

    # ------------------------------------------------------------------ info
    def discover(self):
        try:
            identities = self.admin.list_identities()
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, ShellError) as exc:
            raise self._fail('listing identities failed: %s' % exc) from exc
        found = {}
        for bucket in sorted(self._buckets):
            tenant_id = tenant_id_from_prefixed(bucket, 'tenant-', sep='-')
            if tenant_id:
                found.setdefault(tenant_id, {})['bucket'] = bucket
        for user, ident in identities.items():
            tenant_id = tenant_id_from_prefixed(user, 'tenant-', sep='-')
            if tenant_id:
                found.setdefault(tenant_id, {})['identity'] = {
                    'name': user,
                    'access_keys': len(ident['access_keys']),
                    'policy': bool(ident['policy']),
                }
        return found
