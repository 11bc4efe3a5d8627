# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bcrypt hashes for Caddy's basic_auth, computed with the host's libcrypt (libxcrypt).

Reads {"cost": 12, "passwords": ["..."], "salts": ["<22 bcrypt64 characters>"]} on standard
input and writes the list of "$2b$..." hashes, in the same order, as JSON. The salt is kept in the secret
backend, so the same password always gives the same hash and the Caddyfile stays unchanged.
Nothing secret is ever printed on errors.
"""

import ctypes
import ctypes.util
import json
import sys


def load_crypt():
    for name in (ctypes.util.find_library('crypt'), 'libcrypt.so.1', 'libcrypt.so.2'):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.crypt.restype = ctypes.c_char_p
        lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        return lib
    return None


def main():
    request = json.load(sys.stdin)
    cost = int(request['cost'])
    lib = load_crypt()
    if lib is None:
        sys.stderr.write('libcrypt (libxcrypt) is not installed on this host\n')
        return 1
    hashes = []
    if len(request['passwords']) != len(request['salts']):
        sys.stderr.write('as many salts as passwords are needed\n')
        return 1
    for index, (plain, salt) in enumerate(zip(request['passwords'], request['salts'], strict=True)):
        password = plain.encode('utf-8')
        if len(password) > 72:
            sys.stderr.write('basic-auth password %d is longer than 72 bytes, the bcrypt limit\n' % index)
            return 1
        setting = ('$2b$%02d$%s' % (cost, salt)).encode('ascii')
        result = lib.crypt(password, setting)
        if not result or not result.startswith(b'$2b$') or len(result) != 60:
            sys.stderr.write('libcrypt on this host cannot compute bcrypt hashes (item %d)\n' % index)
            return 1
        hashes.append(result.decode('ascii'))
    json.dump(hashes, sys.stdout)
    return 0


if __name__ == '__main__':
    sys.exit(main())
