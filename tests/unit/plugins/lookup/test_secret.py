# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the selfhosted_ai.stack.secret lookup, its generator and its file backend.

The Vault backend runs against a real OpenBao in tests/integration/secrets/.
"""

from __future__ import annotations

import base64
import binascii
import collections
import errno
import json
import multiprocessing
import os
import stat
import string
import subprocess
import sys
import textwrap

import pytest

from ansible.errors import AnsibleError, AnsibleLookupError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.selfhosted_ai.stack.plugins.module_utils import _vault
from ansible_collections.selfhosted_ai.stack.plugins.plugin_utils import _secret_backends as backends
from ansible_collections.selfhosted_ai.stack.plugins.plugin_utils import _secret_gen as gen

FQCN = 'selfhosted_ai.stack.secret'


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No Vault/OpenBao or lookup settings leak in from the shell running the tests."""
    for key in list(os.environ):
        if key.startswith(('VAULT_', 'BAO_', 'SELFHOSTED_AI_')):
            monkeypatch.delenv(key)


@pytest.fixture
def secret(lookup_plugin):
    return lookup_plugin(FQCN)


@pytest.fixture
def inventory(tmp_path):
    """An inventory directory, like the one inventory_dir points at."""
    inv = tmp_path / 'inventory'
    inv.mkdir()
    return inv


def stored(path):
    with open(str(path)) as handle:
        return json.load(handle)


def mode(path):
    return stat.S_IMODE(os.lstat(str(path)).st_mode)


# --------------------------------------------------------------------------- generation


@pytest.mark.parametrize('charset', sorted(gen.CHARSETS))
def test_password_uses_only_its_charset_and_length(charset):
    for length in (4 if charset == 'complex' else 1, 17, 64):
        value = gen.password(length, charset)
        assert len(value) == length
        assert set(value) <= set(gen.CHARSETS[charset])


def test_complex_passwords_hold_every_class():
    # At length 4 most draws miss a class: the redraw must still return a value with all four.
    for length in (4, 5, 24):
        for dummy in range(200):
            value = gen.password(length, 'complex')
            assert all(set(value) & set(group) for group in gen.COMPLEX_CLASSES), value


def test_complex_passwords_need_room_for_every_class():
    with pytest.raises(gen.SecretSpecError, match='at least 4'):
        gen.field_generators(length=3, charset='complex')


def test_charsets_have_expected_sizes():
    assert len(gen.CHARSETS['alnum']) == 62
    assert len(gen.CHARSETS['hex']) == 16
    assert len(gen.CHARSETS['base64']) == 64
    assert len(gen.CHARSETS['urlsafe']) == 64
    assert len(gen.CHARSETS['bcrypt_salt']) == 64
    assert set(gen.CHARSETS['ascii_printable']) == set(string.printable) - set(string.whitespace)


def test_password_characters_are_roughly_uniform():
    # 62 symbols x 400 expected occurrences: a fair CSPRNG stays far inside these bounds
    # (5 standard deviations is about +-100), a biased or constant generator does not.
    sample = ''.join(gen.password(100, 'alnum') for dummy in range(248))
    counts = collections.Counter(sample)
    assert set(counts) == set(gen.CHARSETS['alnum'])
    assert min(counts.values()) > 250
    assert max(counts.values()) < 550


def test_generated_values_do_not_repeat():
    for fmt in ('hex', 'base64', 'base64url', 'jwt_secret'):
        values = set(gen.random_bytes_encoded(32, fmt) for dummy in range(300))
        assert len(values) == 300, fmt
    assert len(set(gen.password(12) for dummy in range(300))) == 300


