# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Valkey/Redis tenant backend (redis-py). Private to the collection.

Per tenant: an ACL user ``tenant_<id>`` limited to keys ``<id>:*`` and channels ``<id>:*``,
commands ``+@all -@dangerous`` by default (``@dangerous`` includes every ``@admin`` command:
CONFIG, ACL, DEBUG, MODULE, SHUTDOWN, KEYS, FLUSHALL, ...) less the commands that name or count
keys and channels without taking a key (ACL key patterns cannot filter their answers: SCAN,
RANDOMKEY, DBSIZE, PUBSUB CHANNELS, MEMORY STATS, ...) and FUNCTION (libraries are shared by
every user). The password is set as a
SHA-256 hash (``#<hex>``), so the server never holds it in clear text.

Layout ``db_number`` (legacy): the tenant is also told a database number; Valkey ACLs
cannot restrict SELECT, so a database number is NOT a security boundary; the key prefix
ACL is what isolates tenants, in both layouts.

Persistence ``file``: the server's aclfile is read-only for the server (the valkey role mounts
its configuration read-only), so ``ACL SAVE`` cannot work; the module, on the server's host,
writes the tenant users' lines as the server prints them (``ACL LIST``) into that file itself,
replacing only the lines of the tenants of the call. The valkey role keeps those lines when it
renders the file again.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import traceback

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_backend import Op, TenantBackend
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_common import (
    BackendError,
    Change,
    generate_password,
    tenant_id_from_prefixed,
)

try:
    import redis

    HAS_REDIS = True
    REDIS_IMPORT_ERROR = None
except ImportError:
    HAS_REDIS = False
    REDIS_IMPORT_ERROR = traceback.format_exc()

# The server may print them rewritten (-script|flush becomes -@scripting and the scripting commands allowed back):
# read() asks the server for its form of these rules (PROBE_USER) and compares tenant users with that.
DEFAULT_COMMAND_RULES = [
    '+@all',
    '-@dangerous',
    # keyless enumeration of the other tenants' key and channel names, or of their number
    '-scan',
    '-randomkey',
    '-dbsize',
    '-pubsub|channels',
    '-pubsub|numsub',
    '-pubsub|numpat',
    '-pubsub|shardchannels',
    '-pubsub|shardnumsub',
    '-memory|stats',
    '-memory|doctor',
    '-memory|malloc-stats',
    # FUNCTION LIST shows, FUNCTION LOAD/DELETE/FLUSH change, every user's libraries
    '-function',
    # the script cache and the running script are every user's: SCRIPT FLUSH empties it for all, SCRIPT KILL stops
    # another user's script, SCRIPT DEBUG SYNC blocks the server (EVAL, EVALSHA and SCRIPT LOAD stay: Bull and
    # redis-py's scripts need them)
    '-script|flush',
    '-script|kill',
    '-script|debug',
]
# A user made, read and deleted in one MULTI/EXEC (no client ever sees it; it is off, with no password or key):
# its ACL GETUSER shows how this server prints the tenants' command rules.
PROBE_USER = 'selfhosted-ai-command-rules-probe'

VALKEY_SPEC = dict(
    host=dict(type='str', default='127.0.0.1'),
    port=dict(type='int', default=6379),
    username=dict(type='str'),
    password=dict(type='str', no_log=True),
    tls=dict(type='bool', default=False),
    ca_cert=dict(type='path'),
    connect_timeout=dict(type='int', default=10),
    command_rules=dict(type='list', elements='str', default=DEFAULT_COMMAND_RULES),
    layout=dict(type='str', default='acl_prefix', choices=['acl_prefix', 'db_number']),
    db_numbers=dict(type='dict', default={}),
    persist=dict(type='str', default='auto', choices=['auto', 'acl_save', 'config_rewrite', 'file', 'none']),
    aclfile=dict(type='path'),
)

_UNLINK_BATCH = 500


def password_hash(password):
    return hashlib.sha256(password.encode('utf-8')).hexdigest()


def _text(value):
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    return value


