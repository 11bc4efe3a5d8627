#!/usr/bin/python
# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gpu_facts
short_description: Gather facts about the NVIDIA GPUs of a host
version_added: 0.1.0
author:
  - selfhosted_ai.stack maintainers (!UNKNOWN)
description:
  - Reads the NVIDIA GPUs of the target with C(nvidia-smi) and returns them as the C(gpu) fact.
  - Runs C(nvidia-smi --query-gpu=... --format=csv,noheader,nounits) for the per-GPU values and
    C(nvidia-smi -q -x) for what the CSV query does not offer (CUDA version, pending MIG mode, MIG devices).
  - Always scans the PCI bus too (C(/sys/bus/pci/devices), or C(lspci -Dnn) where sysfs is not readable)
    for NVIDIA display controllers (vendor C(0x10de), class C(0x03xxxx)), so that a host whose driver is
    not installed yet still shows that it has NVIDIA hardware.
  - A host without NVIDIA hardware gets C(present=false) and C(count=0); this is not a failure.
  - When C(nvidia-smi) exists but fails (driver not loaded, driver/library version mismatch after a
    driver upgrade without reboot, ...) the module does not fail either. It returns the facts it could
    gather with RV(ansible_facts.gpu.status) naming the problem and RV(ansible_facts.gpu.error) holding the message of
    C(nvidia-smi), and emits a warning. This lets a driver role decide what to do (install, reboot) instead
    of stopping the play on the host that needs it most.
  - C(nvidia-smi) may hang on a GPU that fell off the bus; this module sets no timeout of its own, use the
    task keyword C(timeout) where that matters.
options:
  nvidia_smi_path:
    description:
      - Full path of the C(nvidia-smi) executable.
      - By default it is looked up in E(PATH) and the usual system directories.
      - When the path given is not an executable file, the module warns and reports the PCI bus only.
    type: path
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same way in check mode.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to show.
  facts:
    support: full
    description: Returns the C(gpu) fact.
  idempotent:
    support: full
    description: Never changes anything; always returns C(changed=false).
notes:
  - Run for real on an NVIDIA H100 with driver 580 (Ubuntu 24.04); the unit tests replay that host's
    outputs and require the facts it returned there, and cover multi-GPU, MIG and failure cases built from them.
  - Memory values are in MiB as printed by C(nvidia-smi).
seealso:
  - name: nvidia-smi documentation
    description: The fields queried by this module are described by C(nvidia-smi --help-query-gpu).
    link: https://docs.nvidia.com/deploy/nvidia-smi/index.html
"""

EXAMPLES = r"""
- name: Read the GPUs of the host
  selfhosted_ai.stack.gpu_facts:

- name: Show what was found
  ansible.builtin.debug:
    msg: "{{ ansible_facts.gpu.count }} GPU(s), driver {{ ansible_facts.gpu.driver_version }}"

- name: Install the driver only where NVIDIA hardware exists but nvidia-smi does not work yet
  ansible.builtin.include_role:
    name: selfhosted_ai.stack.nvidia_driver
  when:
    - ansible_facts.gpu.present
    - ansible_facts.gpu.status != 'ok'