@pytest.mark.parametrize('length', [1, 16, 32, 33])
def test_byte_formats_encode_length_random_bytes(length):
    value = gen.random_bytes_encoded(length, 'hex')
    assert len(value) == 2 * length and len(binascii.unhexlify(value)) == length
    value = gen.random_bytes_encoded(length, 'base64')
    assert len(base64.b64decode(value, validate=True)) == length
    value = gen.random_bytes_encoded(length, 'base64url')
    assert '=' not in value and set(value) <= set(gen.CHARSETS['urlsafe'])
    assert len(base64.urlsafe_b64decode(value + '=' * (-len(value) % 4))) == length


def test_jwt_secret_has_at_least_256_bits():
    value = gen.random_bytes_encoded(32, 'jwt_secret')
    assert len(base64.urlsafe_b64decode(value + '=' * (-len(value) % 4))) == 32
    assert len(value) >= 32  # also long enough where the string itself is the HMAC key
    with pytest.raises(gen.SecretSpecError, match='at least 32'):
        gen.random_bytes_encoded(31, 'jwt_secret')
    with pytest.raises(gen.SecretSpecError, match='at least 32'):
        gen.field_generators(fmt='jwt_secret', length=16)


def test_entropy_of_defaults():
    assert gen.entropy_bits(32) > 190
    assert gen.entropy_bits(32, 'hex') == 256


@pytest.mark.parametrize(
    'kwargs, match',
    [
        (dict(length=0), 'between'),
        (dict(length=4097), 'between'),
        (dict(length=True), 'integer'),
        (dict(length='12'), 'integer'),
        (dict(charset='emoji'), 'unknown charset'),
        (dict(chars='aaaa'), 'two different'),
        (dict(chars='ab\x00'), 'control'),
        (dict(fmt='uuid'), 'unknown format'),
        (dict(fmt='credentials', username=''), 'username'),
        (dict(field=''), 'field must be'),
        (dict(field='a\nb'), 'field must be'),
        (dict(prefix='pk lf'), 'prefix must be'),
        (dict(prefix='x' * 65), 'prefix must be'),
        (dict(prefix=7), 'prefix must be'),
        (dict(fmt='credentials', username='u', prefix='pk-'), 'not used with format=credentials'),
    ],
)
def test_bad_generation_options_are_refused(kwargs, match):
    with pytest.raises(gen.SecretSpecError, match=match):
        gen.field_generators(**kwargs)


def test_custom_chars_and_credentials():
    value = gen.password(50, chars='xyz')
    assert set(value) <= set('xyz') and len(value) == 50
    fields = gen.field_generators(fmt='credentials', length=20, username='langfuse')
    assert sorted(fields) == ['password', 'username']
    assert fields['username']() == 'langfuse' and len(fields['password']()) == 20


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize('name', ['n8n/encryption_key', 'a', 'postgres/db-1/owner.password', 'A_b-9.x'])
def test_valid_names(name):
    assert backends.validate_name(name) == name


@pytest.mark.parametrize(
    'name',
    [
        '',
        '/etc/passwd',
        '../escape',
        'a/../../b',
        'a/..',
        'a//b',
        'a/',
        '.hidden',
        'a/.git',
        'a b',
        'a\nb',
        'a\\b',
        '~root/x',
        'x;rm',
        'caf\u00e9',
        'a' * 201,
        './a',
        '-rf',
    ],
)
def test_traversal_and_odd_names_are_refused(name):
    with pytest.raises(backends.SecretBackendError, match='invalid secret name|non-empty'):
        backends.validate_name(name)


def test_lookup_refuses_traversal_before_touching_disk(secret, inventory, tmp_path):
    for name in ('../outside', '/tmp/abs', 'ok/../../outside'):
        with pytest.raises(AnsibleLookupError, match='invalid secret name'):
            secret.run([name], variables={'inventory_dir': str(inventory)})
    assert not (inventory / '.secrets').exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['inventory']


# --------------------------------------------------------------------------- file backend


