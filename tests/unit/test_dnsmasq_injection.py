"""No value of a definition may add a line to a dnsmasq file or a field to an option.

The renderer refuses such values itself, whatever validation did before it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vnetd.dnsmasq import (
    DaemonSettings,
    DnsmasqFiles,
    render_addnhosts,
    render_config,
    render_hostsfile,
)
from vnetd.errors import InvalidArgument
from vnetd.model import (
    Bootp,
    Bridge,
    Dhcp,
    DhcpHost,
    DhcpRange,
    Dns,
    DnsForwarder,
    DnsHost,
    DnsSrv,
    DnsTxt,
    Domain,
    Forward,
    IpConfig,
    NetworkDefinition,
)
from vnetd.paths import Paths

PATHS = Paths(state_dir=Path("/var/lib/vnetd"))
EVIL = "x\nuser=root"


def base(**kw: object) -> NetworkDefinition:
    fields: dict[str, object] = {
        "name": "safe", "forward": Forward(), "bridge": Bridge(name="vbr0"),
        "ips": (IpConfig(address="192.168.122.1", prefix=24,
                         dhcp=Dhcp(ranges=(DhcpRange("192.168.122.2", "192.168.122.9"),))),),
    }
    fields.update(kw)
    return NetworkDefinition(**fields)  # type: ignore[arg-type]


def render_all(definition: NetworkDefinition) -> None:
    files = DnsmasqFiles.for_network(PATHS, "safe")
    render_config(definition, files, daemon=DaemonSettings("dnsmasq"))
    render_hostsfile(definition)
    render_addnhosts(definition)


def with_dhcp_host(host: DhcpHost) -> NetworkDefinition:
    return base(ips=(IpConfig(address="192.168.122.1", prefix=24,
                              dhcp=Dhcp(hosts=(host,))),))


ATTACKS: dict[str, NetworkDefinition] = {
    "name newline": base(name="safe\ndhcp-script=/tmp/x"),
    "bridge newline": base(bridge=Bridge(name="vbr0\nport=0")),
    "domain newline": base(domain=Domain(EVIL)),
    "domain slash": base(domain=Domain("a/b")),
    "txt name comma": base(dns=Dns(txts=(DnsTxt("a,b", "v"),))),
    "txt value newline": base(dns=Dns(txts=(DnsTxt("a", EVIL),))),
    "txt value cr": base(dns=Dns(txts=(DnsTxt("a", "v\rx"),))),
    "txt value nul": base(dns=Dns(txts=(DnsTxt("a", "v\0x"),))),
    "txt value comma": base(dns=Dns(txts=(DnsTxt("a", "v,extra"),))),
    "srv service": base(dns=Dns(srvs=(DnsSrv("ldap\nport=0", "tcp"),))),
    "srv target comma": base(dns=Dns(srvs=(DnsSrv("ldap", "tcp", target="a,9"),))),
    "srv domain": base(dns=Dns(srvs=(DnsSrv("ldap", "tcp", domain="d\nx"),))),
    "forwarder addr": base(dns=Dns(forwarders=(DnsForwarder(addr="8.8.8.8\nno-resolv"),))),
    "forwarder domain": base(dns=Dns(forwarders=(DnsForwarder(domain="a/b", addr="8.8.8.8"),))),
    "dns host name": base(dns=Dns(hosts=(DnsHost("192.168.122.5", ("a b",)),))),
    "dns host name newline": base(dns=Dns(hosts=(DnsHost("192.168.122.5", ("a\n1.2.3.4",)),))),
    "dns host ip": base(dns=Dns(hosts=(DnsHost("192.168.122.5\n1.2.3.4", ("a",)),))),
    "dhcp host name comma": with_dhcp_host(DhcpHost(mac="52:54:00:00:00:01", name="a,ignore",
                                                    ip="192.168.122.5")),
    "dhcp host mac newline": with_dhcp_host(DhcpHost(mac="52:54:00:00:00:01\nx",
                                                     ip="192.168.122.5")),
    "dhcp host id comma": with_dhcp_host(DhcpHost(id="0:1,2", ip="192.168.122.5")),
    "dhcp host ip": with_dhcp_host(DhcpHost(mac="52:54:00:00:00:01", ip="192.168.122.5,x")),
    "range start": base(ips=(IpConfig(address="192.168.122.1", prefix=24, dhcp=Dhcp(
        ranges=(DhcpRange("192.168.122.2\nport=0", "192.168.122.9"),))),)),
    "bootp file": base(ips=(IpConfig(address="192.168.122.1", prefix=24, dhcp=Dhcp(
        ranges=(DhcpRange("192.168.122.2", "192.168.122.9"),),
        bootp=Bootp("pxe,9.9.9.9"))),)),
    "tftp root": base(ips=(IpConfig(address="192.168.122.1", prefix=24,
                                    tftp_root="/srv\nenable-dbus"),)),
    "dnsmasq option": base(dnsmasq_options=("log-queries\ndhcp-script=/tmp/x",)),
    "ip address": base(ips=(IpConfig(address="192.168.122.1\nx", prefix=24),)),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_refused(attack: str) -> None:
    with pytest.raises(InvalidArgument):
        render_all(ATTACKS[attack])


def test_error_names_the_element() -> None:
    with pytest.raises(InvalidArgument, match=r"dns txt value: .* contains a newline"):
        render_all(ATTACKS["txt value newline"])
    with pytest.raises(InvalidArgument, match=r"dhcp host name: .* contains a comma"):
        render_all(ATTACKS["dhcp host name comma"])


@given(st.text(min_size=1, max_size=30))
def test_any_txt_value_stays_on_its_line(value: str) -> None:
    definition = base(dns=Dns(txts=(DnsTxt("t", value),)))
    files = DnsmasqFiles.for_network(PATHS, "safe")
    try:
        conf = render_config(definition, files)
    except InvalidArgument:
        assert "," in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
        return
    plain = render_config(replace(definition, dns=None), files)
    # Exactly one line more than without the record (dnsmasq splits at "\n" only).
    assert conf.count("\n") == plain.count("\n") + 1
    assert f"txt-record=t,{value}" in conf.split("\n")


@given(st.text(min_size=1, max_size=20))
def test_any_dhcp_host_name_stays_in_its_field(name: str) -> None:
    definition = with_dhcp_host(DhcpHost(mac="52:54:00:00:00:01", name=name, ip="192.168.122.5"))
    try:
        text = render_hostsfile(definition)
    except InvalidArgument:
        assert "," in name or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name)
        return
    assert text == f"52:54:00:00:00:01,192.168.122.5,{name}\n"


def test_quote_in_network_name_cannot_reach_a_path() -> None:
    # dnsmasq takes '"' in a conf line for quoting: the path would silently change.
    definition = base(name='we"ird')
    files = DnsmasqFiles.for_network(PATHS, 'we"ird')
    with pytest.raises(InvalidArgument, match="hostsfile path"):
        render_config(definition, files)
