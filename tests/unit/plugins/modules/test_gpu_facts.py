# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""gpu_facts, run whole, against a fake nvidia-smi that prints recorded (h100-driver-580) or
constructed (constructed-*) outputs; see fixtures/nvidia-smi/README.md for which is which.

The PCI bus is a sysfs tree built under tmp_path; the real /sys of the test machine is never read.
"""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible.module_utils import basic

from ansible_collections.selfhosted_ai.stack.plugins.module_utils import _nvidia
from ansible_collections.selfhosted_ai.stack.plugins.modules import gpu_facts

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'nvidia-smi')
REAL_H100 = os.path.join(FIXTURES, 'h100-driver-580')
REAL_UUID = 'GPU-7d36f28f-e2d6-9080-6c53-c4a097baffe0'
# Recorded with tests/gpu/record-live.sh on an H100 host: nvidia-smi's outputs and what gpu_facts returned there.
LIVE_H100 = os.path.join(FIXTURES, 'h100-driver-580-live')

FAKE_SMI = """#!/bin/sh
dir='{fixture_dir}'
echo "$*" >> '{calls}'
case "$1" in
  --query-gpu=*)
    if [ -f "$dir/query-gpu.csv" ]; then cat "$dir/query-gpu.csv"; else cat "$dir/query-gpu.stdout"; fi
    if [ -f "$dir/query-gpu.rc" ]; then exit "$(cat "$dir/query-gpu.rc")"; fi
    exit 0 ;;
  -q)
    if [ -f "$dir/nvidia-smi-q.xml" ]; then cat "$dir/nvidia-smi-q.xml"; exit 0; fi
    echo "No devices were found"; exit 6 ;;
  *)
    echo "fake nvidia-smi: unexpected arguments: $*" >&2; exit 2 ;;