def test_file_backend_creates_private_files_once(secret, inventory):
    variables = {'inventory_dir': str(inventory)}
    first = secret.run(['n8n/encryption_key'], variables=variables, length=48)[0]
    assert len(first) == 48 and set(first) <= set(gen.CHARSETS['alnum'])
    root = inventory / '.secrets'
    path = root / 'n8n' / 'encryption_key.json'
    assert mode(root) == 0o700 and mode(root / 'n8n') == 0o700
    assert mode(path) == 0o600
    assert stored(path) == {'value': first}
    assert (root / '.gitignore').read_text().strip().endswith('*')
    # later calls, also from new plugin instances and with other generation options, read it back
    assert secret.run(['n8n/encryption_key'], variables=variables, length=48)[0] == first
    assert secret.run(['n8n/encryption_key'], variables=variables, length=8, charset='digits')[0] == first
    assert sorted(os.listdir(str(root / 'n8n'))) == ['encryption_key.json']  # no temp files left


def test_file_backend_permissions_ignore_a_loose_umask(secret, inventory):
    old = os.umask(0)
    try:
        secret.run(['a/b/c'], variables={'inventory_dir': str(inventory)})
    finally:
        os.umask(old)
    root = inventory / '.secrets'
    assert [mode(p) for p in (root, root / 'a', root / 'a' / 'b')] == [0o700] * 3
    assert mode(root / 'a' / 'b' / 'c.json') == 0o600


def test_two_instances_agree_and_formats_round_trip(lookup_plugin, inventory):
    variables = {'inventory_dir': str(inventory)}
    values = lookup_plugin(FQCN).run(['k/hex', 'k/jwt', 'k/b64'], variables=variables, format='hex')
    again = lookup_plugin(FQCN).run(['k/hex', 'k/jwt', 'k/b64'], variables=variables, format='hex')
    assert values == again
    assert all(len(v) == 64 and set(v) <= set(string.hexdigits.lower()) for v in values)
    jwt = lookup_plugin(FQCN).run(['k/jwt2'], variables=variables, format='jwt_secret', length=48)[0]
    assert len(jwt) == 64


def test_credentials_record(secret, inventory):
    variables = {'inventory_dir': str(inventory)}
    record = secret.run(['postgres/langfuse'], variables=variables, format='credentials')[0]
    assert record['username'] == 'langfuse' and len(record['password']) == 32
    assert stored(inventory / '.secrets' / 'postgres' / 'langfuse.json') == record
    named = secret.run(['postgres/other'], variables=variables, format='credentials', username='app')[0]
    assert named['username'] == 'app'
    assert secret.run(['postgres/langfuse'], variables=variables, format='credentials')[0] == record


def test_prefixed_api_keys_are_stored_whole_in_one_record(secret, inventory):
    variables = {'inventory_dir': str(inventory)}
    public = secret.run(['langfuse/keys'], variables=variables, field='public_key', prefix='pk-lf-')[0]
    private = secret.run(['langfuse/keys'], variables=variables, field='secret_key', prefix='sk-lf-', length=40)[0]
    assert public.startswith('pk-lf-') and len(public) == len('pk-lf-') + 32
    assert private.startswith('sk-lf-') and len(private) == len('sk-lf-') + 40
    assert stored(inventory / '.secrets' / 'langfuse' / 'keys.json') == {'public_key': public, 'secret_key': private}
    # An existing value is returned as stored: the prefix only shapes what is generated.
    assert secret.run(['langfuse/keys'], variables=variables, field='public_key', prefix='other-')[0] == public
    hex_key = secret.run(['langfuse/hex'], variables=variables, format='hex', prefix='0x')[0]
    assert hex_key.startswith('0x') and len(hex_key) == 66


def test_fields_are_added_never_changed(secret, inventory):
    variables = {'inventory_dir': str(inventory)}
    key = secret.run(['n8n'], variables=variables, field='encryption_key')[0]
    jwt = secret.run(['n8n'], variables=variables, field='jwt', format='jwt_secret')[0]
    assert stored(inventory / '.secrets' / 'n8n.json') == {'encryption_key': key, 'jwt': jwt}
    assert secret.run(['n8n'], variables=variables, field='encryption_key')[0] == key


