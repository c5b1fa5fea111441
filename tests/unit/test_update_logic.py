"""net-update pure logic beyond the libvirt corpus: enums, aliases, parent index, effects."""

from __future__ import annotations

import pytest

from vnetd.errors import InvalidArgument, NotSupported
from vnetd.netxml import parse_network
from vnetd.update import (
    Command,
    Section,
    UpdateEffect,
    apply_update,
    parse_command,
    parse_section,
    plan_update,
    update_effect,
)

BASE = parse_network("""<network>
  <name>u</name>
  <forward mode='nat'/>
  <bridge name='virbr9'/>
  <ip address='192.168.50.1' prefix='24'>
    <dhcp>
      <range start='192.168.50.10' end='192.168.50.20'/>
      <host mac='52:54:00:00:00:01' name='one' ip='192.168.50.101'/>
    </dhcp>
  </ip>
  <ip address='10.8.0.1' prefix='16'/>
  <ip family='ipv6' address='fd00:8::1' prefix='64'>
    <dhcp><range start='fd00:8::10' end='fd00:8::20'/></dhcp>
  </ip>
</network>""")


def test_enum_values_match_libvirt() -> None:
    assert [c.value for c in Command] == [0, 1, 2, 3, 4]
    assert Section.IP_DHCP_HOST == 4 and Section.DNS_SRV == 12 and Section.PORTGROUP == 9


@pytest.mark.parametrize(("text", "expected"), [
    ("add", Command.ADD_LAST), ("add-last", Command.ADD_LAST), ("add-first", Command.ADD_FIRST),
    ("delete", Command.DELETE), ("MODIFY", Command.MODIFY), ("4", Command.ADD_FIRST),
    ("add_first", Command.ADD_FIRST),
])
def test_parse_command(text: str, expected: Command) -> None:
    assert parse_command(text) is expected


@pytest.mark.parametrize(("text", "expected"), [
    ("ip-dhcp-host", Section.IP_DHCP_HOST), ("ip-dhcp-range", Section.IP_DHCP_RANGE),
    ("dns-txt", Section.DNS_TXT), ("forward-interface", Section.FORWARD_INTERFACE),
    ("forward-pf", Section.FORWARD_PF), ("bridge", Section.BRIDGE), ("12", Section.DNS_SRV),
])
def test_parse_section(text: str, expected: Section) -> None:
    assert parse_section(text) is expected


@pytest.mark.parametrize("bad", ["", "append", "99", "add-middle"])
def test_bad_command_names(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="unknown net-update command"):
        parse_command(bad)


def test_bad_section_name() -> None:
    with pytest.raises(InvalidArgument, match="unknown net-update section 'dhcp'"):
        parse_section("dhcp")


@pytest.mark.parametrize("section", [Section.BRIDGE, Section.DOMAIN, Section.IP,
                                     Section.FORWARD, Section.FORWARD_PF])
def test_sections_libvirt_refuses(section: Section) -> None:
    with pytest.raises(NotSupported, match="not supported"):
        apply_update(BASE, Command.MODIFY, section, -1, "<bridge name='x'/>")


def test_none_command_and_section_refused() -> None:
    with pytest.raises(InvalidArgument, match="needs a command"):
        apply_update(BASE, Command.NONE, Section.DNS_TXT, -1, "<txt name='a' value='b'/>")
    with pytest.raises(InvalidArgument, match="needs a section"):
        apply_update(BASE, Command.ADD_LAST, Section.NONE, -1, "<txt name='a' value='b'/>")
    with pytest.raises(InvalidArgument, match="unknown net-update section 77"):
        apply_update(BASE, Command.ADD_LAST, 77, -1, "<txt/>")


def test_wrong_element_for_section() -> None:
    with pytest.raises(InvalidArgument, match="expected <txt>, got <srv>"):
        apply_update(BASE, Command.ADD_LAST, Section.DNS_TXT, -1, "<srv service='a'/>")


def test_malformed_snippet() -> None:
    with pytest.raises(InvalidArgument, match="not well-formed"):
        apply_update(BASE, Command.ADD_LAST, Section.DNS_TXT, -1, "<txt name='a'")


