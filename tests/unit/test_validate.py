"""Each validation rule: refused with InvalidArgument naming the element, reason and line."""

from __future__ import annotations

import re

import pytest

from vnetd.errors import InvalidArgument
from vnetd.model import NetworkDefinition
from vnetd.netxml import parse_network
from vnetd.validate import validate_definition

IP4 = "<ip address='192.168.122.1' netmask='255.255.255.0'>{}</ip>"
RANGE = "<dhcp><range start='192.168.122.2' end='192.168.122.254'/>{}</dhcp>"


def net(body: str, *, name: str = "n", head: str = "<network>",
        forward: str = "<forward mode='nat'/>") -> str:
    return f"{head}\n<name>{name}</name>\n{forward}\n{body}\n</network>"


def ip4(inner: str = "") -> str:
    return IP4.format(inner)


def dhcp(hosts: str = "") -> str:
    return ip4(RANGE.format(hosts))


CASES: list[tuple[str, str, str]] = [
    # (id, xml, regex the message must match)
    ("name-empty", net(ip4(), name=""), r"^<name> \(line \d+\): .*must not be empty"),
    ("name-slash", net(ip4(), name="a/b"), r"^<name>.*must not contain '/'"),
    ("name-dot", net(ip4(), name=".hidden"), r"^<name>.*must not start with '\.'"),
    ("name-newline", net(ip4(), name="a&#10;b"), r"^<name>.*control characters or newlines"),
    ("name-tab", net(ip4(), name="a&#9;b"), r"^<name>.*control characters"),
    ("name-long", net(ip4(), name="x" * 201), r"^<name>.*longer than 200 bytes"),
    ("name-missing", "<network><forward/></network>", r"^<network>.*missing required element"),
    ("uuid", net(ip4() + "<uuid>not-a-uuid</uuid>"), r"^<uuid> \(line \d+\): .*not a UUID"),
    ("bridge-long", net(ip4() + "<bridge name='abcdefghijklmnop'/>"),
     r"^<bridge>.*longer than 15 bytes"),
    ("bridge-space", net(ip4() + "<bridge name='br 0'/>"), r"^<bridge>.*contains ' '"),
    ("bridge-slash", net(ip4() + "<bridge name='br/0'/>"), r"^<bridge>.*contains '/'"),
    ("bridge-dotdot", net(ip4() + "<bridge name='..'/>"), r"^<bridge>.*'\.' and '\.\.'"),
    ("bridge-lo", net(ip4() + "<bridge name='lo'/>"), r"^<bridge>.*loopback"),
    ("bridge-stp-value", net(ip4() + "<bridge stp='maybe'/>"), r"^<bridge>.*'on' or 'off'"),
    ("bridge-zone", net(ip4() + "<bridge zone='a b'/>"), r"^<bridge>.*zone"),
    ("bridge-twice", net(ip4() + "<bridge/><bridge/>"), r"^<bridge>.*only once"),
    ("stp-hw-mode", net("<bridge name='br0' stp='on'/>", forward="<forward mode='bridge'/>"),
     r"^<bridge>.*only allowed with modes nat"),
    ("bridge-and-dev", net("<bridge name='br0'/>",
                           forward="<forward mode='bridge' dev='eth0'/>"),
     r"^<bridge>.*not both"),
    ("mac-multicast", net(ip4() + "<mac address='01:00:5E:00:00:01'/>"),
     r"^<mac>.*multicast.*unicast"),
    ("mac-malformed", net(ip4() + "<mac address='52:54:00:zz:00:01'/>"),
     r"^<mac> \(line \d+\): .*not a MAC"),
    ("mtu-small", net(ip4() + "<mtu size='20'/>"), r"^<mtu>.*68\.\.65535"),
    ("prefix-range", net("<ip address='10.0.0.1' prefix='33'/>"), r"^<ip>.*'prefix'.*1 and 32"),
    ("prefix-v6-range", net("<ip family='ipv6' address='fd00::1' prefix='129'/>"),
     r"^<ip>.*'prefix'.*1 and 128"),
    ("netmask-noncontiguous", net("<ip address='10.0.0.1' netmask='255.0.255.0'/>"),
     r"^<ip>.*not a contiguous netmask"),
    ("netmask-and-prefix", net("<ip address='10.0.0.1' netmask='255.0.0.0' prefix='8'/>"),
     r"^<ip>.*both 'prefix' and 'netmask'"),
    ("netmask-v6", net("<ip address='fd00::1' netmask='255.0.0.0'/>"),
     r"^<ip>.*'netmask' is not allowed for IPv6"),
    ("ip-family-mismatch", net("<ip family='ipv6' address='10.0.0.1'/>"),
     r"^<ip>.*not an IPv6 address"),
    ("ip-address-missing", net("<ip prefix='24'/>"), r"^<ip>.*missing required attribute"),
    ("range-outside", net(ip4("<dhcp><range start='10.0.0.2' end='10.0.0.9'/></dhcp>")),
     r"^<range> \(line \d+\): address 10\.0\.0\.2 is outside the subnet 192\.168\.122\.0/24"),
    ("range-reversed", net(ip4("<dhcp><range start='192.168.122.9' end='192.168.122.2'/>"
                               "</dhcp>")), r"^<range>.*start .* is after end"),
    ("range-family", net(ip4("<dhcp><range start='192.168.122.9' end='fd00::2'/></dhcp>")),
     r"^<range>.*different address families"),
    ("dhcp-twice-v4", net(dhcp() + "<ip address='10.0.0.1' prefix='24'><dhcp>"
                          "<range start='10.0.0.2' end='10.0.0.3'/></dhcp></ip>"),
     r"^<dhcp>.*only one IPv4 <ip>.*DHCP"),
    ("host-outside", net(dhcp("<host mac='52:54:00:00:00:01' ip='10.1.1.1'/>")),
     r"^<host>.*outside the subnet"),
    ("host-dup-mac", net(dhcp("<host mac='52:54:00:00:00:01' ip='192.168.122.10'/>"
                              "<host mac='52:54:00:00:00:01' ip='192.168.122.11'/>")),
     r"^<host> \(line \d+\): mac .* more than one"),
    ("host-dup-ip", net(dhcp("<host mac='52:54:00:00:00:01' ip='192.168.122.10'/>"
                             "<host mac='52:54:00:00:00:02' ip='192.168.122.10'/>")),
     r"^<host>.*ip .* more than one"),
    ("host-dup-name", net(dhcp("<host mac='52:54:00:00:00:01' name='a' ip='192.168.122.10'/>"
                               "<host mac='52:54:00:00:00:02' name='A' ip='192.168.122.11'/>")),
     r"^<host>.*name .* more than one"),
    ("host-v4-needs-mac", net(dhcp("<host name='a' ip='192.168.122.10'/>")),
     r"^<host>.*needs 'mac' or 'id'"),
    ("host-v4-needs-ip", net(dhcp("<host mac='52:54:00:00:00:01'/>")), r"^<host>.*missing 'ip'"),
    ("host-v6-mac", net("<ip family='ipv6' address='fd00::1' prefix='64'><dhcp>"
                        "<host mac='52:54:00:00:00:01' ip='fd00::5'/></dhcp></ip>"),
     r"^<host>.*'mac' is not allowed in an IPv6"),
    ("host-name-comma", net(dhcp("<host mac='52:54:00:00:00:01' name='a,b' ip='192.168.122.9'/>")),
     r"^<host>.*name 'a,b' is not valid"),
    ("host-name-newline", net(dhcp("<host mac='52:54:00:00:00:01' name='a&#10;b' "
                                   "ip='192.168.122.9'/>")), r"^<host>.*name .* is not valid"),
    ("host-id-comma", net(dhcp("<host id='01:02,x' ip='192.168.122.9'/>")),
     r"^<host>.*id .* is not valid"),
    ("lease-short", net(ip4("<dhcp><range start='192.168.122.2' end='192.168.122.9'>"
                            "<lease expiry='1'/></range></dhcp>")),
     r"^<range>.*shorter than 2 minutes"),
    ("lease-short-seconds", net(ip4("<dhcp><range start='192.168.122.2' end='192.168.122.9'>"
                                    "<lease expiry='119' unit='seconds'/></range></dhcp>")),
     r"^<range>.*shorter than 2 minutes"),
    ("lease-host-short", net(dhcp("<host mac='52:54:00:00:00:01' ip='192.168.122.9'>"
                                  "<lease expiry='30' unit='seconds'/></host>")),
     r"^<host>.*shorter than 2 minutes"),
    ("lease-unit", net(ip4("<dhcp><range start='192.168.122.2' end='192.168.122.9'>"
                           "<lease expiry='5' unit='days'/></range></dhcp>")),
     r"^<lease>.*'unit' must be one of"),
    ("tftp-v6", net("<ip family='ipv6' address='fd00::1' prefix='64'><tftp root='/srv'/></ip>"),
     r"^<tftp>.*only supported on IPv4"),
    ("tftp-twice", net(ip4("<tftp root='/a'/>") + "<ip address='10.0.0.1' prefix='8'>"
                       "<tftp root='/b'/></ip>"), r"^<tftp>.*only one <ip>"),
    ("tftp-comma", net(ip4("<tftp root='/a,b'/>")), r"^<tftp>.*must not contain ','"),
    ("bootp-newline", net(ip4(RANGE.format("<bootp file='a&#10;b'/>"))),
     r"^<bootp>.*control characters or newlines"),
    ("bootp-v6", net("<ip family='ipv6' address='fd00::1' prefix='64'><dhcp>"
                     "<range start='fd00::2' end='fd00::9'/><bootp file='x'/></dhcp></ip>"),
     r"^<bootp>.*only supported on IPv4"),
    ("bootp-alone", net(ip4("<dhcp><bootp file='x'/></dhcp>")), r"^<bootp>.*needs a <range>"),
    ("route-gateway", net(ip4() + "<route address='10.0.0.0' prefix='8' gateway='10.0.0.1'/>"),
     r"^<route> \(line \d+\): gateway 10\.0\.0\.1 is not in the subnet"),
    ("route-hostbits", net(ip4() + "<route address='10.0.0.1' prefix='8' "
                           "gateway='192.168.122.5'/>"), r"^<route>.*host bits"),
    ("route-metric", net(ip4() + "<route address='10.0.0.0' prefix='8' "
                         "gateway='192.168.122.5' metric='0'/>"), r"^<route>.*'metric'"),
    ("dns-disabled-children", net(ip4() + "<dns enable='no'><txt name='a' value='b'/></dns>"),
     r"^<dns> \(line \d+\): enable='no' does not allow any child element"),
    ("dns-enable-value", net(ip4() + "<dns enable='maybe'/>"), r"^<dns>.*'yes' or 'no'"),
    ("txt-name-comma", net(ip4() + "<dns><txt name='a,b' value='v'/></dns>"),
     r"^<txt>.*name 'a,b' must not contain ','"),
    ("txt-name-space", net(ip4() + "<dns><txt name='a b' value='v'/></dns>"),
     r"^<txt>.*must not contain spaces"),
    ("txt-value-newline", net(ip4() + "<dns><txt name='a' value='x&#10;dhcp-range=1'/></dns>"),
     r"^<txt>.*value must not contain control characters or newlines"),
    ("txt-value-comma", net(ip4() + "<dns><txt name='a' value='x,y'/></dns>"),
     r"^<txt>.*value 'x,y' must not contain ','"),
    ("txt-dup", net(ip4() + "<dns><txt name='a' value='1'/><txt name='a' value='2'/></dns>"),
     r"^<txt>.*already exists"),
    ("dns-hostname-comma", net(ip4() + "<dns><host ip='10.0.0.1'><hostname>a,b</hostname>"
                               "</host></dns>"), r"^<hostname>.*'a,b' is not valid"),
    ("dns-host-no-name", net(ip4() + "<dns><host ip='10.0.0.1'/></dns>"),
     r"^<host>.*at least one <hostname>"),
    ("srv-service-comma", net(ip4() + "<dns><srv service='a,b' protocol='tcp'/></dns>"),
     r"^<srv>.*service 'a,b' is not valid"),
    ("srv-target-newline", net(ip4() + "<dns><srv service='a' protocol='tcp' target='x&#10;y'/>"
                               "</dns>"), r"^<srv>.*target .* is not valid"),
    ("srv-protocol", net(ip4() + "<dns><srv service='a' protocol='sctp'/></dns>"),
     r"^<srv>.*'tcp', 'udp'"),
    ("srv-port", net(ip4() + "<dns><srv service='a' protocol='tcp' port='70000'/></dns>"),
     r"^<srv>.*'port' must be between 0 and 65535"),
    ("forwarder-empty", net(ip4() + "<dns><forwarder/></dns>"), r"^<forwarder>.*at least one"),
    ("forwarder-domain", net(ip4() + "<dns><forwarder domain='a,b'/></dns>"),
     r"^<forwarder>.*domain"),
    ("domain-comma", net(ip4() + "<domain name='a,b'/>"), r"^<domain>.*'a,b' is not valid"),
    ("domain-newline", net(ip4() + "<domain name='a&#10;server=1.2.3.4'/>"),
     r"^<domain>.*is not valid"),
    ("dnsmasq-option-newline",
     net(ip4() + "<dnsmasq:options><dnsmasq:option value='a&#10;b'/></dnsmasq:options>",
         head="<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>"),
     r"^<dnsmasq:option>.*control characters or newlines"),
    ("open-dev", net(ip4(), forward="<forward mode='open' dev='eth0'/>"),
     r"^<forward> \(line \d+\): mode 'open' does not allow 'dev'"),
    ("nat-no-ip", net("", forward="<forward mode='nat'/>"), r"^<forward>.*needs at least one <ip>"),
    ("forward-mode", net(ip4(), forward="<forward mode='teleport'/>"),
     r"^<forward>.*'mode' must be one of"),
    ("forward-dev-mismatch", net(ip4(), forward="<forward dev='eth0'><interface dev='eth1'/>"
                                 "</forward>"), r"^<interface>.*must match the first"),
    ("nat-in-route", net(ip4(), forward="<forward mode='route'><nat><port start='1' end='2'/>"
                         "</nat></forward>"), r"^<nat>.*only allowed with forward mode 'nat'"),
    ("nat-address-order", net(ip4(), forward="<forward><nat><address start='10.0.0.9' "
                              "end='10.0.0.1'/></nat></forward>"), r"^<address>.*after end"),
    ("nat-port-order", net(ip4(), forward="<forward><nat><port start='2000' end='1000'/></nat>"
                           "</forward>"), r"^<port>.*not valid"),
    ("dup-passthrough", net("", forward="<forward mode='passthrough'><interface dev='a'/>"
                            "<interface dev='a'/></forward>"),
     r"^<interface>.*can only be listed once"),
    ("dup-hostdev", net("", forward="<forward mode='hostdev'><address type='pci' bus='1'/>"
                        "<address type='pci' bus='0x01'/></forward>"),
     r"^<address>.*can only be listed once"),
    ("portgroup-dup", net("<portgroup name='a'/><portgroup name='a'/>",
                          forward="<forward mode='bridge'><interface dev='eth0'/></forward>"),
     r"^<portgroup>.*more than once"),
    ("portgroup-defaults", net("<portgroup name='a' default='yes'/>"
                               "<portgroup name='b' default='yes'/>",
                               forward="<forward mode='bridge'><interface dev='e'/></forward>"),
     r"^<portgroup>.*only one portgroup may be the default"),
    ("unknown-element", net(ip4() + "<dchp/>"), r"^<dchp> \(line \d+\): unknown element"),
    ("unknown-attribute", net(ip4() + "<bridge nmae='x'/>"), r"^<bridge>.*unknown attribute"),
    ("stray-text", net(ip4() + "hello"), r"^<network>.*unexpected text"),
    ("wrong-root", "<domain><name>x</name></domain>", r"^<domain>.*root element must be"),
]