def _race(directory, barrier, queue):
    backend = backends.FileSecretBackend(directory)
    barrier.wait(timeout=30)
    fields, created = backend.get_or_create('race/key', gen.field_generators(length=40))
    queue.put((fields['value'], created))


def test_concurrent_first_calls_return_one_value(tmp_path):
    directory = str(tmp_path / 'secrets')
    ctx = multiprocessing.get_context('fork')
    workers = 8
    barrier, queue = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(directory, barrier, queue)) for dummy in range(workers)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=60) for dummy in range(workers)]
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    values = set(value for value, created in results)
    assert len(values) == 1
    assert sum(1 for value, created in results if created) == 1
    assert stored(tmp_path / 'secrets' / 'race' / 'key.json') == {'value': values.pop()}
    assert os.listdir(str(tmp_path / 'secrets' / 'race')) == ['key.json']


def test_losing_the_create_race_returns_the_winner(tmp_path, monkeypatch):
    backend = backends.FileSecretBackend(str(tmp_path / 's'))
    winner = backends.FileSecretBackend(str(tmp_path / 's'))
    real_create = backends.FileSecretBackend._create_exclusive

    def create_after_winner(self, path, data):
        if self is backend:  # the other run creates the file between our read and our create
            winner.get_or_create('x', gen.field_generators())
        return real_create(self, path, data)

    monkeypatch.setattr(backends.FileSecretBackend, '_create_exclusive', create_after_winner)
    fields, created = backend.get_or_create('x', gen.field_generators())
    assert created is False
    assert fields == stored(tmp_path / 's' / 'x.json')


def test_without_hard_links_exclusive_create_still_works(tmp_path, monkeypatch):
    def no_link(src, dst):
        raise OSError(errno.EPERM, 'Operation not permitted')

    monkeypatch.setattr(backends.os, 'link', no_link)
    backend = backends.FileSecretBackend(str(tmp_path / 's'))
    first, created = backend.get_or_create('x', gen.field_generators())
    assert created is True and mode(tmp_path / 's' / 'x.json') == 0o600
    assert backend.get_or_create('x', gen.field_generators()) == (first, False)
    assert os.listdir(str(tmp_path / 's')) == ['.gitignore', 'x.json'] or sorted(os.listdir(str(tmp_path / 's'))) == [
        '.gitignore',
        'x.json',
    ]


def test_loose_directory_mode_is_refused(secret, inventory):
    root = inventory / '.secrets'
    root.mkdir(mode=0o755)
    os.chmod(str(root), 0o755)
    with pytest.raises(AnsibleLookupError, match='mode 0755.*chmod 700'):
        secret.run(['x'], variables={'inventory_dir': str(inventory)})
    assert os.listdir(str(root)) == []


def test_loose_file_mode_is_refused_without_leaking_the_value(secret, inventory):
    variables = {'inventory_dir': str(inventory)}
    value = secret.run(['x'], variables=variables)[0]
    path = inventory / '.secrets' / 'x.json'
    os.chmod(str(path), 0o644)
    with pytest.raises(AnsibleLookupError) as failure:
        secret.run(['x'], variables=variables)
    assert 'chmod 600' in str(failure.value)
    assert value not in str(failure.value)


def test_symlinks_below_the_root_are_refused(secret, inventory, tmp_path):
    variables = {'inventory_dir': str(inventory)}
    secret.run(['x'], variables=variables)
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir(mode=0o700)
    (elsewhere / 'y.json').write_text('{"value": "planted"}')
    os.chmod(str(elsewhere / 'y.json'), 0o600)
    os.symlink(str(elsewhere / 'y.json'), str(inventory / '.secrets' / 'y.json'))
    with pytest.raises(AnsibleLookupError, match='symbolic link'):
        secret.run(['y'], variables=variables)
    os.symlink(str(elsewhere), str(inventory / '.secrets' / 'sub'))
    with pytest.raises(AnsibleLookupError, match='not a directory'):
        secret.run(['sub/y'], variables=variables)


