"""Adoption at daemon start (vnetd.bridge.survey.check): a bridge counts as intact only
when ``ensure`` would change nothing; anything else is left to ``ensure``."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from pathlib import Path

import pytest

from vnetd.bridge.conflicts import AddressFact
from vnetd.bridge.rtdump import Link
from vnetd.bridge.stp_rules import KERNEL_STP_OFF, KERNEL_STP_ON, USER_STP, PortFact, Wanted
from vnetd.bridge.survey import Intact, _sysctls, check, ipv6_sysctls
from vnetd.model import Bridge, IpConfig, NetworkDefinition, Route

INDEX = 7


def net(**kw: object) -> NetworkDefinition:
    base: dict[str, object] = {
        "name": "n1",
        "bridge": Bridge(name="virbr5", stp=True, delay=0),
        "ips": (IpConfig(address="192.168.5.1", prefix=24),),
    }
    base.update(kw)
    return NetworkDefinition(**base)  # type: ignore[arg-type]


def bridge(**kw: object) -> Link:
    base: dict[str, object] = {
        "index": INDEX, "name": "virbr5", "flags": 0x1 | 0x1000, "kind": "bridge",
        "mac": "52:54:00:aa:bb:cc", "mtu": 1500, "master": None,
        "stp_state": KERNEL_STP_OFF, "forward_delay": 0, "port_state": None,
    }
    base.update(kw)
    return Link(**base)  # type: ignore[arg-type]


def addr(text: str, index: int = INDEX) -> AddressFact:
    return AddressFact(index, ipaddress.ip_interface(text))


V4 = [addr("192.168.5.1/24"), addr("fe80::1/64")]
NO_V6 = ipv6_sysctls(False)
TAP = PortFact(20, "vnet0", "tun", 3)
NIC = PortFact(21, "eth1", None, 3)


def test_intact_bridge_with_guest_ports_only_is_watched_for_stp() -> None:
    found = check(net(), bridge(), V4, [TAP], NO_V6)
    assert found == Intact(INDEX, "virbr5", Wanted("virbr5", 200, 0))


def test_intact_bridge_with_a_nic_and_stp_running_is_not_watched() -> None:
    found = check(net(), bridge(stp_state=KERNEL_STP_ON, forward_delay=200), V4, [TAP, NIC],
                  NO_V6)
    assert found == Intact(INDEX, "virbr5", None)


def test_stp_off_in_the_definition() -> None:
    definition = net(bridge=Bridge(name="virbr5", stp=False, delay=3))
    assert check(definition, bridge(forward_delay=300), V4, [NIC], NO_V6) == \
        Intact(INDEX, "virbr5", None)
    # Kernel STP running although the definition says off: ensure turns it off.
    assert check(definition, bridge(stp_state=KERNEL_STP_ON, forward_delay=300), V4, [],
                 NO_V6) is None
    assert check(definition, bridge(forward_delay=0), V4, [], NO_V6) is None


def test_userspace_stp_is_left_alone() -> None:
    assert check(net(), bridge(stp_state=USER_STP, forward_delay=1500), V4, [NIC], NO_V6) == \
        Intact(INDEX, "virbr5", None)


@pytest.mark.parametrize(("case", "link", "addresses", "ports", "sysctls"), [
    ("missing", None, V4, [], NO_V6),
    ("down", bridge(flags=0x1000), V4, [], NO_V6),
    ("address missing", bridge(), [addr("fe80::1/64")], [], NO_V6),
    ("address of another link", bridge(), [addr("192.168.5.1/24", index=3)], [], NO_V6),
    ("foreign address (a conflict ensure reports)", bridge(),
     [*V4, addr("10.1.1.1/24")], [], NO_V6),
    ("not a bridge", bridge(kind="veth"), V4, [], NO_V6),
    ("non-edge port joined while STP is off", bridge(), V4, [TAP, NIC], NO_V6),
    ("STP on with guest ports only", bridge(stp_state=KERNEL_STP_ON, forward_delay=200), V4,
     [TAP], NO_V6),
    ("forward delay changed", bridge(forward_delay=1500), V4, [TAP], NO_V6),
    ("STP running with the off delay", bridge(stp_state=KERNEL_STP_ON, forward_delay=0), V4,
     [NIC], NO_V6),
    ("sysctl changed", bridge(), V4, [], {**NO_V6, "accept_ra": "1"}),
    ("sysctl unreadable", bridge(), V4, [], {**NO_V6, "autoconf": ""}),
])
def test_anything_ensure_would_change_is_not_intact(
        case: str, link: Link | None, addresses: list[AddressFact], ports: list[PortFact],
        sysctls: dict[str, str]) -> None:
    assert check(net(), link, addresses, ports, sysctls) is None, case


def test_definition_details() -> None:
    assert check(net(mtu=9000), bridge(), V4, [], NO_V6) is None
    assert check(net(mtu=9000), bridge(mtu=9000), V4, [], NO_V6) is not None
    assert check(net(mac="52:54:00:00:00:01"), bridge(), V4, [], NO_V6) is None
    assert check(net(mac="52:54:00:AA:BB:CC"), bridge(), V4, [], NO_V6) is not None
    # Routes are compared by ensure itself.
    routed = net(routes=(Route(address="10.9.0.0", prefix=16, gateway="192.168.5.9"),))
    assert check(routed, bridge(), V4, [], NO_V6) is None
    # A bad bridge name is ensure's error to report.
    assert check(net(bridge=Bridge(name="x" * 20)), bridge(name="x" * 20), V4, [],
                 NO_V6) is None


def test_ipv6_network_needs_ipv6_on_and_its_address() -> None:
    definition = net(ips=(IpConfig(address="192.168.5.1", prefix=24),
                          IpConfig(address="fd00:5::1", family="ipv6", prefix=64)))
    both = [*V4, addr("fd00:5::1/64")]
    assert check(definition, bridge(), both, [], ipv6_sysctls(True)) is not None
    assert check(definition, bridge(), both, [], NO_V6) is None  # disable_ipv6 is 1
    assert check(definition, bridge(), V4, [], ipv6_sysctls(True)) is None
    # A kernel without IPv6 has no sysctls to compare (ensure skips them too).
    assert check(replace(definition, ips=definition.ips[:1]), bridge(), V4, [], None) \
        is not None


def test_ipv6_network_with_a_mac_needs_its_own_link_local_address() -> None:
    """vnetd adds the bridge's link-local address itself (EUI-64 of the network's MAC)
    and keeps the kernel from making one (addr_gen_mode 1)."""
    definition = net(mac="52:54:00:aa:bb:cc",
                     ips=(IpConfig(address="192.168.5.1", prefix=24),
                          IpConfig(address="fd00:5::1", family="ipv6", prefix=64)))
    own = addr("fe80::5054:ff:feaa:bbcc/64")
    everything = [addr("192.168.5.1/24"), addr("fd00:5::1/64"), own]
    wanted = ipv6_sysctls(True, True)
    assert wanted["addr_gen_mode"] == "1"
    assert check(definition, bridge(), everything, [], wanted) is not None
    assert check(definition, bridge(), everything[:2], [], wanted) is None  # missing
    assert check(definition, bridge(), everything, [], ipv6_sysctls(True)) is None
    assert check(definition, bridge(), everything, [],
                 {**wanted, "addr_gen_mode": "0"}) is None  # the kernel would add its own


def test_sysctls_read_as_ensure_would_write_them(tmp_path: Path) -> None:
    conf = tmp_path / "net" / "ipv6" / "conf" / "virbr5"
    conf.mkdir(parents=True)
    written = ipv6_sysctls(True, True)
    for key, value in written.items():
        (conf / key).write_text(value + "\n")
    assert _sysctls(tmp_path, "virbr5") == written
    (conf / "autoconf").unlink()
    assert _sysctls(tmp_path, "virbr5") == {**written, "autoconf": ""}  # not as wanted
    assert _sysctls(tmp_path, "virbr6") is None  # no such directory: no IPv6 to tune