def _tokens(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        out = []
        for item in value:
            out.extend(_text(item).split())
        return out
    return _text(value).split()


def _comparable(field, value):
    # ACL GETUSER prints command rules in an order of its own (subcommand rules first, ...), not as set.
    return sorted(value) if field == 'commands' else value


def _user_name(line):
    parts = line.split(None, 2)
    return parts[1] if len(parts) >= 2 and parts[0] == 'user' else None


def _user_lines(lines):
    """{user name: line} of the ``user ...`` lines of an aclfile or of ``ACL LIST``."""
    found = {}
    for line in lines:
        line = line.rstrip('\r\n')
        name = _user_name(line)
        if name:
            found[name] = line
    return found


def _replace_file(path, text):
    """Replace ``path`` atomically, keeping its owner, group and mode."""
    info = os.stat(path)
    handle, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), dir=os.path.dirname(path) or '.')
    try:
        with os.fdopen(handle, 'w') as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, info.st_mode & 0o7777)
        try:
            os.chown(tmp, info.st_uid, info.st_gid)
        except OSError:
            if os.geteuid() == 0:
                raise
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class ValkeyTenantBackend(TenantBackend):
    name = 'valkey'
    argument_spec = VALKEY_SPEC
    library = 'redis'
    library_error = REDIS_IMPORT_ERROR
    order = 30

    def __init__(self, options):
        super().__init__(options)
        self.client = None
        # the command rules as this server prints them (read(); the rules as given until then)
        self.printed_rules = list(options['command_rules'])
        for rule in options['command_rules']:
            if not rule or any(c.isspace() for c in rule) or rule[0] not in '+-':
                raise BackendError(
                    self.name,
                    self.address,
                    'command rule %r must be one ACL token starting with + or - (such as +@read or -flushall)' % rule,
                )
        if options['persist'] == 'file' and not options.get('aclfile'):
            raise BackendError(
                self.name,
                self.address,
                "persist=file needs aclfile: the path of the server's ACL file on "
                "this host (the valkey role's is /etc/selfhosted_ai/valkey/users.acl)",
            )
        if options['layout'] == 'db_number':
            self.warnings.append(
                'valkey layout db_number: a database number is NOT a security boundary (ACLs cannot '
                'restrict SELECT); tenants are isolated by their ACL key prefix only'
            )

    @classmethod
    def keeps_credentials(cls, options):
        return True

    @property
    def address(self):
        return '%s:%s' % (self.options['host'], self.options['port'])

    def connect(self):
        kwargs = dict(
            host=self.options['host'],
            port=self.options['port'],
            password=self.options.get('password'),
            username=self.options.get('username'),
            socket_connect_timeout=self.options['connect_timeout'],
            socket_timeout=max(30, self.options['connect_timeout']),
            decode_responses=False,
        )
        if self.options['tls']:
            kwargs['ssl'] = True
            if self.options.get('ca_cert'):
                kwargs['ssl_ca_certs'] = self.options['ca_cert']
        try:
            self.client = redis.Redis(**kwargs)
            self.client.ping()
        except redis.RedisError as exc:
            raise self._fail('cannot connect: %s' % exc) from exc

    def close(self):
        if self.client is not None:
            self.client.close()
            self.client = None

    # ------------------------------------------------------------------ read
    def read(self, tenants):
        self.printed_rules = self._printed_rules()
        try:
            pipe = self.client.pipeline(transaction=False)
            for tenant in tenants:
                pipe.execute_command('ACL', 'GETUSER', tenant.valkey_user)  # raw reply: rules in server order
            answers = pipe.execute()
        except redis.RedisError as exc:
            raise self._fail('ACL GETUSER failed (the login user needs the @admin category): %s' % exc) from exc
        lines = self._persisted_lines() if self.options['persist'] == 'file' else None
        state = {}
        for tenant, raw in zip(tenants, answers, strict=True):  # one pipeline answer per command
            persisted = None
            if lines is not None:
                persisted = {'file': lines[0].get(tenant.valkey_user), 'live': lines[1].get(tenant.valkey_user)}
            if raw is None:
                state[tenant.id] = {'user': None}
                if persisted is not None:
                    state[tenant.id]['persisted'] = persisted
                continue
            data = self._fields(raw)
            flags = [_text(f) for f in data.get('flags', [])]
            state[tenant.id] = {
                'user': {
                    'enabled': 'on' in flags,
                    'passwords': [_text(p) for p in data.get('passwords', [])],
                    'keys': _tokens(data.get('keys')),
                    'channels': _tokens(data.get('channels')),
                    'commands': _tokens(data.get('commands')),
                    'selectors': len(data.get('selectors') or []),
                }
            }
            if persisted is not None:
                state[tenant.id]['persisted'] = persisted
        return state

    def _printed_rules(self):
        """The command rules in the form ACL GETUSER prints them on this server (PROBE_USER); a rule the server
        does not know fails here, before any change."""
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.execute_command('ACL SETUSER', PROBE_USER, 'reset', 'off', *self.options['command_rules'])
            pipe.execute_command('ACL', 'GETUSER', PROBE_USER)
            pipe.execute_command('ACL DELUSER', PROBE_USER)
            dummy, raw, dummy = pipe.execute()
        except redis.RedisError as exc:
            raise self._fail(
                'the server refused the command rules %s: %s' % (' '.join(self.options['command_rules']), exc)
            ) from exc
        return _tokens(self._fields(raw).get('commands'))

    def _persisted_lines(self):
        """({user: line} of the aclfile, {user: line} of ACL LIST), for persist=file."""
        path = self.options['aclfile']
        try:
            with open(path) as handle:
                text = handle.read()
        except OSError as exc:
            raise self._fail(
                "cannot read the aclfile %s (persist=file; run the module on the server's host, as root): %s"
                % (path, exc)
            ) from exc
        try:
            live = [_text(line) for line in self.client.execute_command('ACL', 'LIST')]
        except redis.RedisError as exc:
            raise self._fail('ACL LIST failed: %s' % exc) from exc
        return _user_lines(text.splitlines()), _user_lines(live)

    @staticmethod
    def _fields(raw):
        """{field name: value} of a raw ACL GETUSER reply (a map with RESP3, a flat list with RESP2)."""
        pairs = raw.items() if isinstance(raw, dict) else zip(raw[0::2], raw[1::2], strict=False)
        return dict((_text(k), v) for k, v in pairs)

    def public_view(self, tenant, current):
        user = current.get('user')
        if user is None:
            return {'user': None}
        view = dict(user)
        view['passwords'] = len(user['passwords'])  # how many hashes, never the hashes
        return {'user': view}

    # ------------------------------------------------------------------ plan
    def fill_credentials(self, tenant, wanted):
        wanted.setdefault('valkey_user', tenant.valkey_user)
        wanted['valkey_key_prefix'] = tenant.key_prefix
        if not wanted.get('valkey_password'):
            wanted['valkey_password'] = generate_password()
        db_map = self.options.get('db_numbers') or {}
        if self.options.get('layout') == 'db_number' and tenant.id in db_map:
            wanted['valkey_db'] = str(db_map[tenant.id])

    def desired_user(self, tenant, password):
        return {
            'enabled': True,
            'passwords': [password_hash(password)],
            'keys': ['~%s*' % tenant.key_prefix],
            'channels': ['&%s*' % tenant.key_prefix],
            'commands': list(self.printed_rules),
            'selectors': 0,
        }

    def plan(self, tenant, current, creds):
        change = Change()
        user = current['user']
        change.before = self.public_view(tenant, current)
        ops = []
        if tenant.present:
            want = self.desired_user(tenant, creds['valkey_password'])
            if user is None:
                change.add('create ACL user %s' % tenant.valkey_user)
            else:
                for field in ('enabled', 'passwords', 'keys', 'channels', 'commands', 'selectors'):
                    if _comparable(field, user[field]) != _comparable(field, want[field]):
                        change.add('update ACL user %s: %s' % (tenant.valkey_user, field))
            if change.changed:
                ops.append(
                    Op(
                        'setuser',
                        ['reset', 'on', '#' + want['passwords'][0], want['keys'][0], want['channels'][0]]
                        + list(self.options['command_rules']),
                    )
                )
            elif 'persisted' in current and current['persisted']['file'] != current['persisted']['live']:
                ops.append(Op('persist'))
                change.add('write ACL user %s to %s' % (tenant.valkey_user, self.options['aclfile']))
            change.after = self.public_view(tenant, {'user': want})
        else:
            if user is not None:
                ops.append(Op('deluser'))
                change.add('delete ACL user %s (disconnects its clients)' % tenant.valkey_user)
            elif 'persisted' in current and current['persisted']['file'] is not None:
                ops.append(Op('persist'))
                change.add('remove ACL user %s from %s' % (tenant.valkey_user, self.options['aclfile']))
            if tenant.purge:
                ops.append(Op('purge'))
            change.after = {'user': None}
        return change, ops

    @staticmethod
    def _match(tenant):
        # the prefix holds only [a-z0-9_:], none of which is a glob character
        return '%s*' % tenant.key_prefix

    # ------------------------------------------------------------------ act
    def apply(self, batch):
        """One pipeline for every tenant's ACL change, then purges, then persistence."""
        try:
            pipe = self.client.pipeline(transaction=False)
            queued = 0
            purges = []
            for tenant, ops, dummy in batch:
                for kind, args in ops:
                    if kind == 'setuser':
                        pipe.execute_command('ACL SETUSER', tenant.valkey_user, *args)
                        queued += 1
                    elif kind == 'deluser':
                        pipe.execute_command('ACL DELUSER', tenant.valkey_user)
                        queued += 1
                    elif kind == 'purge':
                        purges.append(tenant)
            if queued:
                pipe.execute()
            for tenant in purges:
                self._purge(tenant)
            if self.options['persist'] == 'file':
                touched = [
                    work.tenant
                    for work in batch
                    if any(op.kind in ('setuser', 'deluser', 'persist') for op in work.ops)
                ]
                if touched:
                    self._persist_file(touched)
            elif queued:
                self._persist()
        except redis.RedisError as exc:
            raise self._fail(str(exc)) from exc
        return {}

    def _persist_file(self, tenants):
        """Write the live lines of these tenants' users into the aclfile; every other line stays as it is."""
        path = self.options['aclfile']
        live = _user_lines(_text(line) for line in self.client.execute_command('ACL', 'LIST'))
        names = [t.valkey_user for t in tenants]
        try:
            with open(path) as handle:
                old_text = handle.read()
            out, seen = [], set()
            for line in old_text.splitlines():
                name = _user_name(line)
                if name in names:
                    seen.add(name)
                    if live.get(name):
                        out.append(live[name])
                    continue
                out.append(line)
            out.extend(live[name] for name in names if name not in seen and live.get(name))
            new_text = ''.join(line + '\n' for line in out)
            if new_text != old_text:
                _replace_file(path, new_text)
        except OSError as exc:
            raise self._fail(
                'the ACL change is live but writing the aclfile %s failed (it is lost on restart; '
                'run the module again): %s' % (path, exc)
            ) from exc

    def _purge(self, tenant):
        batch = []
        for key in self.client.scan_iter(match=self._match(tenant), count=1000):
            batch.append(key)
            if len(batch) >= _UNLINK_BATCH:
                self.client.unlink(*batch)
                batch = []
        if batch:
            self.client.unlink(*batch)

    def _persist(self):
        mode = self.options['persist']
        if mode == 'none':
            return
        if mode == 'auto':
            try:
                aclfile = self.client.config_get('aclfile')
                aclfile = _text(aclfile.get(b'aclfile', aclfile.get('aclfile', '')))
            except redis.RedisError:
                aclfile = ''
            mode = 'acl_save' if aclfile else 'config_rewrite'
        try:
            if mode == 'acl_save':
                self.client.execute_command('ACL SAVE')
            else:
                self.client.config_rewrite()
        except redis.RedisError as exc:
            self.warnings.append(
                'valkey: ACL changes are live but were not persisted (%s failed: %s); '
                'they are lost on restart unless the server config holds them' % (mode, exc)
            )

    # ------------------------------------------------------------------ info
    def discover(self):
        try:
            names = [_text(n) for n in self.client.execute_command('ACL USERS')]
        except redis.RedisError as exc:
            raise self._fail('ACL USERS failed: %s' % exc) from exc
        found = {}
        for name in names:
            tenant_id = tenant_id_from_prefixed(name, 'tenant_')
            if tenant_id:
                found[tenant_id] = {'user': name}
        return found