def test_corrupt_file_is_reported_not_overwritten(secret, inventory):
    variables = {'inventory_dir': str(inventory)}
    secret.run(['x'], variables=variables)
    path = inventory / '.secrets' / 'x.json'
    path.write_text('not json')
    with pytest.raises(AnsibleLookupError, match='not a JSON object'):
        secret.run(['x'], variables=variables)
    assert path.read_text() == 'not json'


def test_check_mode_generates_without_storing(secret, inventory):
    variables = {'inventory_dir': str(inventory), 'ansible_check_mode': True}
    value = secret.run(['check/new'], variables=variables)[0]
    assert len(value) == 32
    assert not (inventory / '.secrets').exists()
    # existing secrets are read as usual in check mode
    real = secret.run(['check/old'], variables={'inventory_dir': str(inventory)})[0]
    assert secret.run(['check/old'], variables=variables)[0] == real
    assert not (inventory / '.secrets' / 'check' / 'new.json').exists()
    stored_now = secret.run(['check/new'], variables=variables, write_in_check_mode=True)[0]
    assert stored(inventory / '.secrets' / 'check' / 'new.json') == {'value': stored_now}


# --------------------------------------------------------------------------- lookup options


def test_default_dir_is_next_to_the_inventory_and_required(secret, inventory):
    with pytest.raises(AnsibleLookupError, match='needs secret_dir'):
        secret.run(['x'], variables={})
    secret.run(['x'], variables={'inventory_dir': str(inventory)})
    assert (inventory / '.secrets' / 'x.json').is_file()


def test_secret_dir_from_env_vars_and_kwargs(secret, tmp_path, monkeypatch):
    dirs = dict((k, tmp_path / k) for k in ('env', 'var', 'kwarg'))
    monkeypatch.setenv('SELFHOSTED_AI_SECRET_DIR', str(dirs['env']))
    secret.run(['a'], variables={})
    assert (dirs['env'] / 'a.json').is_file()
    secret.run(['b'], variables={'selfhosted_ai_secret_dir': str(dirs['var'])})  # vars beat env
    assert (dirs['var'] / 'b.json').is_file() and not (dirs['env'] / 'b.json').exists()
    secret.run(['c'], variables={'selfhosted_ai_secret_dir': str(dirs['var'])}, secret_dir=str(dirs['kwarg']))
    assert (dirs['kwarg'] / 'c.json').is_file() and not (dirs['var'] / 'c.json').exists()


def test_relative_secret_dir_is_relative_to_the_inventory(secret, inventory):
    secret.run(['a'], variables={'inventory_dir': str(inventory), 'selfhosted_ai_secret_dir': 'private'})
    assert (inventory / 'private' / 'a.json').is_file()


