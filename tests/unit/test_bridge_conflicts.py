"""Pure bridge rules: interface-name validity, adopting a stale bridge, subnet overlap."""

from __future__ import annotations

import ipaddress
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vnetd.bridge.conflicts import (
    AddressFact,
    LinkFact,
    RouteFact,
    bridge_addresses,
    check_existing_link,
    check_route_collisions,
    link_local,
    overlaps,
    parse_network,
    route_metric,
    validate_bridge_name,
    wanted_addresses,
)
from vnetd.errors import Conflict, InvalidArgument
from vnetd.model import Bridge, IpConfig, NetworkDefinition, Route


def net(**kw: object) -> NetworkDefinition:
    base: dict[str, object] = {
        "name": "default",
        "bridge": Bridge(name="virbr0"),
        "ips": (IpConfig(address="192.168.122.1", prefix=24),
                IpConfig(address="fd00:122::1", family="ipv6", prefix=64)),
    }
    base.update(kw)
    return NetworkDefinition(**base)  # type: ignore[arg-type]


def iface(text: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    return ipaddress.ip_interface(text)


def route(dst: str, *oifs: int, metric: int = 0, table: int = 254, type: int = 1,
          gateway: str | None = None) -> RouteFact:
    return RouteFact(network=ipaddress.ip_network(dst), oifs=oifs, gateway=gateway,
                     metric=metric, table=table, type=type)


NAMES = {1: "lo", 2: "eth0", 3: "virbr0", 4: "tun0"}


# -- names ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["virbr0", "br-x", "a", "x" * 15, "vnet.1", "br_0"])
def test_valid_bridge_names(name: str) -> None:
    assert validate_bridge_name(name) == name


@pytest.mark.parametrize(("name", "reason"), [
    (None, "no bridge name"),
    ("", "no bridge name"),
    ("x" * 16, "at most 15 bytes"),
    ("brü" + "x" * 12, "at most 15 bytes"),  # 15 characters, 16 bytes
    (".", "not a valid interface name"),
    ("..", "not a valid interface name"),
    ("br/0", "'/'"),
    ("br:0", "':'"),
    ("br 0", "' '"),
    ("br\t0", "'\\t'"),
])
def test_invalid_bridge_names(name: str | None, reason: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        validate_bridge_name(name)
    assert "<bridge name" in str(err.value)
    assert reason in str(err.value)


@given(st.text(min_size=1, max_size=20))
def test_name_rule_matches_kernel_rule(name: str) -> None:
    kernel_ok = (len(name.encode()) < 16 and name not in {".", ".."}
                 and not any(c in "/:" or c.isspace() for c in name))
    try:
        validate_bridge_name(name)
        assert kernel_ok
    except InvalidArgument:
        assert not kernel_ok


# -- addresses and metrics -----------------------------------------------------------

def test_wanted_addresses_in_order_without_duplicates() -> None:
    d = net(ips=(IpConfig(address="10.0.0.1", netmask="255.255.255.0"),
                 IpConfig(address="10.0.0.1", prefix=24),
                 IpConfig(address="fd00::1", family="ipv6")))
    assert wanted_addresses(d) == (iface("10.0.0.1/24"), iface("fd00::1/64"))


def test_link_local_is_the_eui64_of_the_mac_for_ipv6_networks() -> None:
    six = net(mac="52:54:00:12:34:56")  # net() has an IPv6 address
    assert link_local(six) == iface("fe80::5054:ff:fe12:3456/64")  # RFC 4291 appendix A
    assert link_local(net(mac="02:00:00:00:00:01")) == iface("fe80::ff:fe00:1/64")
    assert link_local(net()) is None  # no MAC: the kernel's own, when carrier comes
    four = net(mac="52:54:00:12:34:56", ips=(IpConfig(address="10.0.0.1", prefix=24),))
    assert link_local(four) is None
    assert bridge_addresses(six) == (*wanted_addresses(six), link_local(six))
    assert bridge_addresses(four) == wanted_addresses(four)


def test_wanted_addresses_rejects_bad_prefix() -> None:
    with pytest.raises(InvalidArgument, match=re.escape("<ip address='10.0.0.1'>")):
        wanted_addresses(net(ips=(IpConfig(address="10.0.0.1", prefix=40),)))


def test_route_metric_defaults_to_libvirts_one() -> None:
    assert route_metric(Route(address="10.1.0.0", prefix=16, gateway="10.0.0.2")) == 1
    assert route_metric(Route(address="10.1.0.0", prefix=16, gateway="10.0.0.2",
                              metric=7)) == 7


def test_parse_network_default_route() -> None:
    assert parse_network(None, 0, False) == ipaddress.ip_network("0.0.0.0/0")
    assert parse_network(None, 0, True) == ipaddress.ip_network("::/0")
    assert parse_network("10.1.2.0", 24, False) == ipaddress.ip_network("10.1.2.0/24")


# -- overlap -------------------------------------------------------------------------

@pytest.mark.parametrize(("a", "b", "expected"), [
    ("192.168.122.0/24", "192.168.122.0/24", True),
    ("192.168.122.0/24", "192.168.0.0/16", True),
    ("192.168.0.0/16", "192.168.122.0/24", True),
    ("192.168.122.0/24", "192.168.123.0/24", False),
    ("192.168.122.0/24", "192.168.122.128/25", True),
    ("fd00::/64", "fd00::/48", True),
    ("fd00::/64", "fd00:0:0:1::/64", False),
    ("10.0.0.0/8", "::/0", False),
])
def test_overlaps(a: str, b: str, expected: bool) -> None:
    assert overlaps(ipaddress.ip_network(a), ipaddress.ip_network(b)) is expected


@given(st.integers(0, 2**32 - 1), st.integers(0, 32), st.integers(0, 2**32 - 1),
       st.integers(0, 32))
def test_overlap_is_symmetric_and_means_shared_addresses(a: int, alen: int, b: int,
                                                         blen: int) -> None:
    na = ipaddress.ip_network((a, alen), strict=False)
    nb = ipaddress.ip_network((b, blen), strict=False)
    assert overlaps(na, nb) == overlaps(nb, na)
    shared = (int(na.network_address) <= int(nb.broadcast_address)
              and int(nb.network_address) <= int(na.broadcast_address))
    assert overlaps(na, nb) == shared


# -- the existing interface with the bridge's name -----------------------------------

def test_free_name_is_not_ours() -> None:
    assert check_existing_link(net(), None, []) is False


def test_stale_bridge_with_our_addresses_is_adopted() -> None:
    link = LinkFact(3, "virbr0", "bridge", "52:54:00:01:02:03")
    addrs = [AddressFact(3, iface("192.168.122.1/24")), AddressFact(3, iface("fe80::1/64")),
             AddressFact(2, iface("10.0.0.5/24"))]  # on another interface: irrelevant
    assert check_existing_link(net(), link, addrs) is True


def test_half_built_bridge_without_addresses_is_adopted() -> None:
    link = LinkFact(3, "virbr0", "bridge", "52:54:00:01:02:03")
    assert check_existing_link(net(mac="52:54:00:01:02:03"), link, []) is True


def test_mac_is_compared_case_insensitively() -> None:
    link = LinkFact(3, "virbr0", "bridge", "52:54:00:ab:cd:ef")
    assert check_existing_link(net(mac="52:54:00:AB:CD:EF"), link, []) is True


def test_veth_with_the_bridge_name_conflicts() -> None:
    with pytest.raises(Conflict, match=r"in use by interface virbr0 \(a veth, not a bridge\)"):
        check_existing_link(net(), LinkFact(3, "virbr0", "veth", None), [])


def test_kindless_device_with_the_bridge_name_conflicts() -> None:
    with pytest.raises(Conflict, match="a device, not a bridge"):
        check_existing_link(net(), LinkFact(3, "virbr0", None, None), [])


def test_bridge_with_another_mac_conflicts() -> None:
    with pytest.raises(Conflict, match="MAC 52:54:00:00:00:01 is not this network's"):
        check_existing_link(net(mac="52:54:00:00:00:02"),
                            LinkFact(3, "virbr0", "bridge", "52:54:00:00:00:01"), [])


def test_bridge_with_foreign_address_conflicts() -> None:
    addrs = [AddressFact(3, iface("192.168.122.1/24")), AddressFact(3, iface("10.9.9.9/8"))]
    with pytest.raises(Conflict, match=re.escape("carries 10.9.9.9/8")):
        check_existing_link(net(), LinkFact(3, "virbr0", "bridge", None), addrs)


def test_same_address_other_prefix_is_foreign() -> None:
    addrs = [AddressFact(3, iface("192.168.122.1/16"))]
    with pytest.raises(Conflict, match=re.escape("192.168.122.1/16")):
        check_existing_link(net(), LinkFact(3, "virbr0", "bridge", None), addrs)


# -- routes --------------------------------------------------------------------------

def test_route_on_other_interface_conflicts_with_libvirts_message() -> None:
    with pytest.raises(Conflict, match="Network is already in use by interface eth0"):
        check_route_collisions(net(), [route("192.168.122.0/24", 2)], NAMES, None)


def test_wider_route_overlapping_conflicts() -> None:
    with pytest.raises(Conflict, match=re.escape("overlaps route 192.168.0.0/16 on tun0")):
        check_route_collisions(net(), [route("192.168.0.0/16", 4, gateway="10.8.0.1")],
                               NAMES, None)


def test_narrower_ipv6_route_overlapping_conflicts() -> None:
    with pytest.raises(Conflict, match="subnet fd00:122::/64"):
        check_route_collisions(net(), [route("fd00:122::/96", 2)], NAMES, None)


def test_routes_on_own_bridge_are_ignored() -> None:
    check_route_collisions(net(), [route("192.168.122.0/24", 3), route("fd00:122::/64", 3)],
                           NAMES, own_index=3)


def test_default_routes_and_disjoint_routes_are_ignored() -> None:
    check_route_collisions(net(), [route("0.0.0.0/0", 2), route("::/0", 2),
                                   route("192.168.123.0/24", 2), route("fe80::/64", 2)],
                           NAMES, None)


def test_local_table_and_non_unicast_routes_are_ignored() -> None:
    check_route_collisions(net(), [route("192.168.122.1/32", 2, table=255, type=2),
                                   route("192.168.122.0/24", type=6)], NAMES, None)


def test_multipath_route_counts_unless_all_hops_are_ours() -> None:
    check_route_collisions(net(), [route("192.168.122.0/24", 3, 3)], NAMES, own_index=3)
    with pytest.raises(Conflict, match="interface eth0"):
        check_route_collisions(net(), [route("192.168.122.0/24", 3, 2)], NAMES, own_index=3)


def test_unknown_interface_index_is_named_by_number() -> None:
    with pytest.raises(Conflict, match="interface #42"):
        check_route_collisions(net(), [route("192.168.122.0/25", 42)], NAMES, None)


def test_static_route_already_taken_conflicts() -> None:
    d = net(routes=(Route(address="10.20.0.0", prefix=16, gateway="192.168.122.2"),))
    with pytest.raises(Conflict, match=r"<route address='10.20.0.0' prefix='16'>.*metric 1"):
        check_route_collisions(d, [route("10.20.0.0/16", 2, metric=1)], NAMES, None)
    # Another metric can coexist, and the network's own route on its bridge is fine.
    check_route_collisions(d, [route("10.20.0.0/16", 2, metric=100),
                               route("10.20.0.0/16", 3, metric=1)], NAMES, own_index=3)
