# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the nvidia_driver and nvidia_container_toolkit roles install and write, per distribution.

NVIDIA's repositories and Ubuntu's archive are not reachable from the test machines, so these tests run
the roles' own tasks/plan.yml (the data the install tasks use) with ansible-playbook on localhost, with
the distribution's facts substituted, and assert the packages, apt sources, pin and modprobe file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from ansible_run import ansible_playbook

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent / 'nvidia_plan'

OSES = {
    'Debian-12': {
        'distribution': 'Debian',
        'distribution_major_version': '12',
        'distribution_release': 'bookworm',
        'kernel': '6.1.0-28-amd64',
        'architecture': 'x86_64',
    },
    'Ubuntu-22': {
        'distribution': 'Ubuntu',
        'distribution_major_version': '22',
        'distribution_release': 'jammy',
        'kernel': '5.15.0-130-generic',
        'architecture': 'x86_64',
    },
    'Ubuntu-24': {
        'distribution': 'Ubuntu',
        'distribution_major_version': '24',
        'distribution_release': 'noble',
        'kernel': '6.8.0-51-generic',
        'architecture': 'x86_64',
    },
}


def render(tmp_path, os_key, **extra):
    out = tmp_path / 'plan.json'
    extra_vars = {'os_facts': OSES[os_key], 'plan_output': str(out)}
    extra_vars.update(extra)
    proc = ansible_playbook(
        HERE / 'plan.yml',
        '-e',
        json.dumps(extra_vars),
        extra_env={'ANSIBLE_LIBRARY': str(HERE / 'library'), 'ANSIBLE_PYTHON_INTERPRETER': sys.executable},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


@pytest.fixture(scope='module')
def plans(tmp_path_factory):
    return {key: render(tmp_path_factory.mktemp(key), key) for key in OSES}


def test_debian12_driver_from_non_free_components(plans):
    plan = plans['Debian-12']['driver']
    assert plan['packages'] == [
        'nvidia-driver',
        'nvidia-kernel-dkms',
        'firmware-misc-nonfree',
        'nvidia-persistenced',
        'dkms',
        'linux-headers-amd64',
        'linux-headers-6.1.0-28-amd64',
    ]
    lines = [line for line in plan['sources_content'].splitlines() if not line.startswith('#')]
    assert lines == [
        'Types: deb',
        'URIs: http://deb.debian.org/debian',
        'Suites: bookworm bookworm-updates',
        'Components: contrib non-free non-free-firmware',
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
    ]
    assert plan['sources_path'] == '/etc/apt/sources.list.d/nvidia-driver.sources'
    assert plan['cuda_key_url'] == ''
    assert plan['pin_content'] == ''
    assert plan['persistenced_service'] == 'nvidia-persistenced'


def test_debian12_cuda_source_is_signed_by_its_key(tmp_path):
    plan = render(tmp_path, 'Debian-12', nvidia_driver_debian_source='cuda', nvidia_driver_version='580.95.05-1')[
        'driver'
    ]
    assert plan['packages'][:2] == ['cuda-drivers', 'nvidia-persistenced']
    base = 'https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64'
    assert plan['cuda_key_url'] == base + '/3bf863cc.pub'
    assert 'URIs: %s/' % base in plan['sources_content']
    assert 'Signed-By: /etc/apt/keyrings/nvidia-cuda.asc' in plan['sources_content']
    assert 'Pin: version 580.95.05-1' in plan['pin_content']
    assert 'Pin-Priority: 1001' in plan['pin_content']


@pytest.mark.parametrize('os_key,kernel', [('Ubuntu-22', '5.15.0-130-generic'), ('Ubuntu-24', '6.8.0-51-generic')])
def test_ubuntu_server_branch_packages(plans, os_key, kernel):
    plan = plans[os_key]['driver']
    assert plan['packages'] == [
        'nvidia-driver-580-server',
        'nvidia-utils-580-server',
        'dkms',
        'linux-headers-' + kernel,
    ]
    assert plan['sources_path'] == '' and plan['sources_content'] == ''


def test_ubuntu_branch_and_pin_follow_the_variables(tmp_path):
    plan = render(
        tmp_path, 'Ubuntu-24', nvidia_driver_branch='570', nvidia_driver_version='570.195.03-0ubuntu0.24.04.1'
    )['driver']
    assert plan['packages'][:2] == ['nvidia-driver-570-server', 'nvidia-utils-570-server']
    assert 'Package: nvidia-*-570-server libnvidia-*-570-server' in plan['pin_content']


@pytest.mark.parametrize('os_key', sorted(OSES))
def test_nouveau_is_blacklisted(plans, os_key):
    plan = plans[os_key]['driver']
    assert plan['modprobe_path'] == '/etc/modprobe.d/blacklist-nouveau.conf'
    body = [line for line in plan['modprobe_content'].splitlines() if not line.startswith('#')]
    assert body == ['blacklist nouveau', 'options nouveau modeset=0']


@pytest.mark.parametrize('os_key', sorted(OSES))
def test_toolkit_repository_and_pinned_packages(plans, os_key):
    plan = plans[os_key]['toolkit']
    assert plan['packages'] == [
        'nvidia-container-toolkit=1.17.8-1',
        'nvidia-container-toolkit-base=1.17.8-1',
        'libnvidia-container-tools=1.17.8-1',
        'libnvidia-container1=1.17.8-1',
    ]
    lines = [line for line in plan['sources_content'].splitlines() if not line.startswith('#')]
    assert lines == [
        'deb [signed-by=/etc/apt/keyrings/nvidia-container-toolkit.asc] '
        'https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /'
    ]
    assert plan['key_url'] == 'https://nvidia.github.io/libnvidia-container/gpgkey'
    assert plan['runtime'] == {'path': 'nvidia-container-runtime', 'args': []}


def test_ubuntu24_plan_is_the_one_the_role_computed_on_a_real_h100_host(tmp_path):
    """tests/gpu/record-live.sh ran plan.yml on an Ubuntu 24.04 H100 host with its own gathered facts."""
    live = ROOT / 'tests' / 'unit' / 'plugins' / 'modules' / 'fixtures' / 'nvidia-smi' / 'h100-driver-580-live'
    recorded = json.loads((live / 'nvidia_driver-plan.json').read_text())
    assert recorded['distribution'].startswith('Ubuntu 24.')
    kernel = recorded['plan']['packages'][-1][len('linux-headers-') :]
    plan = render(tmp_path, 'Ubuntu-24', os_facts=dict(OSES['Ubuntu-24'], kernel=kernel))['driver']
    assert plan == recorded['plan']
