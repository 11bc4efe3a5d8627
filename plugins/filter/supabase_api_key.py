# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


DOCUMENTATION = r"""
name: supabase_api_key
short_description: A Supabase API key (anon, service_role) signed HS256 with the JWT secret
version_added: 0.1.0
author:
  - selfhosted_ai.stack maintainers (@selfhosted-ai)
description:
  - Returns the compact JWT that self-hosted Supabase uses as C(ANON_KEY) or C(SERVICE_ROLE_KEY) - header
    C(alg=HS256, typ=JWT), claims C(role), C(iss) (C(supabase)), C(iat) and C(exp), signed with HMAC-SHA256
    under the JWT secret that GoTrue, PostgREST, Realtime and Storage verify it with.
  - The key is a pure function of the secret and the claims, so the same inputs give the same string on every
    run (a container's environment compares equal) and a new JWT secret gives new keys (rotation).
  - Refused - a secret shorter than 32 characters (GoTrue and PostgREST require at least 32), a role that is not
    a PostgreSQL identifier, an expiry not after the issue time.
positional: role
options:
  _input:
    description: The JWT secret (C(JWT_SECRET)).
    type: str
    required: true
  role:
    description: The PostgreSQL role the key grants - C(anon) or C(service_role) in self-hosted Supabase.
    type: str
    required: true
  issued_at:
    description: C(iat), seconds since the epoch.
    type: int
    required: true
  expires_at:
    description: C(exp), seconds since the epoch; after C(issued_at).
    type: int
    required: true
  issuer:
    description: C(iss).
    type: str
    default: supabase
"""

EXAMPLES = r"""
anon_key: >-
  {{ lookup('selfhosted_ai.stack.secret', 'supabase/jwt_secret', length=40)
     | selfhosted_ai.stack.supabase_api_key('anon', issued_at=1767225600, expires_at=2082758400) }}
"""

RETURN = r"""
_value:
  description: The signed JWT, three base64url parts joined by dots (a string).
  type: str
"""

import base64
import hashlib
import hmac
import json
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_bytes, to_text

MIN_SECRET_LENGTH = 32
_ROLE = re.compile(r'^[a-z_][a-z0-9_]{0,62}$')


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=')


def _integer(name, value):
    if isinstance(value, bool):
        raise AnsibleFilterError('supabase_api_key: %s must be seconds since the epoch, got %r' % (name, value))
    try:
        return int(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError(
            'supabase_api_key: %s must be seconds since the epoch, got %r' % (name, value)
        ) from None


def supabase_api_key(secret, role, issued_at, expires_at, issuer='supabase'):
    if not isinstance(secret, str):
        raise AnsibleFilterError('supabase_api_key: the JWT secret must be a string, got %s' % type(secret).__name__)
    if len(secret) < MIN_SECRET_LENGTH:
        # The secret's value never enters the message, only its length.
        raise AnsibleFilterError(
            'supabase_api_key: the JWT secret has %d characters; Supabase needs at least %d (GoTrue and PostgREST '
            'refuse shorter ones). Store a longer one, then the keys derived from it change.'
            % (len(secret), MIN_SECRET_LENGTH)
        )
    role = to_text(role)
    if not _ROLE.match(role):
        raise AnsibleFilterError(
            'supabase_api_key: the role must be a PostgreSQL identifier (anon, service_role), got %r' % role
        )
    iat = _integer('issued_at', issued_at)
    exp = _integer('expires_at', expires_at)
    if iat < 0 or exp <= iat:
        raise AnsibleFilterError('supabase_api_key: expires_at (%d) must come after issued_at (%d) >= 0' % (exp, iat))
    header = {'alg': 'HS256', 'typ': 'JWT'}
    claims = {'role': role, 'iss': to_text(issuer), 'iat': iat, 'exp': exp}
    signing_input = b'.'.join(
        _b64url(json.dumps(part, separators=(',', ':'), sort_keys=False).encode()) for part in (header, claims)
    )
    signature = hmac.new(to_bytes(secret), signing_input, hashlib.sha256).digest()
    return to_text(signing_input + b'.' + _b64url(signature))


class FilterModule:
    def filters(self):
        return {'supabase_api_key': supabase_api_key}
