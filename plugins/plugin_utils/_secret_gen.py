# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY: the interface may change in any release.
"""Secret generation with the operating system's CSPRNG (the ``secrets`` module)."""

import base64
import binascii
import math
import secrets
import string

CHARSETS = {
    'alnum': string.ascii_letters + string.digits,
    'alpha': string.ascii_letters,
    'lower_alnum': string.ascii_lowercase + string.digits,
    'digits': string.digits,
    'hex': '0123456789abcdef',
    'base64': string.ascii_letters + string.digits + '+/',
    'urlsafe': string.ascii_letters + string.digits + '-_',
    'ascii_printable': string.ascii_letters + string.digits + string.punctuation,
    # Drawn like alnum plus four URL-safe symbols, then redrawn until every class of COMPLEX_CLASSES is
    # present: what password policies such as Flowise's (lower, upper, digit, symbol) accept.
    'complex': string.ascii_letters + string.digits + '-_.~',
    # bcrypt's own base64 alphabet, in its order: the salts of the bcrypt_hash filter.
    'bcrypt_salt': './' + string.ascii_uppercase + string.ascii_lowercase + string.digits,
}
COMPLEX_CLASSES = (string.ascii_lowercase, string.ascii_uppercase, string.digits, '-_.~')

# Formats whose length counts random bytes; 'password' and 'credentials' count characters.
BYTE_FORMATS = ('hex', 'base64', 'base64url', 'jwt_secret')
FORMATS = ('password',) + BYTE_FORMATS + ('credentials',)

MIN_LENGTH = 1
MAX_LENGTH = 4096
MAX_PREFIX = 64
JWT_HS256_MIN_BYTES = 32


class SecretSpecError(ValueError):
    """The requested secret cannot be generated as asked."""


def alphabet(charset='alnum', chars=None):
    """The characters a password is drawn from: ``chars`` when given, else a named charset."""
    if chars:
        unique = ''.join(sorted(set(chars)))
        if len(unique) < 2:
            raise SecretSpecError('chars must contain at least two different characters')
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in unique):
            raise SecretSpecError('chars must not contain control characters')
        return unique
    try:
        return CHARSETS[charset]
    except KeyError:
        raise SecretSpecError('unknown charset %r; use one of: %s' % (charset, ', '.join(sorted(CHARSETS)))) from None


def password(length, charset='alnum', chars=None):
    """``length`` characters, each drawn uniformly and independently from the alphabet.

    With charset ``complex`` whole values are drawn until one holds every class (rejection sampling keeps
    every acceptable value equally likely).
    """
    _check_length(length)
    letters = alphabet(charset, chars)
    complex_policy = _check_complex(length, charset, chars)
    while True:
        value = ''.join(secrets.choice(letters) for dummy in range(length))
        if not complex_policy or all(set(value) & set(group) for group in COMPLEX_CLASSES):
            return value


def random_bytes_encoded(length, fmt):
    """``length`` random bytes encoded as ``fmt`` (hex, base64, base64url, jwt_secret)."""
    _check_length(length)
    if fmt == 'jwt_secret' and length < JWT_HS256_MIN_BYTES:
        raise SecretSpecError(
            'a JWT HS256 secret needs at least %d random bytes (256 bits); length=%d is too short'
            % (JWT_HS256_MIN_BYTES, length)
        )
    raw = secrets.token_bytes(length)
    if fmt == 'hex':
        return binascii.hexlify(raw).decode('ascii')
    if fmt == 'base64':
        return base64.b64encode(raw).decode('ascii')
    if fmt in ('base64url', 'jwt_secret'):
        return base64.urlsafe_b64encode(raw).decode('ascii').rstrip('=')
    raise SecretSpecError('unknown byte format %r' % fmt)


def entropy_bits(length, fmt='password', charset='alnum', chars=None):
    """Bits of entropy a generated value carries (for documentation and sanity checks)."""
    if fmt in BYTE_FORMATS:
        return 8.0 * length
    return length * math.log(len(alphabet(charset, chars)), 2)


def _check_complex(length, charset, chars):
    """Whether the complex policy applies; it needs room for one character of each class."""
    complex_policy = charset == 'complex' and not chars
    if complex_policy and length < len(COMPLEX_CLASSES):
        raise SecretSpecError('charset complex needs a length of at least %d' % len(COMPLEX_CLASSES))
    return complex_policy


def _check_length(length):
    if isinstance(length, bool) or not isinstance(length, int):
        raise SecretSpecError('length must be an integer, not %r' % (type(length).__name__,))
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise SecretSpecError('length must be between %d and %d, not %d' % (MIN_LENGTH, MAX_LENGTH, length))


def _check_prefix(prefix, fmt):
    if not prefix:
        return ''
    if fmt == 'credentials':
        raise SecretSpecError('prefix is not used with format=credentials')
    if not isinstance(prefix, str) or len(prefix) > MAX_PREFIX or any(ord(c) < 0x21 or ord(c) == 0x7F for c in prefix):
        raise SecretSpecError('prefix must be at most %d printable characters without spaces' % MAX_PREFIX)
    return prefix


def field_generators(fmt='password', length=32, charset='alnum', chars=None, field='value', username=None, prefix=None):
    """Map of stored field name -> zero-argument callable producing its value.

    ``prefix`` is put before a generated value and stored with it (API keys such as ``pk-lf-...``);
    ``length`` counts the random part only. Validates everything up front, so bad options fail
    before any backend is touched.
    """
    if fmt not in FORMATS:
        raise SecretSpecError('unknown format %r; use one of: %s' % (fmt, ', '.join(FORMATS)))
    _check_length(length)
    prefix = _check_prefix(prefix, fmt)
    if fmt != 'credentials' and (
        not isinstance(field, str)
        or not field
        or len(field) > 100
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in field)
    ):
        raise SecretSpecError('field must be a non-empty name of at most 100 printable characters')
    if fmt in BYTE_FORMATS:
        random_bytes_encoded(length, fmt)  # validates (jwt minimum) before anything is stored
        return {field: lambda: prefix + random_bytes_encoded(length, fmt)}
    alphabet(charset, chars)
    _check_complex(length, charset, chars)
    if fmt == 'credentials':
        if not username:
            raise SecretSpecError('format=credentials needs a username')
        return {
            'username': lambda: username,
            'password': lambda: password(length, charset, chars),
        }
    return {field: lambda: prefix + password(length, charset, chars)}