@pytest.mark.parametrize(("xml", "pattern"), [pytest.param(x, p, id=i) for i, x, p in CASES])
def test_rule(xml: str, pattern: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_network(xml)
    assert re.search(pattern, str(info.value)), str(info.value)


def test_error_points_at_the_offending_line() -> None:
    xml = net(dhcp("\n\n<host mac='52:54:00:00:00:01' ip='10.9.9.9'/>"))
    with pytest.raises(InvalidArgument, match=r"^<host> \(line 6\): ip 10\.9\.9\.9 is outside"):
        parse_network(xml)


@pytest.mark.parametrize("xml", [
    net(ip4("<dhcp><range start='192.168.122.2' end='192.168.122.9'><lease expiry='0'/>"
            "</range></dhcp>")),
    net(ip4("<dhcp><range start='192.168.122.2' end='192.168.122.9'>"
            "<lease expiry='120' unit='seconds'/></range></dhcp>")),
    net(ip4("<dhcp><range start='192.168.122.2' end='192.168.122.9'><lease expiry='2'/>"
            "</range></dhcp>")),
    net(ip4() + "<dns><txt name='a' value='with spaces=and;stuff'/></dns>"),
    net(ip4(), name="caf\u00e9 \"quoted\" 'name'"),
    net(ip4() + "<bridge name='virbr-0.1_x'/>"),
    net(ip4() + "<mac address='52:54:00:AB:cd:EF'/>"),
    net("<ip family='ipv6' address='fd00::1' prefix='64'><dhcp><host id='0:3:0:1' "
        "ip='fd00::5'/><host name='n' ip='fd00::6'/></dhcp></ip>"),
])
def test_valid_edges_are_accepted(xml: str) -> None:
    assert parse_network(xml).name


def test_validate_applies_to_definitions_built_in_code() -> None:
    with pytest.raises(InvalidArgument, match=r"^<name>: .*must not contain '/'"):
        validate_definition(NetworkDefinition(name="a/b"))
    with pytest.raises(InvalidArgument, match=r"^<uuid>: .*canonical"):
        validate_definition(NetworkDefinition(name="a", uuid="ABC"))


def test_uuid_is_canonicalised() -> None:
    d = parse_network(net(ip4() + "<uuid>81FF0D90C91E674264DA4A736EDB9A9B</uuid>"))
    assert d.uuid == "81ff0d90-c91e-6742-64da-4a736edb9a9b"


def test_malformed_values_built_in_code_are_invalid_argument() -> None:
    from vnetd.model import Dns, DnsHost, IpConfig

    with pytest.raises(InvalidArgument, match="invalid value"):
        validate_definition(NetworkDefinition(name="a", dns=Dns(hosts=(DnsHost("x", ("h",)),))))
    with pytest.raises(InvalidArgument):
        validate_definition(NetworkDefinition(name="a", ips=(IpConfig(address="10.0.0.1",
                                                                      netmask="255.0.255.0"),)))
