"""Hypothesis strategies for valid, canonical ``NetworkDefinition``s (bridge-owning modes)."""

from __future__ import annotations

import ipaddress

from hypothesis import strategies as st

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
    ForwardMode,
    IpConfig,
    Lease,
    Nat,
    NetworkDefinition,
    Route,
)
from vnetd.netxml.raw import metadata_element
from vnetd.xmlsafe import parse_xml

LABEL = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
DNS_NAME = st.lists(LABEL, min_size=1, max_size=3).map(".".join)
NAME_CHARS = st.characters(
    blacklist_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp"),
    blacklist_characters="/\r\x85\u2028\u2029",
)
OPT_BOOL = st.sampled_from([None, True, False])
METADATA = [
    "<metadata><app1:foo xmlns:app1='http://foo.org/'>fooish</app1:foo></metadata>",
    "<metadata><a:x xmlns:a='urn:a' k='v'><a:y>1</a:y><a:z/></a:x></metadata>",
]


def _lease() -> st.SearchStrategy[Lease | None]:
    return st.one_of(
        st.none(),
        st.just(Lease(0, None)),
        st.builds(Lease, st.integers(2, 10**5), st.just("minutes")),
        st.builds(Lease, st.integers(120, 10**6), st.just("seconds")),
        st.builds(Lease, st.integers(1, 1000), st.just("hours")),
    )


@st.composite
def _macs(draw: st.DrawFn) -> str:
    first = draw(st.integers(0, 255)) & 0xFE
    rest = draw(st.lists(st.integers(0, 255), min_size=5, max_size=5))
    return ":".join(f"{b:02x}" for b in [first, *rest])


@st.composite
def _ipv4(draw: st.DrawFn, index: int, with_dhcp: bool) -> IpConfig:
    net = ipaddress.IPv4Network(f"10.{index}.0.0/24")
    hosts = list(net.hosts())
    use_netmask = draw(st.booleans())
    dhcp = None
    if with_dhcp:
        start = draw(st.integers(2, 100))
        end = draw(st.integers(start, 200))
        ranges = (DhcpRange(str(hosts[start - 1]), str(hosts[end - 1]), draw(_lease())),)
        count = draw(st.integers(0, 3))
        static = tuple(
            DhcpHost(mac=draw(_macs()), name=f"h{i}-{draw(LABEL)}", ip=str(hosts[210 + i]),
                     lease=draw(_lease()))
            for i in range(count)
        )
        macs = {h.mac for h in static}
        if len(macs) != len(static):
            static = static[:1]
        bootp = draw(st.one_of(st.none(), st.builds(Bootp, st.just("pxe.img"),
                                                    st.sampled_from([None, "10.9.9.9"]))))
        dhcp = Dhcp(ranges, static, bootp)
    return IpConfig(
        address=str(hosts[0]),
        family=draw(st.sampled_from([None, "ipv4"])),
        netmask="255.255.255.0" if use_netmask else None,
        prefix=None if use_netmask else 24,
        local_ptr=draw(OPT_BOOL),
        tftp_root=draw(st.sampled_from([None, "/srv/tftp"])) if with_dhcp else None,
        dhcp=dhcp,
    )


@st.composite
def _ipv6(draw: st.DrawFn, index: int) -> IpConfig:
    net = ipaddress.IPv6Network(f"fd00:{index:x}::/64")
    dhcp = None
    if draw(st.booleans()):
        dhcp = Dhcp(
            (DhcpRange(str(net[0x100]), str(net[0x1FF]), draw(_lease())),),
            (DhcpHost(id="0:3:0:1:0:16:3e:11:22:33", name="six", ip=str(net[0x300])),),
        )
    return IpConfig(address=str(net[1]), family="ipv6", prefix=64, dhcp=dhcp)