- name: Use an nvidia-smi outside PATH
  selfhosted_ai.stack.gpu_facts:
    nvidia_smi_path: /usr/lib/wsl/lib/nvidia-smi
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: dict
  contains:
    gpu:
      description: The NVIDIA GPUs of the host.
      returned: always
      type: dict
      contains:
        present:
          description: Whether the host has at least one NVIDIA GPU (seen by C(nvidia-smi) or on the PCI bus).
          type: bool
          returned: always
          sample: true
        count:
          description:
            - Number of GPUs. Taken from C(nvidia-smi) when it works, otherwise the number of NVIDIA display
              controllers on the PCI bus. C(0) on a host without NVIDIA hardware.
          type: int
          returned: always
          sample: 1
        source:
          description: Where RV(ansible_facts.gpu.count) comes from.
          type: str
          returned: always
          choices: [nvidia-smi, pci, none]
          sample: nvidia-smi
        status:
          description:
            - C(ok) when C(nvidia-smi) answered; C(nvidia_smi_absent) when it is not installed;
              C(no_devices) when it answered C(No devices were found); C(driver_not_loaded) when it could not
              talk to the kernel driver; C(driver_library_mismatch) when the kernel module and the user-space
              library differ (typically after a driver upgrade without reboot); C(nvidia_smi_failed) otherwise.
          type: str
          returned: always
          sample: ok
        error:
          description: Message of the failing C(nvidia-smi); null when it worked or printed C(No devices were found).
          type: str
          returned: always
          sample: "Failed to initialize NVML: Driver/library version mismatch"
        nvidia_smi_path:
          description: Path of the C(nvidia-smi) that was run; null when none was found.
          type: str
          returned: always
          sample: /usr/bin/nvidia-smi
        driver_version:
          description: Version of the NVIDIA driver, from C(nvidia-smi).
          type: str
          returned: always
          sample: "580.159.04"
        cuda_version:
          description: Highest CUDA version the driver supports, from C(nvidia-smi -q -x).
          type: str
          returned: always
          sample: "13.0"
        kernel_module_version:
          description: Version of the loaded C(nvidia) kernel module (C(/sys/module/nvidia/version)); null when not loaded.
          type: str
          returned: always
          sample: "580.159.04"
        devices:
          description: One entry per GPU reported by C(nvidia-smi), in C(nvidia-smi) index order. Empty when it did not answer.
          type: list
          elements: dict
          returned: always
          contains:
            index:
              description: GPU index used by C(nvidia-smi) and C(CUDA_VISIBLE_DEVICES).
              type: int
              sample: 0
            uuid:
              description: GPU UUID (stable across reboots, usable in C(NVIDIA_VISIBLE_DEVICES)).
              type: str
              sample: GPU-7d36f28f-e2d6-9080-6c53-c4a097baffe0
            name:
              description: Product name.
              type: str
              sample: NVIDIA H100 80GB HBM3
            architecture:
              description: GPU architecture from the XML report; null when unknown.
              type: str
              sample: Hopper
            pci_bus_id:
              description: PCI address in the sysfs form (16-bit domain).
              type: str
              sample: "0000:00:06.0"
            memory_total_mib:
              description: Total framebuffer memory in MiB.
              type: int
              sample: 81559
            memory_used_mib:
              description: Used framebuffer memory in MiB.
              type: int
              sample: 0
            memory_free_mib:
              description: Free framebuffer memory in MiB.
              type: int
              sample: 81079
            driver_version:
              description: Driver version as reported for this GPU.
              type: str
              sample: "580.159.04"
            cuda_version:
              description: CUDA version supported by the driver.
              type: str
              sample: "13.0"
            compute_capability:
              description: CUDA compute capability, as text to keep C(8.9) and C(8.10) apart.
              type: str
              sample: "9.0"
            utilization_gpu_percent:
              description: GPU utilization at the time of the query; null where not supported.
              type: int
              sample: 0
            temperature_c:
              description: GPU temperature in degrees Celsius; null where not supported.
              type: int
              sample: 34
            power_draw_w:
              description: Power draw in watts; null where not supported.
              type: float
              sample: 100.32
            power_limit_w:
              description: Power limit in watts; null where not supported.
              type: float
              sample: 700.0
            persistence_mode:
              description: C(Enabled) or C(Disabled); null where not supported.
              type: str
              sample: Enabled
            mig_mode:
              description: MIG mode; values are C(Enabled), C(Disabled), or null on GPUs without MIG.
              type: dict
              contains:
                current:
                  description: MIG mode in effect now.
                  type: str
                  sample: Disabled
                pending:
                  description: MIG mode after the next GPU reset or reboot.
                  type: str
                  sample: Disabled
            mig_devices:
              description: MIG devices of this GPU (empty when MIG is off).
              type: list
              elements: dict
              sample:
                - index: 0
                  gpu_instance_id: 1
                  compute_instance_id: 0
                  multiprocessor_count: 60
                  memory_total_mib: 40448
                  memory_free_mib: 40437
        pci_devices:
          description: NVIDIA display controllers found on the PCI bus, whatever the state of the driver.
          type: list
          elements: dict
          returned: always
          contains:
            address:
              description: PCI address.
              type: str
              sample: "0000:00:06.0"
            vendor_id:
              description: PCI vendor id (always C(0x10de)).
              type: str
              sample: "0x10de"
            device_id:
              description: PCI device id.
              type: str
              sample: "0x2330"
            class:
              description: PCI class code (C(0x0300xx) VGA, C(0x0302xx) 3D controller).
              type: str
              sample: "0x030200"
            driver:
              description: Kernel driver bound to the device (for example C(nvidia), C(nouveau), C(vfio-pci)); null when none or unknown.
              type: str
              sample: nvidia
            description:
              description: Device description from C(lspci); null when read from sysfs.
              type: str
              sample: null
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._nvidia import NvidiaGpuProbe


def main():
    module = AnsibleModule(
        argument_spec=dict(
            nvidia_smi_path=dict(type='path'),
        ),
        supports_check_mode=True,
    )

    probe = NvidiaGpuProbe(module, nvidia_smi_path=module.params['nvidia_smi_path'])
    facts = probe.gather()
    for warning in probe.warnings:
        module.warn(warning)

    module.exit_json(changed=False, ansible_facts=dict(gpu=facts))


if __name__ == '__main__':
    main()
