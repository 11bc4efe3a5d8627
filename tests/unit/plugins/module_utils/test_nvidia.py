# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The parsing functions of module_utils/_nvidia.py, alone, on recorded and constructed outputs."""

from __future__ import annotations

import os

import pytest

from ansible_collections.selfhosted_ai.stack.plugins.module_utils import _nvidia

FIXTURES = os.path.join(os.path.dirname(__file__), '..', 'modules', 'fixtures', 'nvidia-smi')


def fixture(*parts):
    with open(os.path.join(FIXTURES, *parts)) as handle:
        return handle.read()


def test_real_xml_report():
    data = _nvidia.parse_smi_xml(fixture('h100-driver-580', 'nvidia-smi-q.xml'))
    assert data['driver_version'] == '580.159.04'
    assert data['cuda_version'] == '13.0'
    (gpu,) = data['gpus']
    assert gpu['uuid'] == 'GPU-7d36f28f-e2d6-9080-6c53-c4a097baffe0'
    assert gpu['pci_bus_id'] == '0000:00:06.0'
    assert gpu['memory_total_mib'] == 81559
    assert gpu['memory_free_mib'] == 81079
    assert gpu['persistence_mode'] == 'Enabled'
    assert gpu['mig_mode'] == {'current': 'Disabled', 'pending': 'Disabled'}
    assert gpu['mig_devices'] == []


def test_real_csv_matches_xml_of_the_same_moment():
    (row,) = _nvidia.parse_query_gpu_csv(fixture('h100-driver-580', 'query-gpu.csv'))
    xml = _nvidia.parse_smi_xml(fixture('h100-driver-580', 'nvidia-smi-q.xml'))['gpus'][0]
    assert row['uuid'] == xml['uuid']
    assert int(row['memory.total']) == xml['memory_total_mib']
    assert int(row['memory.free']) == xml['memory_free_mib']
    assert row['persistence_mode'] == xml['persistence_mode']
    assert row['mig.mode.current'] == xml['mig_mode']['current']


def test_csv_with_unexpected_column_count_is_refused():
    with pytest.raises(ValueError, match='15 were asked for'):
        _nvidia.parse_query_gpu_csv('0, GPU-x, NVIDIA H100 80GB HBM3\n')


def test_merge_falls_back_to_position_without_uuids():
    rows = _nvidia.parse_query_gpu_csv(fixture('h100-driver-580', 'query-gpu.csv'))
    xml = {'cuda_version': '13.0', 'gpus': [{'uuid': None, 'mig_mode': {'pending': 'Enabled'}}]}
    (device,) = _nvidia.merge_gpu_data(rows, xml)
    assert device['mig_mode']['pending'] == 'Enabled'
    assert device['cuda_version'] == '13.0'


def test_merge_without_xml_keeps_csv_values():
    rows = _nvidia.parse_query_gpu_csv(fixture('h100-driver-580', 'query-gpu.csv'))
    (device,) = _nvidia.merge_gpu_data(rows, None)
    assert device['compute_capability'] == '9.0'
    assert device['cuda_version'] is None
    assert device['mig_mode'] == {'current': 'Disabled', 'pending': None}


@pytest.mark.parametrize(
    'text, status',
    [
        ('No devices were found', _nvidia.STATUS_NO_DEVICES),
        (fixture('constructed-driver-not-loaded', 'query-gpu.stdout'), _nvidia.STATUS_DRIVER_NOT_LOADED),
        (fixture('constructed-driver-library-mismatch', 'query-gpu.stdout'), _nvidia.STATUS_DRIVER_MISMATCH),
        ('Unable to determine the device handle for GPU0000:00:06.0: Unknown Error', _nvidia.STATUS_SMI_FAILED),
    ],
)
def test_classify_failure(text, status):
    assert _nvidia.classify_failure(text) == status


@pytest.mark.parametrize(
    'raw, expected',
    [
        ('00000000:00:06.0', '0000:00:06.0'),
        ('00000000:DB:00.0', '0000:db:00.0'),
        ('0000:01:00.0', '0000:01:00.0'),
        ('[N/A]', None),
    ],
)
def test_normalize_bus_id(raw, expected):
    assert _nvidia.normalize_bus_id(raw) == expected


def test_lspci_without_domain_and_non_gpu_functions():
    text = (
        '01:00.0 VGA compatible controller [0300]: NVIDIA Corporation TU104 [GeForce RTX 2080] [10de:1e82] (rev a1)\n'
        '01:00.1 Audio device [0403]: NVIDIA Corporation TU104 HD Audio Controller [10de:10f8] (rev a1)\n'
        '01:00.2 USB controller [0c03]: NVIDIA Corporation TU104 USB 3.1 Host Controller [10de:1ad8] (rev a1)\n'
        '00:02.0 VGA compatible controller [0300]: Intel Corporation UHD Graphics 630 [8086:3e92]\n'
    )
    assert _nvidia.parse_lspci(text) == [
        {
            'address': '0000:01:00.0',
            'vendor_id': '0x10de',
            'device_id': '0x1e82',
            'class': '0x0300',
            'driver': None,
            'description': 'NVIDIA Corporation TU104 [GeForce RTX 2080]',
        }
    ]


def test_sysfs_missing_returns_none(tmp_path):
    assert _nvidia.scan_sysfs_pci(str(tmp_path / 'absent')) is None
    assert _nvidia.scan_sysfs_pci(str(tmp_path)) == []
