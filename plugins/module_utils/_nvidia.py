# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private helpers of the gpu_facts module: run nvidia-smi, parse its output, scan the PCI bus.

Not a public API: names and behaviour may change without notice.
Parsing is kept in plain functions so that it can be tested against recorded outputs.
"""

from __future__ import annotations

import csv
import os
import re
import xml.etree.ElementTree as ET

NVIDIA_PCI_VENDOR_ID = '0x10de'
# PCI base class 0x03 = display controller (0x0300 VGA, 0x0302 3D controller).
# NVIDIA boards also expose audio (0x0403), USB (0x0c03) and serial functions: they are not GPUs.
PCI_DISPLAY_CLASS_PREFIX = '0x03'

SYSFS_PCI_DEVICES = '/sys/bus/pci/devices'
SYSFS_NVIDIA_MODULE_VERSION = '/sys/module/nvidia/version'

# The order of these fields is the order of the columns that
# `nvidia-smi --query-gpu=... --format=csv,noheader,nounits` prints.
QUERY_GPU_FIELDS = (
    'index',
    'uuid',
    'name',
    'pci.bus_id',
    'driver_version',
    'memory.total',
    'memory.used',
    'memory.free',
    'compute_cap',
    'utilization.gpu',
    'temperature.gpu',
    'power.draw',
    'power.limit',
    'persistence_mode',
    'mig.mode.current',
)

# Status values of the facts (documented in the gpu_facts module).
STATUS_OK = 'ok'
STATUS_NO_DEVICES = 'no_devices'
STATUS_SMI_ABSENT = 'nvidia_smi_absent'
STATUS_DRIVER_NOT_LOADED = 'driver_not_loaded'
STATUS_DRIVER_MISMATCH = 'driver_library_mismatch'
STATUS_SMI_FAILED = 'nvidia_smi_failed'

_NOT_AVAILABLE = frozenset(('', 'n/a', '[n/a]', 'not supported', '[not supported]', '[unknown error]', 'none'))

_LSPCI_LINE = re.compile(
    r'^(?P<address>(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])\s+'
    r'(?P<class_name>.*?)\s+\[(?P<class>[0-9a-fA-F]{4})\]:\s+'
    r'(?P<description>.*?)\s*\[(?P<vendor>[0-9a-fA-F]{4}):(?P<device>[0-9a-fA-F]{4})\]'
)


class NvidiaSmiError(Exception):
    """nvidia-smi ran but did not answer with data."""

    def __init__(self, status, message, rc=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.rc = rc


def _clean(value):
    """Return None for nvidia-smi's 'not available' spellings, the stripped text otherwise."""
    if value is None:
        return None
    value = value.strip()
    if value.lower() in _NOT_AVAILABLE:
        return None
    return value


def _to_int(value):
    value = _clean(value)
    if value is None:
        return None
    # XML values carry a unit ("81559 MiB"); CSV values with nounits do not.
    value = value.split()[0]
    try:
        return int(value)
    except ValueError:
        try:
            return int(float(value))
        except ValueError:
            return None


def _to_float(value):
    value = _clean(value)
    if value is None:
        return None
    try:
        return float(value.split()[0])
    except ValueError:
        return None


def normalize_bus_id(bus_id):
    """nvidia-smi writes 00000000:00:06.0 (32-bit domain); sysfs and lspci write 0000:00:06.0."""
    bus_id = _clean(bus_id)
    if bus_id is None:
        return None
    bus_id = bus_id.lower()
    domain, sep, rest = bus_id.partition(':')
    if sep and len(domain) == 8:
        bus_id = domain[4:] + ':' + rest
    return bus_id


def classify_failure(text):
    """Map the message of a failing nvidia-smi to one of the documented status values."""
    lowered = text.lower()
    if 'no devices were found' in lowered:
        return STATUS_NO_DEVICES
    if (
        "couldn't communicate with the nvidia driver" in lowered
        or 'could not communicate with the nvidia driver' in lowered
    ):
        return STATUS_DRIVER_NOT_LOADED
    if 'driver/library version mismatch' in lowered:
        return STATUS_DRIVER_MISMATCH
    return STATUS_SMI_FAILED


