# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Spec tests of what the hardening and fail2ban roles do on hosts the molecule scenario cannot run.

Ubuntu's archive is not reachable here, so Ubuntu 22.04/24.04 are covered by running the roles'
own code (vars, the algorithm selection tasks, templates) in ansible-playbook against localhost,
with each distribution's facts set as cacheable facts (which is how gathered facts are
stored) and the output of its OpenSSH's `ssh -Q`
recorded from the release (OpenSSH 8.9p1 on 22.04, 9.6p1 on 24.04, 9.2p1 on Debian 12).
"""

from __future__ import annotations

import json
import re
import sys

import pytest
from ansible_run import ANSIBLE_PLAYBOOK, REPO, ansible_playbook

pytestmark = pytest.mark.skipif(
    not ANSIBLE_PLAYBOOK.exists(), reason='ansible-playbook is not installed next to this Python'
)

_COMMON_CIPHERS = (
    '3des-cbc aes128-cbc aes192-cbc aes256-cbc aes128-ctr aes192-ctr aes256-ctr aes128-gcm@openssh.com '
    'aes256-gcm@openssh.com chacha20-poly1305@openssh.com'
)
_COMMON_MACS = (
    'hmac-sha1 hmac-sha1-96 hmac-sha2-256 hmac-sha2-512 hmac-md5 hmac-md5-96 umac-64@openssh.com umac-128@openssh.com '
    'hmac-sha1-etm@openssh.com hmac-sha2-256-etm@openssh.com hmac-sha2-512-etm@openssh.com umac-128-etm@openssh.com'
)
_KEY_SIG = (
    'ssh-ed25519 ssh-ed25519-cert-v01@openssh.com sk-ssh-ed25519@openssh.com sk-ssh-ed25519-cert-v01@openssh.com '
    'ecdsa-sha2-nistp256 ssh-rsa rsa-sha2-256 rsa-sha2-512 rsa-sha2-256-cert-v01@openssh.com rsa-sha2-512-cert-v01@openssh.com'
)
_KEX_89 = (
    'diffie-hellman-group1-sha1 diffie-hellman-group14-sha1 diffie-hellman-group14-sha256 diffie-hellman-group16-sha512 '
    'diffie-hellman-group18-sha512 diffie-hellman-group-exchange-sha256 ecdh-sha2-nistp256 curve25519-sha256 '
    'curve25519-sha256@libssh.org sntrup761x25519-sha512@openssh.com'
)

HOSTS = {
    'ubuntu2204': {
        'facts': {
            'distribution': 'Ubuntu',
            'distribution_version': '22.04',
            'distribution_release': 'jammy',
            'os_family': 'Debian',
        },
        'ssh_q': {'kex': _KEX_89, 'version': '8.9'},
    },
    'ubuntu2404': {
        'facts': {
            'distribution': 'Ubuntu',
            'distribution_version': '24.04',
            'distribution_release': 'noble',
            'os_family': 'Debian',
        },
        'ssh_q': {'kex': _KEX_89, 'version': '9.6'},
    },
    'debian12': {
        'facts': {
            'distribution': 'Debian',
            'distribution_version': '12.12',
            'distribution_release': 'bookworm',
            'os_family': 'Debian',
        },
        'ssh_q': {'kex': _KEX_89 + ' sntrup761x25519-sha512', 'version': '9.2'},
    },
}

PLAYBOOK = """
- name: Render what the roles would do
  hosts: all
  gather_facts: false
  vars:
    out: "{{ lookup('ansible.builtin.env', 'SPEC_OUT') }}/{{ inventory_hostname }}"
  tasks:
    - name: Pose as the distribution (cacheable facts land in ansible_facts, as gathered ones do)
      ansible.builtin.set_fact:
        cacheable: true
        ansible_distribution: "{{ spec_facts.ansible_distribution }}"
        ansible_distribution_version: "{{ spec_facts.ansible_distribution_version }}"
        ansible_distribution_release: "{{ spec_facts.ansible_distribution_release }}"
        ansible_os_family: "{{ spec_facts.ansible_os_family }}"

    - name: Load the roles' defaults and OS constants
      ansible.builtin.include_vars:
        file: "{{ item }}"
      loop:
        - REPO/roles/hardening/defaults/main.yml
        - REPO/roles/hardening/vars/main.yml
        - REPO/roles/fail2ban/defaults/main.yml
        - REPO/roles/fail2ban/vars/main.yml

    - name: Record this release's `ssh -Q` output, as ssh.yml registers it
      ansible.builtin.set_fact:
        __hardening_ssh_supported:
          stdout_lines: "{{ ssh_q_lines }}"

    - name: Run the role's algorithm selection
      ansible.builtin.include_tasks: REPO/roles/hardening/tasks/ssh_algorithms.yml

    - name: Create the output directory
      ansible.builtin.file:
        path: "{{ out }}"
        state: directory
        mode: "0755"

    - name: Render the templates
      ansible.builtin.template:
        src: "REPO/roles/{{ item.role }}/templates/{{ item.name }}"
        dest: "{{ out }}/{{ item.name | regex_replace('[.]j2$', '') }}"
        mode: "0644"
      loop:
        - {role: hardening, name: sshd_config.j2}
        - {role: hardening, name: sysctl.conf.j2}
        - {role: fail2ban, name: jail.local.j2}
        - {role: fail2ban, name: caddy-auth.conf.j2}

    - name: Write the plan the handlers follow
      ansible.builtin.copy:
        dest: "{{ out }}/plan.json"
        mode: "0644"
        content: "{{ {'socket_activated': __hardening_ssh_socket_activated | bool,
                      'restart_units': __hardening_ssh_restart_units,
                      'algorithms': __hardening_ssh_algorithms} | to_json }}"
