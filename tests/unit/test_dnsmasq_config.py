"""Golden-file tests of the dnsmasq renderer on hand-built definitions.

Regenerate after a deliberate change with ``VNETD_UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from vnetd.dnsmasq import (
    DAEMON_SECTION_MARKER,
    RESTRICTED_CAPS,
    DaemonSettings,
    DnsmasqFiles,
    render_addnhosts,
    render_config,
    render_hostsfile,
)
from vnetd.errors import InvalidArgument, NotSupported
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
    NetworkDefinition,
)
from vnetd.paths import Paths

GOLDEN = Path(__file__).parent / "golden" / "dnsmasq"
PATHS = Paths(state_dir=Path("/var/lib/vnetd"))
DAEMON = DaemonSettings(user="dnsmasq", servers_file=PATHS.dnsmasq_dir / "upstream.servers")

V4_DHCP = IpConfig(
    address="192.168.122.1", netmask="255.255.255.0",
    dhcp=Dhcp(
        ranges=(DhcpRange("192.168.122.2", "192.168.122.254", Lease(2, "hours")),),
        hosts=(DhcpHost(mac="52:54:00:00:00:10", name="alpha", ip="192.168.122.10",
                        lease=Lease(30)),
               DhcpHost(mac="52:54:00:00:00:11", ip="192.168.122.11",
                        lease=Lease(0)),
               DhcpHost(name="beta", ip="192.168.122.12"),
               DhcpHost(mac="52:54:00:00:00:13", name="nolease")),
    ))


def net(name: str, **kw: object) -> NetworkDefinition:
    kw.setdefault("bridge", Bridge(name="vbr-" + name[:8]))
    return NetworkDefinition(name=name, **kw)  # type: ignore[arg-type]


CASES: dict[str, NetworkDefinition] = {
    "nat": net("nat", forward=Forward(mode=ForwardMode.NAT), ips=(V4_DHCP,)),
    "route": net("route", forward=Forward(mode=ForwardMode.ROUTE, dev="eth0"),
                 ips=(IpConfig(address="10.20.0.1", prefix=16),)),
    "open": net("open", forward=Forward(mode=ForwardMode.OPEN),
                ips=(IpConfig(address="10.30.0.1", prefix=24,
                              dhcp=Dhcp(ranges=(DhcpRange("10.30.0.100", "10.30.0.199"),))),)),
    "isolated-mtu": net("isolated", mtu=9000,
                        ips=(IpConfig(address="192.168.152.1", prefix=24,
                                      dhcp=Dhcp(ranges=(DhcpRange("192.168.152.2",
                                                                  "192.168.152.9"),))),
                             IpConfig(address="fd00:152::1", family="ipv6", prefix=64))),
    "dns": net(
        "dns", forward=Forward(),
        domain=Domain("lab.example", local_only=True),
        dns=Dns(forward_plain_names=False,
                forwarders=(DnsForwarder(addr="192.0.2.53"),
                            DnsForwarder(domain="corp.example", addr="192.0.2.54"),
                            DnsForwarder(domain="blocked.example")),
                txts=(DnsTxt("info", "hello world"),),
                hosts=(DnsHost("192.168.122.1", ("gateway", "gw")),
                       DnsHost("192.168.122.50", ("files",)),
                       DnsHost("192.168.122.1", ("router",))),
                srvs=(DnsSrv("ldap", "tcp", domain="lab.example", target="files.lab.example",
                             port=389, priority=10, weight=5),
                      DnsSrv("kerberos", "udp", target="kdc.lab.example", weight=7),
                      DnsSrv("gone", "tcp", target="."))),
        ips=(IpConfig(address="192.168.122.1", prefix=24, local_ptr=True),)),
    "ipv6": net(
        "ipv6", forward=Forward(mode=ForwardMode.NAT),
        ips=(IpConfig(address="192.168.100.1", prefix=24,
                      dhcp=Dhcp(hosts=(DhcpHost(mac="52:54:00:00:01:01",
                                                ip="192.168.100.5"),))),
             IpConfig(address="2001:db8:100::1", family="ipv6", prefix=64, local_ptr=True,
                      dhcp=Dhcp(ranges=(DhcpRange("2001:db8:100::1000", "2001:db8:100::10ff",
                                                  Lease(600, "seconds")),),
                                hosts=(DhcpHost(id="0:3:0:1:52:54:0:0:1:2", name="six",
                                                ip="2001:db8:100::5", lease=Lease(1, "hours")),
                                       DhcpHost(name="named", ip="2001:db8:100::6")))))),
    "netboot": net("netboot", forward=Forward(),
                   ips=(IpConfig(address="192.168.140.1", prefix=24, tftp_root="/srv/tftp",
                                 dhcp=Dhcp(ranges=(DhcpRange("192.168.140.2",
                                                             "192.168.140.20"),),
                                           bootp=Bootp("pxelinux.0", "192.168.140.1"))),)),
    "options": net("options", forward=Forward(), dnsmasq_options=("cname=a.example,b.example",
                                                                   "log-queries"),
                   dns=Dns(enable=False),
                   ips=(IpConfig(address="192.168.150.1", prefix=24,
                                 dhcp=Dhcp(ranges=(DhcpRange("192.168.150.2",
                                                             "192.168.150.3"),))),)),
}


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("VNETD_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"golden file {path} missing (run with VNETD_UPDATE_GOLDEN=1)"
    assert text == path.read_text(), f"{name} differs from its golden file"


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str) -> None:
    definition = CASES[case]
    files = DnsmasqFiles.for_network(PATHS, definition.name)
    conf = render_config(definition, files, daemon=DAEMON)
    check_golden(f"{case}.conf", conf)
    check_golden(f"{case}.hostsfile", render_hostsfile(definition))
    check_golden(f"{case}.addnhosts", render_addnhosts(definition))
    # The libvirt-compatible part is exactly the text above vnetd's own section.
    plain = render_config(definition, files)
    assert conf.startswith(plain)
    assert conf[len(plain):].startswith(DAEMON_SECTION_MARKER + "\n")
    assert DAEMON_SECTION_MARKER not in plain


def test_daemon_section_runs_unprivileged_with_own_lease_file() -> None:
    files = DnsmasqFiles.for_network(PATHS, "nat")
    section = render_config(CASES["nat"], files, daemon=DAEMON).split(DAEMON_SECTION_MARKER)[1]
    lines = section.strip().splitlines()
    assert "user=dnsmasq" in lines
    assert "dhcp-leasefile=/var/lib/vnetd/dnsmasq/nat.leases" in lines
    assert "pid-file=/var/lib/vnetd/dnsmasq/nat.pid" in lines
    assert "no-ping" in lines
    assert "no-hosts" in lines
    assert not any(line.startswith("dhcp-script") for line in lines)


@pytest.mark.parametrize(("case", "reads"), [
    ("nat", True), ("route", True), ("open", True), ("netboot", True), ("ipv6", True),
    ("isolated-mtu", False),  # libvirt's part says no-resolv: nothing forwarded
    ("dns", False),           # a forwarder without a domain: libvirt's no-resolv
    ("options", False),       # DNS off (port=0)
])
def test_upstream_servers_come_from_vnetds_file_instead_of_resolv_conf(case: str,
                                                                       reads: bool) -> None:
    definition = CASES[case]
    files = DnsmasqFiles.for_network(PATHS, definition.name)
    plain = render_config(definition, files)
    section = render_config(definition, files, daemon=DAEMON).split(DAEMON_SECTION_MARKER)[1]
    lines = section.strip().splitlines()
    upstream = ["no-resolv", "servers-file=/var/lib/vnetd/dnsmasq/upstream.servers"]
    if reads:  # this dnsmasq would read resolv.conf (and hold an inotify instance for it)
        assert "no-resolv" not in plain.splitlines()
        assert lines[:2] == upstream
    else:
        assert not any(line.startswith("servers-file=") for line in lines)
    # Without the file (no daemon section setting): dnsmasq reads resolv.conf as before.
    bare = render_config(definition, files, daemon=DaemonSettings(user="dnsmasq"))
    assert "servers-file=" not in bare


def test_own_resolv_file_option_is_left_to_dnsmasq() -> None:
    definition = replace(CASES["nat"], dnsmasq_options=("resolv-file=/etc/my-resolv",))
    conf = render_config(definition, DnsmasqFiles.for_network(PATHS, "nat"), daemon=DAEMON)
    assert "servers-file=" not in conf and "no-resolv" not in conf.splitlines()


def test_files_derive_from_paths() -> None:
    files = DnsmasqFiles.for_network(Paths(state_dir=Path("/st")), "web")
    assert files.conf == Path("/st/dnsmasq/web.conf")
    assert files.hostsfile == Path("/st/dnsmasq/web.hostsfile")
    assert files.addnhosts == Path("/st/dnsmasq/web.addnhosts")
    assert files.leases == Path("/st/dnsmasq/web.leases")
    assert files.pid == Path("/st/dnsmasq/web.pid")
    with pytest.raises(InvalidArgument, match="file name"):
        DnsmasqFiles.for_network(PATHS, "../etc")


def test_restricted_caps_listen_on_addresses() -> None:
    definition = CASES["isolated-mtu"]
    conf = render_config(definition, DnsmasqFiles.for_network(PATHS, "x"), caps=RESTRICTED_CAPS)
    lines = conf.splitlines()
    assert "bind-dynamic" not in lines
    at = lines.index("bind-interfaces")
    assert lines[at + 1: at + 3] == ["listen-address=192.168.152.1", "listen-address=fd00:152::1"]


def test_restricted_caps_refuse_public_address() -> None:
    definition = net("pub", ips=(IpConfig(address="203.0.113.1", prefix=24),))
    with pytest.raises(NotSupported, match="bind-dynamic"):
        render_config(definition, DnsmasqFiles.for_network(PATHS, "pub"), caps=RESTRICTED_CAPS)


def test_no_bridge_name_refused() -> None:
    definition = NetworkDefinition(name="nobr", ips=(IpConfig(address="10.0.0.1", prefix=24),))
    with pytest.raises(InvalidArgument, match="bridge name missing"):
        render_config(definition, DnsmasqFiles.for_network(PATHS, "nobr"))


def test_two_dhcp_ips_of_one_family_refused() -> None:
    dhcp = Dhcp(ranges=(DhcpRange("10.0.0.2", "10.0.0.9"),))
    other = Dhcp(ranges=(DhcpRange("10.1.0.2", "10.1.0.9"),))
    definition = net("two", ips=(IpConfig(address="10.0.0.1", prefix=24, dhcp=dhcp),
                                 IpConfig(address="10.1.0.1", prefix=24, dhcp=other)))
    with pytest.raises(InvalidArgument, match="multiple DHCP"):
        render_config(definition, DnsmasqFiles.for_network(PATHS, "two"))


def test_local_ptr_needs_octet_prefix() -> None:
    definition = net("ptr", ips=(IpConfig(address="10.0.0.1", prefix=20, local_ptr=True),))
    with pytest.raises(InvalidArgument, match="PTR domain for IPv4 network with prefix 20"):
        render_config(definition, DnsmasqFiles.for_network(PATHS, "ptr"))


def test_empty_dhcp_element_is_no_dhcp() -> None:
    definition = net("empty", ips=(IpConfig(address="10.0.0.1", prefix=24, dhcp=Dhcp()),))
    conf = render_config(definition, DnsmasqFiles.for_network(PATHS, "empty"))
    assert "dhcp-range" not in conf
    assert "dhcp-hostsfile" not in conf
    assert render_hostsfile(definition) == ""


@pytest.mark.parametrize("case", ["nat", "route", "isolated-mtu"])
def test_guarded_network_binds_once_and_is_otherwise_libvirts(case: str) -> None:
    """A network whose DNS and TFTP ports vnetd's firewall guards (vnetd.listeners) binds
    with bind-interfaces, public addresses included; nothing else in the conf changes."""
    definition = CASES[case]
    files = DnsmasqFiles.for_network(PATHS, case)
    plain = render_config(definition, files, daemon=DAEMON).splitlines()
    guarded = render_config(definition, files, daemon=DAEMON, guarded=True).splitlines()
    at = plain.index("bind-dynamic")
    assert guarded == [*plain[:at], "bind-interfaces", *plain[at + 1:]]
    assert guarded[at + 1] == f"interface={definition.bridge_name}"
    public = net("pub", ips=(IpConfig(address="203.0.113.1", prefix=24),))
    assert "bind-interfaces" in render_config(public, files, guarded=True).splitlines()