esac
"""

FAKE_LSPCI = """#!/bin/sh
echo "$*" >> '{calls}'
cat '{output}'
"""


class Host:
    """A fake target: a bin directory searched instead of PATH, a sysfs PCI tree, a calls log."""

    def __init__(self, tmp_path):
        self.bin = tmp_path / 'bin'
        self.bin.mkdir()
        self.sysfs = tmp_path / 'sys' / 'bus' / 'pci' / 'devices'
        self.sysfs.mkdir(parents=True)
        self.drivers = tmp_path / 'sys' / 'bus' / 'pci' / 'drivers'
        self.module_version = tmp_path / 'sys' / 'module' / 'nvidia' / 'version'
        self.calls = tmp_path / 'calls.log'

    def _script(self, name, text):
        path = self.bin / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return str(path)

    def install_nvidia_smi(self, fixture_dir):
        return self._script('nvidia-smi', FAKE_SMI.format(fixture_dir=fixture_dir, calls=self.calls))

    def install_lspci(self, output_file):
        return self._script('lspci', FAKE_LSPCI.format(output=output_file, calls=self.calls))

    def add_pci_device(self, address, vendor, device, pci_class, driver=None):
        path = self.sysfs / address
        path.mkdir()
        (path / 'vendor').write_text(vendor + '\n')
        (path / 'device').write_text(device + '\n')
        (path / 'class').write_text(pci_class + '\n')
        if driver:
            target = self.drivers / driver
            target.mkdir(parents=True, exist_ok=True)
            os.symlink(str(target), str(path / 'driver'))

    def load_kernel_module(self, version):
        self.module_version.parent.mkdir(parents=True)
        self.module_version.write_text(version + '\n')

    def calls_made(self):
        if not self.calls.exists():
            return []
        return self.calls.read_text().splitlines()


@pytest.fixture
def host(tmp_path, monkeypatch):
    fake = Host(tmp_path)

    def get_bin_path(self, arg, required=False, opt_dirs=None):
        candidate = fake.bin / arg
        if candidate.exists():
            return str(candidate)
        if required:
            self.fail_json(msg='Failed to find required executable "%s"' % arg)
        return None

    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', get_bin_path)
    monkeypatch.setattr(_nvidia, 'SYSFS_PCI_DEVICES', str(fake.sysfs))
    monkeypatch.setattr(_nvidia, 'SYSFS_NVIDIA_MODULE_VERSION', str(fake.module_version))
    return fake


def gpu(run):
    assert not run.failed, run.result
    assert run['changed'] is False
    return run['ansible_facts']['gpu']


def test_real_h100_driver_580(run_module, host):
    host.install_nvidia_smi(REAL_H100)
    host.add_pci_device('0000:00:06.0', '0x10de', '0x2330', '0x030200', driver='nvidia')
    host.load_kernel_module('580.159.04')

    facts = gpu(run_module(gpu_facts.main))

    assert facts['present'] is True
    assert facts['count'] == 1
    assert facts['source'] == 'nvidia-smi'
    assert facts['status'] == 'ok'
    assert facts['error'] is None
    assert facts['driver_version'] == '580.159.04'
    assert facts['cuda_version'] == '13.0'
    assert facts['kernel_module_version'] == '580.159.04'
    assert facts['nvidia_smi_path'] == str(host.bin / 'nvidia-smi')
    (device,) = facts['devices']
    assert device == {
        'index': 0,
        'uuid': REAL_UUID,
        'name': 'NVIDIA H100 80GB HBM3',
        'architecture': 'Hopper',
        'pci_bus_id': '0000:00:06.0',
        'memory_total_mib': 81559,
        'memory_used_mib': 0,
        'memory_free_mib': 81079,
        'driver_version': '580.159.04',
        'cuda_version': '13.0',
        'compute_capability': '9.0',
        'utilization_gpu_percent': 0,
        'temperature_c': 34,
        'power_draw_w': 100.32,
        'power_limit_w': 700.0,
        'persistence_mode': 'Enabled',
        'mig_mode': {'current': 'Disabled', 'pending': 'Disabled'},
        'mig_devices': [],
    }
    assert facts['pci_devices'] == [
        {
            'address': '0000:00:06.0',
            'vendor_id': '0x10de',
            'device_id': '0x2330',
            'class': '0x030200',
            'driver': 'nvidia',
            'description': None,
        }
    ]


def test_the_module_runs_the_query_the_real_fixture_was_recorded_with(run_module, host):
    host.install_nvidia_smi(REAL_H100)
    gpu(run_module(gpu_facts.main))
    calls = host.calls_made()
    assert calls == [
        '--query-gpu=' + ','.join(_nvidia.QUERY_GPU_FIELDS) + ' --format=csv,noheader,nounits',
        '-q -x',
    ]
    # The recorded CSV has one column per queried field.
    with open(os.path.join(REAL_H100, 'query-gpu.csv')) as handle:
        assert len(handle.readline().split(',')) == len(_nvidia.QUERY_GPU_FIELDS)


def _live_host(host):
    """Rebuild the recorded host: its PCI devices and kernel module version as env.txt lists them."""
    with open(os.path.join(LIVE_H100, 'env.txt')) as handle:
        lines = handle.read().splitlines()
    module_version = lines[lines.index('== kernel module version') + 1]
    host.load_kernel_module(module_version)
    first = lines.index('== PCI devices (sysfs)') + 1
    for line in lines[first:]:
        address, rest = line.split(' ', 1)
        fields = dict(item.split('=', 1) for item in rest.split(' '))
        host.add_pci_device(
            address, fields['vendor'], fields['device'], fields['class'], driver=fields['driver'] or None
        )


def _recorded(name):
    with open(os.path.join(LIVE_H100, name)) as handle:
        return json.load(handle)


# Sensor readings: the recording's nvidia-smi calls and its module runs were moments apart.
SENSORS = {'power_draw_w': 5.0, 'temperature_c': 2}


def _without_sensors(facts):
    readings = [{name: device.pop(name) for name in SENSORS} for device in facts['devices']]
    return facts, readings


def _assert_same_readings(replayed, recorded):
    assert len(replayed) == len(recorded)
    for ours, theirs in zip(replayed, recorded, strict=True):
        for name, tolerance in SENSORS.items():
            assert abs(ours[name] - theirs[name]) <= tolerance, (name, ours[name], theirs[name])


def test_replays_what_the_module_returned_on_a_real_h100(run_module, host):
    _live_host(host)
    host.install_nvidia_smi(LIVE_H100)
    facts, readings = _without_sensors(gpu(run_module(gpu_facts.main)))

    assert facts['nvidia_smi_path'] == str(host.bin / 'nvidia-smi')
    for name in ('gpu_facts-result.json', 'gpu_facts-result-check-mode.json'):
        recorded, recorded_readings = _without_sensors(_recorded(name)['ansible_facts']['gpu'])
        assert recorded['nvidia_smi_path'] == '/usr/local/nvidia/bin/nvidia-smi'
        facts['nvidia_smi_path'] = recorded['nvidia_smi_path']
        assert facts == recorded, name
        _assert_same_readings(readings, recorded_readings)


def test_replays_the_pci_only_result_of_a_real_h100(run_module, host):
    _live_host(host)
    host.install_nvidia_smi(LIVE_H100)
    run = run_module(gpu_facts.main, {'nvidia_smi_path': '/nonexistent/nvidia-smi'})

    recorded = _recorded('gpu_facts-result-pci-only.json')
    assert gpu(run) == recorded['ansible_facts']['gpu']
    assert run['warnings'] == recorded['warnings']
    assert host.calls_made() == []


def test_constructed_two_gpus(run_module, host):
    host.install_nvidia_smi(os.path.join(FIXTURES, 'constructed-2x-h100-from-h100-driver-580'))
    facts = gpu(run_module(gpu_facts.main))

    assert facts['count'] == 2
    assert [d['index'] for d in facts['devices']] == [0, 1]
    assert [d['pci_bus_id'] for d in facts['devices']] == ['0000:00:06.0', '0000:00:07.0']
    assert len(set(d['uuid'] for d in facts['devices'])) == 2
    busy = facts['devices'][1]
    assert busy['memory_used_mib'] == 40960
    assert busy['memory_free_mib'] == 81559 - 480 - 40960
    # MIG requested on GPU 1 but not applied yet: the pending value comes from the XML report.
    assert busy['mig_mode'] == {'current': 'Disabled', 'pending': 'Enabled'}
    assert facts['devices'][0]['mig_mode'] == {'current': 'Disabled', 'pending': 'Disabled'}


def test_constructed_eight_gpus(run_module, host):
    host.install_nvidia_smi(os.path.join(FIXTURES, 'constructed-8x-h100-from-h100-driver-580'))
    facts = gpu(run_module(gpu_facts.main))

    assert facts['count'] == 8
    assert [d['index'] for d in facts['devices']] == list(range(8))
    assert [d['pci_bus_id'][5:7] for d in facts['devices']] == ['18', '2a', '3a', '5d', '9a', 'ab', 'ba', 'db']
    assert [d['persistence_mode'] for d in facts['devices']].count('Disabled') == 1
    assert facts['devices'][5]['persistence_mode'] == 'Disabled'
    assert all(d['cuda_version'] == '13.0' and d['compute_capability'] == '9.0' for d in facts['devices'])
    assert sum(d['memory_total_mib'] for d in facts['devices']) == 8 * 81559


def test_constructed_mig_enabled(run_module, host):
    host.install_nvidia_smi(os.path.join(FIXTURES, 'constructed-mig-h100-from-h100-driver-580'))
    facts = gpu(run_module(gpu_facts.main))

    (device,) = facts['devices']
    assert device['mig_mode'] == {'current': 'Enabled', 'pending': 'Enabled'}
    assert device['utilization_gpu_percent'] is None  # [N/A] under MIG
    assert [
        (m['gpu_instance_id'], m['memory_total_mib'], m['multiprocessor_count']) for m in device['mig_devices']
    ] == [(1, 40448, 60), (2, 40448, 60)]


def test_no_devices_is_not_an_error(run_module, host):
    host.install_nvidia_smi(os.path.join(FIXTURES, 'constructed-no-devices'))
    run = run_module(gpu_facts.main)
    facts = gpu(run)

    assert facts['present'] is False
    assert facts['count'] == 0
    assert facts['status'] == 'no_devices'
    assert facts['error'] is None
    assert facts['devices'] == []
    assert run['warnings'] == []


def test_driver_not_loaded_gives_error_and_warning_but_pci_devices(run_module, host):
    host.install_nvidia_smi(os.path.join(FIXTURES, 'constructed-driver-not-loaded'))
    host.add_pci_device('0000:00:06.0', '0x10de', '0x2330', '0x030200')
    run = run_module(gpu_facts.main)
    facts = gpu(run)

    assert facts['status'] == 'driver_not_loaded'
    assert "couldn't communicate with the NVIDIA driver" in facts['error']
    assert facts['source'] == 'pci'
    assert facts['present'] is True
    assert facts['count'] == 1
    assert facts['devices'] == []
    assert facts['pci_devices'][0]['driver'] is None
    assert len(run['warnings']) == 1
    assert 'driver_not_loaded' in run['warnings'][0]
    # After a failed query the XML report is not asked for.
    assert len(host.calls_made()) == 1


def test_driver_library_mismatch(run_module, host):
    host.install_nvidia_smi(os.path.join(FIXTURES, 'constructed-driver-library-mismatch'))
    host.add_pci_device('0000:00:06.0', '0x10de', '0x2330', '0x030200', driver='nvidia')
    host.load_kernel_module('575.57.08')
    run = run_module(gpu_facts.main)
    facts = gpu(run)

    assert facts['status'] == 'driver_library_mismatch'
    assert facts['error'].startswith('Failed to initialize NVML: Driver/library version mismatch')
    assert facts['kernel_module_version'] == '575.57.08'
    assert facts['driver_version'] is None
    assert facts['present'] is True
    assert any('exit code 18' in w for w in run['warnings'])


def test_pci_only_host_before_driver_install(run_module, host):
    # No nvidia-smi at all. An H100 (3D controller), an RTX 3090 held by nouveau with its HDMI audio
    # function, and an Intel iGPU: only the two NVIDIA display controllers are GPUs.
    host.add_pci_device('0000:00:02.0', '0x8086', '0x4680', '0x030000', driver='i915')
    host.add_pci_device('0000:00:06.0', '0x10de', '0x2330', '0x030200')
    host.add_pci_device('0000:01:00.0', '0x10de', '0x2204', '0x030000', driver='nouveau')
    host.add_pci_device('0000:01:00.1', '0x10de', '0x1aef', '0x040300', driver='snd_hda_intel')
    run = run_module(gpu_facts.main)
    facts = gpu(run)

    assert facts['status'] == 'nvidia_smi_absent'
    assert facts['nvidia_smi_path'] is None
    assert facts['source'] == 'pci'
    assert facts['present'] is True
    assert facts['count'] == 2
    assert [(d['address'], d['device_id'], d['driver']) for d in facts['pci_devices']] == [
        ('0000:00:06.0', '0x2330', None),
        ('0000:01:00.0', '0x2204', 'nouveau'),
    ]
    assert run['warnings'] == []


def test_host_without_nvidia_hardware_gets_empty_facts(run_module, host):
    host.add_pci_device('0000:00:02.0', '0x1234', '0x1111', '0x030000')
    host.add_pci_device('0000:00:03.0', '0x8086', '0x100e', '0x020000', driver='e1000')
    facts = gpu(run_module(gpu_facts.main))

    assert facts == dict(_nvidia.empty_facts(), present=False, count=0)
    assert facts['present'] is False
    assert facts['count'] == 0
    assert facts['source'] == 'none'


def test_lspci_is_used_where_sysfs_cannot_be_read(run_module, host, monkeypatch, tmp_path):
    monkeypatch.setattr(_nvidia, 'SYSFS_PCI_DEVICES', str(tmp_path / 'no-such-sysfs'))
    host.install_lspci(os.path.join(FIXTURES, 'constructed-lspci', 'lspci-Dnn.txt'))
    facts = gpu(run_module(gpu_facts.main))

    assert facts['count'] == 2
    assert [(d['address'], d['device_id'], d['class']) for d in facts['pci_devices']] == [
        ('0000:00:06.0', '0x2330', '0x0302'),
        ('0000:01:00.0', '0x2204', '0x0300'),
    ]
    assert facts['pci_devices'][0]['description'] == 'NVIDIA Corporation GH100 [H100 SXM5 80GB]'
    assert host.calls_made() == ['-Dnn']


def test_nvidia_smi_path_option(run_module, host, tmp_path):
    # An nvidia-smi outside the searched directories, given by path.
    elsewhere = tmp_path / 'opt'
    elsewhere.mkdir()
    script = elsewhere / 'nvidia-smi'
    script.write_text(FAKE_SMI.format(fixture_dir=REAL_H100, calls=host.calls))
    script.chmod(0o755)
    facts = gpu(run_module(gpu_facts.main, {'nvidia_smi_path': str(script)}))
    assert facts['nvidia_smi_path'] == str(script)
    assert facts['count'] == 1


def test_nvidia_smi_path_that_does_not_exist_warns(run_module, host, tmp_path):
    host.add_pci_device('0000:00:06.0', '0x10de', '0x2330', '0x030200')
    run = run_module(gpu_facts.main, {'nvidia_smi_path': str(tmp_path / 'missing' / 'nvidia-smi')})
    facts = gpu(run)
    assert facts['status'] == 'nvidia_smi_absent'
    assert facts['source'] == 'pci'
    assert any('not an executable file' in w for w in run['warnings'])


def test_check_mode_reports_the_same_facts(run_module, host):
    host.install_nvidia_smi(REAL_H100)
    normal = gpu(run_module(gpu_facts.main))
    checked = gpu(run_module(gpu_facts.main, check_mode=True))
    assert checked == normal


def test_unknown_option_is_rejected(run_module, host):
    run = run_module(gpu_facts.main, {'nvidia_smi': '/usr/bin/nvidia-smi'})
    assert run.failed
    assert 'nvidia_smi' in run['msg']
