# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gpu_unusable_reason filter: why a container cannot use the host's NVIDIA GPUs (ollama, comfyui, exporters)."""

from __future__ import annotations

import pytest

from ansible_collections.selfhosted_ai.stack.plugins.filter.gpu_unusable_reason import gpu_unusable_reason

RUNTIMES = {'runc': {}, 'nvidia': {'path': 'nvidia-container-runtime'}}


def test_a_working_gpu_with_the_nvidia_runtime_is_usable():
    assert gpu_unusable_reason({'present': True, 'status': 'ok'}, RUNTIMES) == ''


@pytest.mark.parametrize(
    ('gpu', 'runtimes', 'reason'),
    [
        ({'present': False, 'status': 'absent'}, RUNTIMES, 'no NVIDIA GPU found'),
        (None, None, 'no NVIDIA GPU found'),
        (
            {'present': True, 'status': 'driver_error'},
            RUNTIMES,
            'the NVIDIA driver does not answer (status driver_error)',
        ),
        (
            {'present': True, 'status': 'ok'},
            {'runc': {}},
            'Docker has no nvidia runtime (run the nvidia_container_toolkit role)',
        ),
    ],
    ids=['no-gpu', 'no-facts', 'driver-down', 'no-runtime'],
)
def test_the_first_missing_piece_is_named(gpu, runtimes, reason):
    assert gpu_unusable_reason(gpu, runtimes) == reason
