# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The published_ports filter and the loopback_address/private_address tests."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.selfhosted_ai.stack.plugins.filter.published_ports import published_ports
from ansible_collections.selfhosted_ai.stack.plugins.test.address import TestModule as AddressTestPlugin

TESTS = AddressTestPlugin().tests()


def test_ports_on_ipv4_and_ipv6_addresses():
    assert published_ports(['127.0.0.1', '10.0.0.5', 'fd00::5', '::1'], 5432, 5432) == [
        '127.0.0.1:5432:5432',
        '10.0.0.5:5432:5432',
        '[fd00::5]:5432:5432',
        '[::1]:5432:5432',
    ]


def test_one_address_as_a_string_and_ports_as_strings():
    assert published_ports('192.168.1.2', '6380', '6379') == ['192.168.1.2:6380:6379']


@pytest.mark.parametrize('addresses', [[], None, '', ['', ' ']])
def test_nothing_to_publish(addresses):
    assert published_ports(addresses, 5432, 5432) == []


def test_port_zero_publishes_nothing():
    assert published_ports(['127.0.0.1'], 0, 5432) == []


@pytest.mark.parametrize('address', ['localhost', '127.0.0.1:99', '1.2.3.4; rm -rf /', '0.0.0.0/0'])
def test_what_is_not_an_address_is_refused(address):
    with pytest.raises(AnsibleFilterError, match='is not an IPv4 or IPv6 address'):
        published_ports([address], 5432, 5432)


def test_ports_that_are_not_numbers_are_refused():
    with pytest.raises(AnsibleFilterError, match='must be integers'):
        published_ports(['127.0.0.1'], 'x', 5432)


@pytest.mark.parametrize('address', ['127.0.0.1', '127.8.9.10', '::1', '[::1]'])
def test_loopback(address):
    assert TESTS['loopback_address'](address)
    assert TESTS['private_address'](address)


@pytest.mark.parametrize(
    'address',
    [
        '10.1.2.3',
        '172.16.0.1',
        '172.31.255.254',
        '192.168.0.10',
        '100.64.0.1',
        '100.127.255.254',
        'fd12:3456::1',
        'fc00::1',
    ],
)
def test_private(address):
    assert not TESTS['loopback_address'](address)
    assert TESTS['private_address'](address)


@pytest.mark.parametrize(
    'address',
    [
        '0.0.0.0',
        '::',
        '8.8.8.8',
        '172.32.0.1',
        '100.128.0.1',
        '192.0.2.10',
        '2001:db8::1',
        'fe80::1',
        'localhost',
        '',
        None,
        10,
        '10.0.0.1/8',
    ],
)
def test_neither(address):
    assert not TESTS['loopback_address'](address)
    assert not TESTS['private_address'](address)
