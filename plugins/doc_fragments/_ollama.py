# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Connection options of the ollama_model* modules; the argument spec lives in module_utils/_ollama.py."""

    DOCUMENTATION = r"""
options:
  api_url:
    description:
      - Base URL of the Ollama API, as seen from the target host.
      - A path prefix is allowed (an Ollama behind a reverse proxy, for example C(https://ai.example.org/ollama)).
      - Ollama has no authentication of its own; keep it on loopback or the stack network and never publish it.
    type: str
    default: http://127.0.0.1:11434
  bearer_token:
    description:
      - "Token sent as C(Authorization: Bearer <token>), for an Ollama protected by a reverse proxy."
      - Never logged.
    type: str
  timeout:
    description:
      - Seconds to wait for a connection and for each answer of the API.
    type: int
    default: 30
  validate_certs:
    description:
      - Whether to validate the TLS certificate of an C(https) O(api_url).
      - Only set to V(false) for a self-signed certificate on a network you control.
    type: bool
    default: true
"""