@st.composite
def _dns(draw: st.DrawFn) -> Dns | None:
    txt_names = draw(st.lists(LABEL, max_size=3, unique=True))
    dns = Dns(
        enable=draw(st.sampled_from([None, True])),
        forward_plain_names=draw(OPT_BOOL),
        forwarders=tuple(draw(st.lists(st.one_of(
            st.builds(DnsForwarder, st.sampled_from(["8.8.8.8", "2001:db8::53"]), st.none()),
            st.builds(DnsForwarder, st.none(), DNS_NAME),
            st.builds(DnsForwarder, st.just("192.0.2.1"), DNS_NAME),
        ), max_size=3))),
        txts=tuple(DnsTxt(n, draw(st.text("abc xyz=;", min_size=1, max_size=10)))
                   for n in txt_names),
        hosts=tuple(draw(st.lists(st.builds(
            DnsHost, st.sampled_from(["10.0.0.5", "fd00::5"]),
            st.lists(LABEL, min_size=1, max_size=3).map(tuple)), max_size=2))),
        srvs=tuple(draw(st.lists(st.builds(
            DnsSrv, LABEL, st.sampled_from(["tcp", "udp"]), st.one_of(st.none(), DNS_NAME),
            st.one_of(st.none(), DNS_NAME), st.one_of(st.none(), st.integers(1, 65535)),
            st.one_of(st.none(), st.integers(1, 65535)),
            st.one_of(st.none(), st.integers(1, 65535))), max_size=2))),
    )
    return None if dns == Dns() else dns


@st.composite
def definitions(draw: st.DrawFn) -> NetworkDefinition:
    mode = draw(st.sampled_from([None, ForwardMode.NAT, ForwardMode.ROUTE, ForwardMode.OPEN]))
    forward = None
    if mode is not None:
        dev = None if mode is ForwardMode.OPEN else draw(st.sampled_from([None, "eth0",
                                                                           "enp1s0"]))
        nat = None
        if mode is ForwardMode.NAT and draw(st.booleans()):
            nat = Nat(ipv6=draw(OPT_BOOL), address_start="198.51.100.10",
                      address_end="198.51.100.20", port_start=1024, port_end=65535)
        forward = Forward(mode=mode, dev=dev, nat=nat, interfaces=(dev,) if dev else ())
    n_v4 = draw(st.integers(1 if mode else 0, 2))
    ips = [draw(_ipv4(i + 1, i == 0)) for i in range(n_v4)]
    if draw(st.booleans()):
        ips.append(draw(_ipv6(1)))
    routes = ()
    if ips and ips[0].version == 4 and draw(st.booleans()):
        routes = (Route(address="192.168.200.0", gateway="10.1.0.9", prefix=24,
                        metric=draw(st.one_of(st.none(), st.integers(1, 100)))),)
    metadata = draw(st.sampled_from([None, *METADATA]))
    return NetworkDefinition(
        name=draw(st.text(NAME_CHARS, min_size=1, max_size=20).filter(
            lambda s: not s.startswith(".") and len(s.encode()) <= 200)),
        uuid=str(draw(st.uuids())),
        title=draw(st.one_of(st.none(), st.text(NAME_CHARS, max_size=20))),
        description=draw(st.one_of(st.none(), st.text("abc \n<>&'\"", max_size=20))),
        metadata=None if metadata is None else metadata_element(parse_xml(metadata)),
        ipv6=draw(st.sampled_from([None, True])),
        trust_guest_rx_filters=draw(OPT_BOOL),
        forward=forward,
        bridge=Bridge(
            name=draw(st.sampled_from([None, "virbr0", "br-test"])),
            stp=draw(st.booleans()),
            delay=draw(st.integers(0, 30)),
            mac_table_manager=draw(st.sampled_from([None, "kernel", "libvirt"])),
            zone=draw(st.sampled_from([None, "libvirt"])),
        ),
        mtu=draw(st.one_of(st.none(), st.integers(68, 9000))),
        mac=draw(st.one_of(st.none(), _macs())),
        domain=draw(st.one_of(st.none(), st.builds(Domain, DNS_NAME, OPT_BOOL, OPT_BOOL))),
        dns=draw(_dns()),
        ips=tuple(ips),
        routes=routes,
        port_isolated=draw(OPT_BOOL),
        dnsmasq_options=tuple(draw(st.lists(st.sampled_from(
            ["foo=bar", "cname=*.a.example,b.example", "log-queries"]), max_size=2))),
    )