def test_parent_index_minus_one_picks_ip_by_family_and_subnet() -> None:
    v6 = apply_update(BASE, Command.ADD_LAST, Section.IP_DHCP_HOST, -1,
                      "<host id='0:1:2' ip='fd00:8::99'/>")
    assert v6.ips[2].dhcp is not None and len(v6.ips[2].dhcp.hosts) == 1
    v4 = apply_update(BASE, Command.ADD_FIRST, Section.IP_DHCP_HOST, -1,
                      "<host mac='52:54:00:00:00:02' ip='192.168.50.102'/>")
    assert v4.ips[0].dhcp is not None
    assert [h.ip for h in v4.ips[0].dhcp.hosts] == ["192.168.50.102", "192.168.50.101"]


def test_explicit_parent_index() -> None:
    updated = apply_update(BASE, Command.ADD_LAST, Section.IP_DHCP_RANGE, 0,
                           "<range start='192.168.50.30' end='192.168.50.40'/>")
    assert updated.ips[0].dhcp is not None and len(updated.ips[0].dhcp.ranges) == 2
    with pytest.raises(InvalidArgument, match="no <ip> element found at index 5"):
        apply_update(BASE, Command.ADD_LAST, Section.IP_DHCP_RANGE, 5,
                     "<range start='10.8.1.1' end='10.8.1.9'/>")


def test_second_dhcp_ipv4_is_refused_by_revalidation() -> None:
    # 10.8.0.1 has no DHCP; a range there would give the network two DHCPv4 <ip>s.
    with pytest.raises(InvalidArgument, match="only one IPv4 <ip> of a network may have DHCP"):
        apply_update(BASE, Command.ADD_LAST, Section.IP_DHCP_RANGE, 1,
                     "<range start='10.8.1.1' end='10.8.1.9'/>")


def test_delete_last_host_and_range_drops_dhcp() -> None:
    step = apply_update(BASE, Command.DELETE, Section.IP_DHCP_HOST, 0,
                        "<host mac='52:54:00:00:00:01'/>")
    step = apply_update(step, Command.DELETE, Section.IP_DHCP_RANGE, 0,
                        "<range start='192.168.50.10' end='192.168.50.20'/>")
    assert step.ips[0].dhcp is None
    assert update_effect(BASE, step, Section.IP_DHCP_RANGE).dnsmasq_restart


def test_dns_txt_newline_injection_refused() -> None:
    with pytest.raises(InvalidArgument, match="control characters or newlines"):
        apply_update(BASE, Command.ADD_LAST, Section.DNS_TXT, -1,
                     "<txt name='a' value='x&#10;dhcp-range=1.2.3.4'/>")


def test_effects() -> None:
    after, effect = plan_update(BASE, Command.ADD_LAST, Section.IP_DHCP_HOST, 0,
                                "<host mac='52:54:00:00:00:03' ip='192.168.50.103'/>")
    assert after.ips[0].dhcp is not None and len(after.ips[0].dhcp.hosts) == 2
    assert effect == UpdateEffect(firewall=True, dnsmasq_restart=False, hosts_only=True)
    _, effect = plan_update(BASE, Command.ADD_LAST, Section.DNS_HOST, -1,
                            "<host ip='192.168.50.7'><hostname>x</hostname></host>")
    assert effect == UpdateEffect(hosts_only=True)
    _, effect = plan_update(BASE, Command.ADD_LAST, Section.DNS_TXT, -1,
                            "<txt name='a' value='b'/>")
    assert effect == UpdateEffect(dnsmasq_restart=True)
    _, effect = plan_update(BASE, Command.ADD_LAST, Section.DNS_SRV, -1,
                            "<srv service='s' protocol='udp'/>")
    assert effect == UpdateEffect(dnsmasq_restart=True)
    _, effect = plan_update(BASE, Command.ADD_LAST, Section.IP_DHCP_RANGE, 0,
                            "<range start='192.168.50.30' end='192.168.50.40'/>")
    assert effect == UpdateEffect(firewall=True, dnsmasq_restart=True)


def test_first_dhcp_host_switches_dhcp_on_and_restarts() -> None:
    plain = parse_network("<network><name>p</name><ip address='10.1.0.1' prefix='24'/>"
                          "</network>")
    _, effect = plan_update(plain, Command.ADD_LAST, Section.IP_DHCP_HOST, -1,
                            "<host mac='52:54:00:00:00:04' ip='10.1.0.5'/>")
    assert effect.dnsmasq_restart and not effect.hosts_only


def test_input_definition_is_unchanged() -> None:
    before = BASE
    apply_update(BASE, Command.DELETE, Section.IP_DHCP_HOST, 0, "<host name='one'/>")
    assert BASE is before and BASE.ips[0].dhcp is not None and len(BASE.ips[0].dhcp.hosts) == 1
