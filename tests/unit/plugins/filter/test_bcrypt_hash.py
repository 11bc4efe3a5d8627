# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bcrypt_hash filter: checked by bcrypt's own verification and, where the machine has it, by libcrypt."""

from __future__ import annotations

import ctypes
import ctypes.util
import random

import bcrypt
import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.selfhosted_ai.stack.plugins.filter.bcrypt_hash import ALPHABET, FilterModule, bcrypt_hash

SALT = 'abcdefghijklmnopqrstuv'


def libcrypt():
    name = ctypes.util.find_library('crypt')
    if not name:
        return None
    lib = ctypes.CDLL(name)
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    return lib


def test_the_hash_verifies_the_password_only():
    hashed = bcrypt_hash('correct horse', SALT, 4)
    assert hashed.startswith('$2b$04$') and len(hashed) == 60
    assert bcrypt.checkpw(b'correct horse', hashed.encode())
    assert not bcrypt.checkpw(b'correct horsf', hashed.encode())


def test_same_password_and_salt_same_hash_another_salt_another_hash():
    assert bcrypt_hash('pw', SALT, 4) == bcrypt_hash('pw', SALT, 4)
    assert bcrypt_hash('pw', SALT, 4) != bcrypt_hash('pw', 'A' + SALT[1:], 4)
    assert bcrypt_hash('pw', SALT, 5).startswith('$2b$05$')
    assert bcrypt_hash('pw', SALT).startswith('$2b$12$')


def test_every_last_salt_character_gives_the_hash_libcrypt_gives():
    lib = libcrypt()
    if lib is None:
        pytest.skip('libcrypt is not installed on this machine: nothing to compare with')
    chooser = random.Random(20261206)
    for last in ALPHABET:
        salt = ''.join(chooser.choices(ALPHABET, k=21)) + last
        password = ''.join(chooser.choices(ALPHABET + 'äß€ "$', k=chooser.randint(1, 40)))
        expected = lib.crypt(password.encode(), ('$2b$04$' + salt).encode()).decode()
        assert bcrypt_hash(password, salt, 4) == expected


@pytest.mark.parametrize(
    ('password', 'salt', 'cost', 'message'),
    [
        ('', SALT, 4, 'non-empty string'),
        (None, SALT, 4, 'non-empty string'),
        ('é' * 37, SALT, 4, '74 bytes'),
        ('pw', SALT[:-1], 4, 'the salt is 22 characters'),
        ('pw', SALT[:-1] + '$', 4, 'the salt is 22 characters'),
        ('pw', None, 4, 'the salt is 22 characters'),
        ('pw', SALT, 3, 'from 4 to 31'),
        ('pw', SALT, '12', 'from 4 to 31'),
        ('pw', SALT, True, 'from 4 to 31'),
    ],
)
def test_bad_input_is_refused_without_the_password(password, salt, cost, message):
    with pytest.raises(AnsibleFilterError, match=message) as caught:
        bcrypt_hash(password, salt, cost)
    if password:
        assert password not in str(caught.value)


def test_the_filter_is_registered():
    assert FilterModule().filters()['bcrypt_hash'] is bcrypt_hash