def parse_query_gpu_csv(text, fields=QUERY_GPU_FIELDS):
    """Parse `nvidia-smi --query-gpu=<fields> --format=csv,noheader,nounits` into a list of dicts keyed by field."""
    rows = []
    for row in csv.reader(text.splitlines(), skipinitialspace=True):
        if not row or not ''.join(row).strip():
            continue
        if len(row) != len(fields):
            raise ValueError('nvidia-smi printed %d columns where %d were asked for: %r' % (len(row), len(fields), row))
        rows.append(dict(zip(fields, (cell.strip() for cell in row), strict=True)))
    return rows


def _text(element, path):
    if element is None:
        return None
    found = element.find(path)
    if found is None or found.text is None:
        return None
    return found.text.strip()


def parse_smi_xml(text):
    """Parse `nvidia-smi -q -x`: driver and CUDA versions, and per GPU the fields the CSV query lacks."""
    root = ET.fromstring(text.encode('utf-8') if isinstance(text, str) else text)
    result = {
        'driver_version': _clean(_text(root, 'driver_version')),
        'cuda_version': _clean(_text(root, 'cuda_version')),
        'gpus': [],
    }
    for gpu in root.findall('gpu'):
        mig_devices = []
        for mig in gpu.findall('mig_devices/mig_device'):
            mig_devices.append(
                {
                    'index': _to_int(_text(mig, 'index')),
                    'gpu_instance_id': _to_int(_text(mig, 'gpu_instance_id')),
                    'compute_instance_id': _to_int(_text(mig, 'compute_instance_id')),
                    'multiprocessor_count': _to_int(_text(mig, 'device_attributes/shared/multiprocessor_count')),
                    'memory_total_mib': _to_int(_text(mig, 'fb_memory_usage/total')),
                    'memory_free_mib': _to_int(_text(mig, 'fb_memory_usage/free')),
                }
            )
        result['gpus'].append(
            {
                'uuid': _clean(_text(gpu, 'uuid')),
                'name': _clean(_text(gpu, 'product_name')),
                'architecture': _clean(_text(gpu, 'product_architecture')),
                'pci_bus_id': normalize_bus_id(gpu.get('id') or _text(gpu, 'pci/pci_bus_id')),
                'minor_number': _to_int(_text(gpu, 'minor_number')),
                'memory_total_mib': _to_int(_text(gpu, 'fb_memory_usage/total')),
                'memory_used_mib': _to_int(_text(gpu, 'fb_memory_usage/used')),
                'memory_free_mib': _to_int(_text(gpu, 'fb_memory_usage/free')),
                'persistence_mode': _clean(_text(gpu, 'persistence_mode')),
                'mig_mode': {
                    'current': _clean(_text(gpu, 'mig_mode/current_mig')),
                    'pending': _clean(_text(gpu, 'mig_mode/pending_mig')),
                },
                'mig_devices': mig_devices,
            }
        )
    return result


