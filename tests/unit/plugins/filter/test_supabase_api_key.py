# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The supabase_api_key filter, checked by an independent JWT implementation (PyJWT)."""

from __future__ import annotations

import jwt
import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.selfhosted_ai.stack.plugins.filter.supabase_api_key import FilterModule, supabase_api_key

SECRET = 'x' * 16 + 'Ab3-_.~' + 'y' * 17  # 40 characters
IAT, EXP = 1767225600, 2082758400


@pytest.mark.parametrize('role', ['anon', 'service_role'])
def test_pyjwt_verifies_the_signature_and_reads_the_claims(role):
    key = supabase_api_key(SECRET, role, issued_at=IAT, expires_at=EXP)
    assert isinstance(key, str) and key.count('.') == 2
    assert jwt.get_unverified_header(key) == {'alg': 'HS256', 'typ': 'JWT'}
    claims = jwt.decode(
        key, SECRET, algorithms=['HS256'], issuer='supabase', options={'require': ['exp', 'iat', 'iss']}
    )
    assert claims == {'role': role, 'iss': 'supabase', 'iat': IAT, 'exp': EXP}


def test_another_secret_does_not_verify():
    key = supabase_api_key(SECRET, 'anon', issued_at=IAT, expires_at=EXP)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(key, SECRET[:-1] + 'z', algorithms=['HS256'])


def test_same_inputs_same_key_and_a_new_secret_new_keys():
    first = supabase_api_key(SECRET, 'anon', issued_at=IAT, expires_at=EXP)
    assert supabase_api_key(SECRET, 'anon', issued_at=str(IAT), expires_at=str(EXP)) == first
    assert supabase_api_key(SECRET + 'more', 'anon', issued_at=IAT, expires_at=EXP) != first
    assert supabase_api_key(SECRET, 'service_role', issued_at=IAT, expires_at=EXP) != first


def test_pyjwt_signs_the_same_bytes():
    """Our compact serialization equals PyJWT's for the same claims in the same order."""
    claims = {'role': 'anon', 'iss': 'supabase', 'iat': IAT, 'exp': EXP}
    assert supabase_api_key(SECRET, 'anon', issued_at=IAT, expires_at=EXP) == jwt.encode(
        claims, SECRET, algorithm='HS256', headers={'typ': 'JWT'}
    )


@pytest.mark.parametrize('length', [0, 1, 31])
def test_a_short_secret_is_refused_without_showing_it(length):
    secret = '#' * length
    with pytest.raises(AnsibleFilterError, match='has %d characters; Supabase needs at least 32' % length) as info:
        supabase_api_key(secret, 'anon', issued_at=IAT, expires_at=EXP)
    assert '#' not in str(info.value)


def test_exactly_32_is_enough():
    key = supabase_api_key('k' * 32, 'anon', issued_at=IAT, expires_at=EXP)
    assert jwt.decode(key, 'k' * 32, algorithms=['HS256'])['role'] == 'anon'


@pytest.mark.parametrize(
    ('secret', 'role', 'iat', 'exp', 'message'),
    [
        (12345678901234567890123456789012345, 'anon', IAT, EXP, 'must be a string'),
        (SECRET, 'Anon; drop', IAT, EXP, 'PostgreSQL identifier'),
        (SECRET, 'anon', EXP, IAT, 'must come after'),
        (SECRET, 'anon', IAT, IAT, 'must come after'),
        (SECRET, 'anon', 'soon', EXP, 'seconds since the epoch'),
        (SECRET, 'anon', True, EXP, 'seconds since the epoch'),
    ],
)
def test_bad_input_is_refused(secret, role, iat, exp, message):
    with pytest.raises(AnsibleFilterError, match=message):
        supabase_api_key(secret, role, issued_at=iat, expires_at=exp)


def test_registered_under_its_name():
    assert FilterModule().filters()['supabase_api_key'] is supabase_api_key
