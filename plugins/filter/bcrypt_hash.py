# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter bcrypt_hash (documented in bcrypt_hash.yml): the bcrypt hash of a password with a salt kept beside it in
the secret store, computed on the controller, for services that check basic-auth passwords against a hash (Caddy's
basic_auth)."""

from ansible.errors import AnsibleFilterError

from ansible_collections.selfhosted_ai.stack.plugins.plugin_utils._secret_gen import CHARSETS

try:
    import bcrypt
except ImportError:  # reported when the filter is used
    bcrypt = None

# bcrypt's base-64 alphabet (the secret lookup draws salts from it: charset bcrypt_salt); 22 of its characters
# carry the 128-bit salt.
ALPHABET = CHARSETS['bcrypt_salt']
SALT_LENGTH = 22
MAX_PASSWORD_BYTES = 72


def bcrypt_hash(password, salt, cost=12):
    """The $2b$ hash of password with salt (22 characters of ALPHABET) and cost (4-31)."""
    if bcrypt is None:
        raise AnsibleFilterError(
            'bcrypt_hash: the Python package bcrypt is missing on the controller (requirements.txt)'
        )
    if not isinstance(password, str) or not password:
        raise AnsibleFilterError('bcrypt_hash: the password is a non-empty string')
    encoded = password.encode('utf-8')
    if len(encoded) > MAX_PASSWORD_BYTES:
        raise AnsibleFilterError('bcrypt_hash: a password of %d bytes is longer than bcrypt reads (72)' % len(encoded))
    if not isinstance(salt, str) or len(salt) != SALT_LENGTH or any(char not in ALPHABET for char in salt):
        raise AnsibleFilterError('bcrypt_hash: the salt is %d characters of %s' % (SALT_LENGTH, ALPHABET))
    if isinstance(cost, bool) or not isinstance(cost, int) or not 4 <= cost <= 31:
        raise AnsibleFilterError('bcrypt_hash: the cost is a whole number from 4 to 31, got %r' % (cost,))
    # The last character holds only the salt's two last bits: keep those, as libcrypt does, so that any 22
    # characters of the alphabet are a salt and give the hash libcrypt gives.
    salt = salt[:-1] + ALPHABET[ALPHABET.index(salt[-1]) & 0x30]
    return bcrypt.hashpw(encoded, ('$2b$%02d$%s' % (cost, salt)).encode('ascii')).decode('ascii')


class FilterModule:
    def filters(self):
        return {'bcrypt_hash': bcrypt_hash}