"""


@pytest.fixture(scope='module')
def rendered(tmp_path_factory):
    """Run the playbook once for all hosts; return {host: Path of its output directory}."""
    work = tmp_path_factory.mktemp('hardening_spec')
    inventory = {'all': {'hosts': {}}}
    for host, spec in HOSTS.items():
        queries = {'kex': spec['ssh_q']['kex'], 'cipher': _COMMON_CIPHERS, 'mac': _COMMON_MACS, 'key-sig': _KEY_SIG}
        lines = [f'{name}: {value}' for name, value in queries.items()] + [f'version: {spec["ssh_q"]["version"]}']
        inventory['all']['hosts'][host] = {
            'ansible_connection': 'local',
            'ansible_python_interpreter': sys.executable,
            'ssh_q_lines': lines,
            'spec_facts': {f'ansible_{key}': value for key, value in spec['facts'].items()},
        }
    (work / 'inventory.json').write_text(json.dumps(inventory))
    (work / 'playbook.yml').write_text(PLAYBOOK.replace('REPO', str(REPO)))
    out = work / 'out'
    # Inventory choices go in as extra vars: include_vars (the defaults) outranks play vars.
    extra = {
        'hardening_ssh_port': 2222,
        'hardening_ssh_per_source_penalties': 'no',
        'hardening_admin_authorized_keys': ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBBBB spec@test'],
    }
    result = ansible_playbook(
        '-i',
        work / 'inventory.json',
        '-e',
        json.dumps(extra),
        work / 'playbook.yml',
        extra_env={
            'ANSIBLE_CONFIG': str(REPO / 'ansible.cfg'),
            'ANSIBLE_CACHE_PLUGIN': 'ansible.builtin.memory',
            'SPEC_OUT': str(out),
        },
        cwd=work,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return {host: out / host for host in HOSTS}


def _plan(rendered, host):
    return json.loads((rendered[host] / 'plan.json').read_text())


def _sshd(rendered, host):
    return (rendered[host] / 'sshd_config').read_text()


def test_ubuntu_2404_moves_the_port_through_ssh_socket(rendered):
    plan = _plan(rendered, 'ubuntu2404')
    # daemon-reload regenerates ssh.socket's ListenStream from sshd_config; then the socket restarts.
    assert plan['socket_activated'] is True
    assert plan['restart_units'] == ['ssh.socket', 'ssh.service']


@pytest.mark.parametrize('host', ['ubuntu2204', 'debian12'])
def test_hosts_without_socket_activation_restart_ssh_service_only(rendered, host):
    plan = _plan(rendered, host)
    assert plan['socket_activated'] is False
    assert plan['restart_units'] == ['ssh.service']


@pytest.mark.parametrize('host', list(HOSTS))
def test_sshd_config_is_key_only_on_the_new_port_and_before_drop_ins(rendered, host):
    config = _sshd(rendered, host)
    lines = config.splitlines()
    assert 'Port 2222' in lines
    for line in (
        'PasswordAuthentication no',
        'PermitRootLogin no',
        'KbdInteractiveAuthentication no',
        'AuthenticationMethods publickey',
        'MaxAuthTries 3',
        'LoginGraceTime 30',
        'AllowGroups ssh-users',
    ):
        assert line in lines, line
    # Drop-ins (cloud-init's PasswordAuthentication yes) come last, so the role's first values win.
    assert lines[-1] == 'Include /etc/ssh/sshd_config.d/*.conf'
    assert 'HostKey /etc/ssh/ssh_host_ecdsa_key' not in lines


@pytest.mark.parametrize('host', list(HOSTS))
def test_only_post_quantum_key_exchange_this_openssh_supports(rendered, host):
    kex = _plan(rendered, host)['algorithms']['kex']
    assert 'sntrup761x25519-sha512@openssh.com' in kex
    assert 'mlkem768x25519-sha256' not in kex  # OpenSSH >= 9.9 only
    assert not [name for name in kex if name.startswith(('curve25519', 'diffie-hellman', 'ecdh'))]
    macs = _plan(rendered, host)['algorithms']['macs']
    assert macs and all(name.endswith('-etm@openssh.com') for name in macs)


@pytest.mark.parametrize('host', list(HOSTS))
def test_per_source_penalties_only_where_openssh_knows_it(rendered, host):
    # PerSourcePenalties appeared in OpenSSH 9.8; none of these releases has it, sshd -t would fail.
    assert 'PerSourcePenalties' not in _sshd(rendered, host)


def test_required_rsa_size_only_where_openssh_knows_it(rendered):
    # RequiredRSASize appeared in OpenSSH 9.1; 22.04's 8.9 would reject the file.
    assert 'RequiredRSASize' not in _sshd(rendered, 'ubuntu2204')
    assert 'RequiredRSASize 3072' in _sshd(rendered, 'ubuntu2404').splitlines()


@pytest.mark.parametrize('host', list(HOSTS))
def test_sysctl_keeps_forwarding_for_docker(rendered, host):
    sysctl = (rendered[host] / 'sysctl.conf').read_text().splitlines()
    assert 'net.ipv4.ip_forward = 1' in sysctl
    assert 'net.ipv4.conf.all.accept_redirects = 0' in sysctl


@pytest.mark.parametrize('host', ['ubuntu2404', 'debian12'])
def test_fail2ban_reads_sshd_from_the_journal_on_the_new_port(rendered, host):
    jail = (rendered[host] / 'jail.local').read_text()
    sshd = jail.split('[sshd]', 1)[1].split('\n[', 1)[0]
    assert 'backend = systemd' in sshd
    assert 'port = 2222' in sshd
    assert '_COMM=sshd-session' in sshd
    assert 'chain="DOCKER-USER"' in jail
    assert 'bantime.increment = true' in jail


def _caddy_regex(rendered):
    conf = (rendered['debian12'] / 'caddy-auth.conf').read_text()
    failregex = re.search(r'^failregex = (.*)$', conf, re.M).group(1)
    return re.compile(failregex.replace('<ADDR>', r'(?P<addr>[0-9a-fA-F.:]+)'))


def _caddy_line(status, client_ip='203.0.113.7', uri='/', headers=None):
    entry = {
        'level': 'info',
        'ts': 1767225600.123,
        'logger': 'http.log.access.log0',
        'msg': 'handled request',
        'request': {
            'remote_ip': client_ip,
            'remote_port': '40000',
            'client_ip': client_ip,
            'proto': 'HTTP/1.1',
            'method': 'GET',
            'host': 'example.org',
            'uri': uri,
            'headers': headers or {},
        },
        'bytes_read': 0,
        'user_id': '',
        'duration': 0.001,
        'size': 0,
        'status': status,
        'resp_headers': {},
    }
    return json.dumps(entry, separators=(',', ':'))


def test_caddy_filter_matches_401_for_the_client(rendered):
    match = _caddy_regex(rendered).search(_caddy_line(401))
    assert match and match.group('addr') == '203.0.113.7'


@pytest.mark.parametrize('status', [200, 302, 404, 4010])
def test_caddy_filter_ignores_other_statuses(rendered, status):
    assert not _caddy_regex(rendered).search(_caddy_line(status))


def test_caddy_filter_cannot_be_steered_to_another_address(rendered):
    # A client puts a fake client_ip and status into the URI and a header: JSON escapes them.
    forged = '","client_ip":"198.51.100.1","status":401,"x":"'
    line = _caddy_line(200, uri='/' + forged, headers={'X-Forged': [forged]})
    assert not _caddy_regex(rendered).search(line)
    line = _caddy_line(401, uri='/' + forged, headers={'X-Forged': [forged]})
    assert _caddy_regex(rendered).search(line).group('addr') == '203.0.113.7'