def merge_gpu_data(csv_rows, xml_data):
    """Build the per-GPU facts from the CSV rows, completed by the XML (matched by UUID, else by position)."""
    xml_gpus = list((xml_data or {}).get('gpus') or [])
    by_uuid = dict((g['uuid'], g) for g in xml_gpus if g.get('uuid'))
    cuda_version = (xml_data or {}).get('cuda_version')
    devices = []
    for position, row in enumerate(csv_rows):
        extra = by_uuid.get(row.get('uuid'))
        if extra is None and position < len(xml_gpus) and not by_uuid:
            extra = xml_gpus[position]
        extra = extra or {}
        mig_current = _clean(row.get('mig.mode.current')) or extra.get('mig_mode', {}).get('current')
        devices.append(
            {
                'index': _to_int(row.get('index')),
                'uuid': _clean(row.get('uuid')),
                'name': _clean(row.get('name')),
                'architecture': extra.get('architecture'),
                'pci_bus_id': normalize_bus_id(row.get('pci.bus_id')),
                'memory_total_mib': _to_int(row.get('memory.total')),
                'memory_used_mib': _to_int(row.get('memory.used')),
                'memory_free_mib': _to_int(row.get('memory.free')),
                'driver_version': _clean(row.get('driver_version')),
                'cuda_version': cuda_version,
                'compute_capability': _clean(row.get('compute_cap')),
                'utilization_gpu_percent': _to_int(row.get('utilization.gpu')),
                'temperature_c': _to_int(row.get('temperature.gpu')),
                'power_draw_w': _to_float(row.get('power.draw')),
                'power_limit_w': _to_float(row.get('power.limit')),
                'persistence_mode': _clean(row.get('persistence_mode')) or extra.get('persistence_mode'),
                'mig_mode': {
                    'current': mig_current,
                    'pending': extra.get('mig_mode', {}).get('pending'),
                },
                'mig_devices': extra.get('mig_devices', []),
            }
        )
    return devices


