"""When a network needs a dnsmasq at all (libvirt's networkStartDhcpDaemon rules)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vnetd.dnsmasq import DnsmasqSupervisor
from vnetd.model import (
    Bridge,
    Dhcp,
    DhcpHost,
    DhcpRange,
    Dns,
    Forward,
    ForwardMode,
    IpConfig,
    NetworkDefinition,
)
from vnetd.paths import Paths

SUP = DnsmasqSupervisor(Paths(state_dir=Path("/nonexistent")))
IP = IpConfig(address="10.0.0.1", prefix=24)
DHCP_IP = IpConfig(address="10.0.0.1", prefix=24,
                   dhcp=Dhcp(ranges=(DhcpRange("10.0.0.2", "10.0.0.9"),)))
HOSTS_IP = IpConfig(address="10.0.0.1", prefix=24,
                    dhcp=Dhcp(hosts=(DhcpHost(mac="52:54:00:00:00:01", ip="10.0.0.5"),)))


def net(**kw: object) -> NetworkDefinition:
    return NetworkDefinition(name="n", bridge=Bridge(name="vbr0"), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("definition", "needed"), [
    (net(), False),  # no address: nothing to serve
    (net(ips=(IP,)), True),  # DNS only
    (net(ips=(IP,), dns=Dns(enable=False)), False),
    (net(ips=(IpConfig(address="10.0.0.1", prefix=24, dhcp=Dhcp()),), dns=Dns(enable=False)),
     False),  # an empty <dhcp/> serves nothing
    (net(ips=(DHCP_IP,), dns=Dns(enable=False)), True),
    (net(ips=(HOSTS_IP,), dns=Dns(enable=False)), True),
    (net(ips=(DHCP_IP,), forward=Forward(mode=ForwardMode.NAT)), True),
    (net(ips=(DHCP_IP,), forward=Forward(mode=ForwardMode.BRIDGE)), False),
    (net(ips=(DHCP_IP,), forward=Forward(mode=ForwardMode.HOSTDEV)), False),
])
def test_needed(definition: NetworkDefinition, needed: bool) -> None:
    assert SUP.needed(definition) is needed
