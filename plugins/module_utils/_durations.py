# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Durations as people read them in task output. Private to the collection: the ollama_model module's
summary and the progress callback's lines (the callback imports it on the controller)."""

from __future__ import annotations


def short_duration(seconds):
    """12s, 3m12s, 1h05m."""
    seconds = int(seconds)
    if seconds < 60:
        return '%ds' % seconds
    if seconds < 3600:
        return '%dm%02ds' % divmod(seconds, 60)
    return '%dh%02dm' % (seconds // 3600, seconds % 3600 // 60)