def _read_sysfs(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None


def scan_sysfs_pci(root=SYSFS_PCI_DEVICES):
    """List NVIDIA display-class devices from sysfs. Returns None when the sysfs tree is not readable."""
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return None
    devices = []
    for address in entries:
        path = os.path.join(root, address)
        vendor = (_read_sysfs(os.path.join(path, 'vendor')) or '').lower()
        pci_class = (_read_sysfs(os.path.join(path, 'class')) or '').lower()
        if vendor != NVIDIA_PCI_VENDOR_ID or not pci_class.startswith(PCI_DISPLAY_CLASS_PREFIX):
            continue
        driver_link = os.path.join(path, 'driver')
        driver = os.path.basename(os.readlink(driver_link)) if os.path.islink(driver_link) else None
        devices.append(
            {
                'address': address.lower(),
                'vendor_id': vendor,
                'device_id': (_read_sysfs(os.path.join(path, 'device')) or '').lower() or None,
                'class': pci_class,
                'driver': driver,
                'description': None,
            }
        )
    return devices


def parse_lspci(text):
    """Parse `lspci -Dnn` output into the same shape as scan_sysfs_pci (driver unknown)."""
    devices = []
    for line in text.splitlines():
        match = _LSPCI_LINE.match(line.strip())
        if not match:
            continue
        if match.group('vendor').lower() != NVIDIA_PCI_VENDOR_ID[2:]:
            continue
        pci_class = match.group('class').lower()
        if not pci_class.startswith(PCI_DISPLAY_CLASS_PREFIX[2:]):
            continue
        address = match.group('address').lower()
        if address.count(':') == 1:
            address = '0000:' + address
        devices.append(
            {
                'address': address,
                'vendor_id': NVIDIA_PCI_VENDOR_ID,
                'device_id': '0x' + match.group('device').lower(),
                'class': '0x' + pci_class,
                'driver': None,
                'description': match.group('description').strip(),
            }
        )
    return devices


def empty_facts():
    return {
        'present': False,
        'count': 0,
        'source': 'none',
        'status': STATUS_SMI_ABSENT,
        'error': None,
        'nvidia_smi_path': None,
        'driver_version': None,
        'cuda_version': None,
        'kernel_module_version': None,
        'devices': [],
        'pci_devices': [],
    }


class NvidiaGpuProbe:
    """Collect GPU facts on the target through an AnsibleModule (for run_command and get_bin_path)."""

    def __init__(self, module, nvidia_smi_path=None, sysfs_pci_root=None, module_version_path=None):
        self.module = module
        self.nvidia_smi_path = nvidia_smi_path
        # Module-level defaults are read here, at call time, so that tests can point them at a tmp tree.
        self.sysfs_pci_root = sysfs_pci_root or SYSFS_PCI_DEVICES
        self.module_version_path = module_version_path or SYSFS_NVIDIA_MODULE_VERSION
        self.warnings = []

    def _run(self, args):
        rc, out, err = self.module.run_command(args, environ_update={'LC_ALL': 'C', 'LANG': 'C'})
        return rc, out or '', err or ''

    def find_nvidia_smi(self):
        if self.nvidia_smi_path:
            if os.path.isfile(self.nvidia_smi_path) and os.access(self.nvidia_smi_path, os.X_OK):
                return self.nvidia_smi_path
            self.warnings.append(
                'nvidia_smi_path %s is not an executable file; looked on the PCI bus instead' % self.nvidia_smi_path
            )
            return None
        return self.module.get_bin_path('nvidia-smi', required=False)

    def query_nvidia_smi(self, smi):
        """Return (driver_version, cuda_version, devices); raise NvidiaSmiError when nvidia-smi fails."""
        args = [smi, '--query-gpu=' + ','.join(QUERY_GPU_FIELDS), '--format=csv,noheader,nounits']
        rc, out, err = self._run(args)
        if rc != 0:
            message = '\n'.join(part.strip() for part in (out, err) if part.strip()) or 'exit code %d' % rc
            raise NvidiaSmiError(classify_failure(message), message, rc)
        try:
            rows = parse_query_gpu_csv(out)
        except ValueError as exc:
            raise NvidiaSmiError(STATUS_SMI_FAILED, str(exc), rc) from exc
        if not rows and classify_failure(out) == STATUS_NO_DEVICES:
            raise NvidiaSmiError(STATUS_NO_DEVICES, out.strip(), rc)

        xml_data = None
        rc, out, err = self._run([smi, '-q', '-x'])
        if rc == 0:
            try:
                xml_data = parse_smi_xml(out)
            except ET.ParseError as exc:
                self.warnings.append(
                    'nvidia-smi -q -x printed XML that could not be parsed (%s): '
                    'CUDA version and pending MIG mode are unknown' % exc
                )
        else:
            self.warnings.append(
                'nvidia-smi -q -x failed (exit code %d): CUDA version and pending MIG mode are unknown' % rc
            )
        devices = merge_gpu_data(rows, xml_data)
        driver_version = (xml_data or {}).get('driver_version') or (devices[0]['driver_version'] if devices else None)
        cuda_version = (xml_data or {}).get('cuda_version')
        return driver_version, cuda_version, devices

    def scan_pci(self):
        devices = scan_sysfs_pci(self.sysfs_pci_root)
        if devices is not None:
            return devices
        lspci = self.module.get_bin_path('lspci', required=False)
        if not lspci:
            self.warnings.append('neither %s nor lspci is available: the PCI bus was not scanned' % self.sysfs_pci_root)
            return []
        rc, out, err = self._run([lspci, '-Dnn'])
        if rc != 0:
            self.warnings.append('lspci -Dnn failed (exit code %d): %s' % (rc, (err or out).strip()))
            return []
        return parse_lspci(out)

    def gather(self):
        facts = empty_facts()
        facts['kernel_module_version'] = _read_sysfs(self.module_version_path) or None
        facts['pci_devices'] = self.scan_pci()

        smi = self.find_nvidia_smi()
        facts['nvidia_smi_path'] = smi
        if smi:
            try:
                driver_version, cuda_version, devices = self.query_nvidia_smi(smi)
            except NvidiaSmiError as exc:
                facts['status'] = exc.status
                if exc.status != STATUS_NO_DEVICES:
                    facts['error'] = exc.message
                    self.warnings.append('nvidia-smi failed (%s, exit code %s): %s' % (exc.status, exc.rc, exc.message))
            else:
                facts.update(
                    {
                        'status': STATUS_OK,
                        'source': 'nvidia-smi',
                        'driver_version': driver_version,
                        'cuda_version': cuda_version,
                        'devices': devices,
                        'count': len(devices),
                    }
                )

        if facts['source'] == 'none' and facts['pci_devices']:
            facts['source'] = 'pci'
            facts['count'] = len(facts['pci_devices'])
        facts['present'] = facts['count'] > 0
        return facts
