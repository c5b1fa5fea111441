"""Hand-built network definitions shared by the firewall unit and conformance tests."""

from __future__ import annotations

from vnetd.model import Bridge, Forward, ForwardMode, IpConfig, Nat, NetworkDefinition

V4 = IpConfig(address="192.168.122.1", netmask="255.255.255.0")
V6 = IpConfig(address="2001:db8:ca2:2::1", family="ipv6", prefix=64)
BR = Bridge(name="virbr0")


def network(forward: Forward | None, *ips: IpConfig, ipv6: bool | None = None,
            name: str = "default") -> NetworkDefinition:
    return NetworkDefinition(name=name, bridge=BR, forward=forward, ips=ips or (V4,), ipv6=ipv6)


CASES: dict[str, NetworkDefinition] = {
    "nat": network(Forward()),
    "nat-dev": network(Forward(mode=ForwardMode.NAT, dev="enp0s7")),
    "nat-address-port": network(Forward(mode=ForwardMode.NAT, nat=Nat(
        address_start="203.0.113.10", address_end="203.0.113.20", port_start=500,
        port_end=1000))),
    "nat-ipv6": network(Forward(nat=Nat(ipv6=True)), V4, V6),
    "nat-ipv6-routed": network(Forward(), V4, V6),
    "route": network(Forward(mode=ForwardMode.ROUTE), V4, V6),
    "open": network(Forward(mode=ForwardMode.OPEN)),
    "isolated": network(None),
    "isolated-ipv6": network(None, V4, ipv6=True),
}
