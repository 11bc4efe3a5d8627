# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""short_duration: what the progress callback's lines and ollama_model's summary show."""

from __future__ import annotations

import pytest

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._durations import short_duration


@pytest.mark.parametrize(
    ('seconds', 'shown'),
    [(0, '0s'), (59.9, '59s'), (60, '1m00s'), (192, '3m12s'), (3599, '59m59s'), (3600, '1h00m'), (3900, '1h05m')],
)
def test_short_duration(seconds, shown):
    assert short_duration(seconds) == shown
