# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL helpers shared by the collection's modules. Private to the collection.

Passwords go to the server as the SCRAM-SHA-256 verifiers computed here, never in clear text, and a
stored verifier tells whether a role already has a password without sending it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

SCRAM_ITERATIONS = 4096


def scram_verifier(password, salt=None, iterations=SCRAM_ITERATIONS):
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (as libpq computes it)."""
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac('sha256', password.encode('utf-8'), salt, iterations)
    client_key = hmac.new(salted, b'Client Key', hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b'Server Key', hashlib.sha256).digest()
    return 'SCRAM-SHA-256$%d:%s$%s:%s' % (
        iterations,
        base64.b64encode(salt).decode(),
        base64.b64encode(stored_key).decode(),
        base64.b64encode(server_key).decode(),
    )


def scram_matches(verifier, password):
    """True when the stored verifier belongs to ``password``; None when it cannot be told."""
    if not verifier or not verifier.startswith('SCRAM-SHA-256$'):
        return None
    try:
        head, keys = verifier[len('SCRAM-SHA-256$') :].split('$', 1)
        iterations, salt = head.split(':', 1)
        stored_key = keys.split(':', 1)[0]
        expected = scram_verifier(password, base64.b64decode(salt), int(iterations))
    except (ValueError, TypeError):
        return None
    return hmac.compare_digest(expected.split('$', 2)[2].split(':', 1)[0], stored_key)