def test_vault_options_from_env_vars_and_kwargs(secret, monkeypatch):
    monkeypatch.setenv('VAULT_ADDR', 'http://vault-env:8200')
    monkeypatch.setenv('VAULT_TOKEN', 'env-token')
    monkeypatch.setenv('VAULT_NAMESPACE', 'team1')
    secret.set_options(var_options={}, direct={'backend': 'vault'})
    backend = secret._backend({})
    assert isinstance(backend, backends.VaultSecretBackend)
    conn = backend.connection
    assert (conn.url, conn.token, conn.namespace) == ('http://vault-env:8200', 'env-token', 'team1')
    assert (backend.mount_point, backend.path_prefix) == ('secret', 'selfhosted_ai')
    assert conn.effective_auth_method == 'token' and conn.validate_certs is True

    monkeypatch.setenv('BAO_ADDR', 'http://bao-env:8200')  # BAO_* wins over VAULT_*
    secret.set_options(var_options={}, direct={'backend': 'vault'})
    assert secret._backend({}).connection.url == 'http://bao-env:8200'

    variables = {
        'selfhosted_ai_secret_backend': 'vault',
        'selfhosted_ai_vault_url': 'https://vars:8200',
        'selfhosted_ai_vault_role_id': 'rid',
        'selfhosted_ai_vault_secret_id': 'sid',
        'selfhosted_ai_vault_mount_point': 'kv',
        'selfhosted_ai_secret_path_prefix': 'lab/ai',
        'selfhosted_ai_vault_validate_certs': False,
    }
    secret.set_options(var_options=variables, direct={})
    backend = secret._backend(variables)
    conn = backend.connection
    assert (conn.url, conn.effective_auth_method, conn.role_id, conn.secret_id) == (
        'https://vars:8200',
        'approle',
        'rid',
        'sid',
    )
    assert (backend.mount_point, backend.path_prefix, conn.validate_certs) == ('kv', 'lab/ai', False)
    assert backend.path('x/y') == 'lab/ai/x/y'

    secret.set_options(var_options=variables, direct={'url': 'https://kwarg:8200', 'mount_point': 'other'})
    backend = secret._backend(variables)
    assert (backend.connection.url, backend.mount_point) == ('https://kwarg:8200', 'other')


def test_skip_verify_env_turns_off_verification(secret, monkeypatch):
    monkeypatch.setenv('BAO_ADDR', 'https://bao:8200')
    monkeypatch.setenv('BAO_TOKEN', 't')
    monkeypatch.setenv('BAO_SKIP_VERIFY', 'true')
    secret.set_options(var_options={}, direct={'backend': 'vault'})
    assert secret._backend({}).connection.validate_certs is False


def test_vault_backend_without_url_or_token_fails_clearly(secret):
    with pytest.raises(AnsibleLookupError, match='no Vault/OpenBao URL'):
        secret.run(['x'], variables={}, backend='vault')
    with pytest.raises(AnsibleLookupError, match='no token for http://127.0.0.1:1'):
        secret.run(['x'], variables={}, backend='vault', url='http://127.0.0.1:1')


def test_the_file_backend_never_imports_hvac(inventory):
    """hvac is imported by the first Vault connection: a task that reads the file backend does not pay its import."""
    script = textwrap.dedent(
        """
        import sys
        from ansible.plugins.loader import init_plugin_loader, lookup_loader
        init_plugin_loader([sys.argv[1]])
        secret = lookup_loader.get('selfhosted_ai.stack.secret')
        assert len(secret.run(['app/password'], variables={'inventory_dir': sys.argv[2]}, backend='file')[0]) == 32
        print(sorted(name for name in sys.modules if name.split('.')[0] in ('hvac', 'requests')))
        """
    )
    collections = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', '.collections')
    run = subprocess.run(
        [sys.executable, '-c', script, os.path.abspath(collections), str(inventory)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == '[]'
    assert (inventory / '.secrets').is_dir()


def test_missing_hvac_is_reported(secret, monkeypatch):
    monkeypatch.setattr(_vault, 'HAS_HVAC', False)
    monkeypatch.setattr(_vault, 'HVAC_IMPORT_ERROR', "ModuleNotFoundError: No module named 'hvac'")
    with pytest.raises(AnsibleLookupError, match='library hvac is required.*pip install hvac'):
        secret.run(['x'], variables={}, backend='vault', url='http://127.0.0.1:1', token='t')


def test_bad_options_fail_before_anything_is_stored(secret, inventory):
    variables = {'inventory_dir': str(inventory)}
    with pytest.raises(AnsibleLookupError, match='at least 32'):
        secret.run(['j'], variables=variables, format='jwt_secret', length=8)
    with pytest.raises(AnsibleError, match="Invalid value 'emoji'"):
        secret.run(['j'], variables=variables, charset='emoji')
    with pytest.raises(AnsibleLookupError, match='two different'):
        secret.run(['j'], variables=variables, chars='zzz')
    assert not (inventory / '.secrets').exists()


def test_values_are_unsafe_and_never_templated(secret, inventory):
    variables = {'inventory_dir': str(inventory)}
    root = inventory / '.secrets'
    secret.run(['seed'], variables=variables)
    payload = '{{ 6 * 7 }}{% if true %}x{% endif %}'
    path = root / 'planted.json'
    path.write_text(json.dumps({'value': payload, 'password': payload, 'username': 'u'}))
    os.chmod(str(path), 0o600)
    value = secret.run(['planted'], variables=variables)[0]
    record = secret.run(['planted'], variables=variables, format='credentials')[0]
    templar = Templar(loader=DataLoader(), variables={'value': value, 'record': record})
    assert templar.template(trust_as_template('{{ value }}')) == payload
    assert templar.template(trust_as_template('{{ record.password }}')) == payload
    assert templar.template(trust_as_template(payload)) == '42x'  # the payload would render if trusted
    assert templar.template(value) == payload  # even when the value itself is used as a template


@pytest.mark.parametrize(
    'variables, env, kwargs, origin',
    [
        ({'selfhosted_ai_secret_backend': 'vaultt'}, {}, {}, 'the variable selfhosted_ai_secret_backend'),
        ({'selfhosted_ai_secret_backend': ''}, {}, {}, 'the variable selfhosted_ai_secret_backend'),
        ({}, {'SELFHOSTED_AI_SECRET_BACKEND': 'consul'}, {}, 'the environment variable SELFHOSTED_AI_SECRET_BACKEND'),
        ({'selfhosted_ai_secret_backend': 'file'}, {}, {'backend': 'openbao'}, 'the lookup argument backend'),
    ],
    ids=['variable', 'empty-variable', 'environment', 'argument'],
)
def test_an_unknown_backend_names_its_source_before_anything_is_written(
    secret, inventory, monkeypatch, variables, env, kwargs, origin
):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    variables = dict(variables, inventory_dir=str(inventory))
    with pytest.raises(
        AnsibleLookupError, match="unknown secret backend '.*' from %s; set it to file or vault" % origin
    ):
        secret.run(['x'], variables=variables, **kwargs)
    assert os.listdir(str(inventory)) == []


def test_the_backend_precedence_is_argument_variable_environment(secret, inventory, monkeypatch):
    monkeypatch.setenv('SELFHOSTED_AI_SECRET_BACKEND', 'vault')  # overridden by the variable
    variables = {'selfhosted_ai_secret_backend': 'file', 'inventory_dir': str(inventory)}
    secret.run(['x'], variables=variables)
    assert sorted(os.listdir(str(inventory / '.secrets'))) == ['.gitignore', 'x.json']
    # a valid argument wins over a bad variable
    secret.run(['y'], variables=dict(variables, selfhosted_ai_secret_backend='bogus'), backend='file')
    assert 'y.json' in os.listdir(str(inventory / '.secrets'))


def test_templated_variables_render_and_vault_ones_only_for_vault(secret, inventory):
    """The lookup templates the variables it reads; with backend=file the Vault ones are never evaluated."""
    variables = {
        'inventory_dir': str(inventory),
        'where': 'kept',
        'selfhosted_ai_secret_backend': trust_as_template("{{ 'fi' ~ 'le' }}"),
        'selfhosted_ai_secret_dir': trust_as_template('{{ where }}'),
        'selfhosted_ai_vault_url': trust_as_template('{{ undefined_on_purpose }}'),
    }
    secret._templar = Templar(loader=DataLoader(), variables=variables)
    secret.run(['x'], variables=variables)
    assert os.path.isfile(str(inventory / 'kept' / 'x.json'))
    variables['selfhosted_ai_secret_backend'] = 'vault'
    with pytest.raises(AnsibleError, match='undefined_on_purpose'):
        secret.run(['x'], variables=variables)
