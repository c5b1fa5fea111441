"""IPv6 end to end through the real daemon: router advertisements, DHCPv6 (range and
reservation), routed IPv6 to the uplink, NAT66, and the accept_ra care before IPv6
forwarding is turned on.

Networks are defined and started over D-Bus (busctl); guests are namespaces plugged
into the bridge; the uplink namespace listens and reports who talked to it.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.conftest import require_tools
from tests.integration.busapi import Api
from tests.integration.daemon_harness import Daemon
from tests.integration.netns import (
    PYTHON,
    UPLINK6_HOST_IP,
    UPLINK6_PEER_IP,
    Guest,
    Namespace,
    Topology,
)

PORT = 5566

LISTENER = f"""
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::", {PORT}))
s.settimeout(20)
print("listening", flush=True)
data, peer = s.recvfrom(100)
print("peer", peer[0], data.decode(), flush=True)
"""


def _sender(target: str, source: str | None = None) -> str:
    bind = f"s.bind(({source!r}, 0))" if source else ""
    return f"""
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
{bind}
s.sendto(b"hello", ({target!r}, {PORT}))
print("sent")
"""


def v6_network(name: str, n: int, *, mode: str | None = "nat", nat6: bool = False,
               dhcp6: str = "", ipv4: bool = True) -> str:
    """A network on bridge v6<name> with fd00:77:<n>::1/64 (and 10.77.<n>.1/24)."""
    if mode is None:
        forward = ""
    elif nat6:
        forward = f"<forward mode='{mode}'><nat ipv6='yes'/></forward>"
    else:
        forward = f"<forward mode='{mode}'/>"
    v4 = f"<ip address='10.77.{n}.1' netmask='255.255.255.0'/>" if ipv4 else ""
    return (f"<network><name>{name}</name>{forward}<bridge name='v6{name}'/>{v4}"
            f"<ip family='ipv6' address='fd00:77:{n}::1' prefix='64'>{dhcp6}</ip></network>")


def _start(daemon: Daemon, xml: str) -> tuple[Api, str]:
    api = Api(daemon)
    path = api.define(xml)
    api.net(path, "Start")
    return api, path


def _addresses(ns: Namespace, dev: str) -> list[dict[str, object]]:
    data = json.loads(ns.run("ip", "-6", "-j", "addr", "show", "dev", dev).stdout or "[]")
    return [a for link in data for a in link.get("addr_info", [])]


def wait_link_local(ns: Namespace, dev: str = "eth0", timeout: float = 10) -> str:
    """The interface's link-local address once DAD is over (RS, DHCPv6 need it)."""
    deadline = time.monotonic() + timeout
    while True:
        for addr in _addresses(ns, dev):
            if addr.get("scope") == "link" and not addr.get("tentative"):
                return str(addr["local"])
        if time.monotonic() > deadline:
            raise AssertionError(f"{dev} in {ns.name}: no usable link-local address: "
                                 f"{_addresses(ns, dev)}")
        time.sleep(0.05)


def _guest(topology: Topology, bridge: str, mac: str | None = None) -> Guest:
    guest = topology.add_guest(bridge, mac=mac)
    wait_link_local(guest.ns)
    return guest


def test_router_advertisement_announces_the_prefix(vnetd_daemon: Daemon,
                                                   topology: Topology) -> None:
    require_tools("rdisc6")
    vnetd_daemon.start("--no-default-network")
    _start(vnetd_daemon, v6_network("ra", 60))
    conf = (vnetd_daemon.state_dir / "dnsmasq" / "ra.conf").read_text()
    assert "dhcp-range=fd00:77:60::1,ra-only" in conf
    bridge = topology.host.run("ip", "-6", "addr", "show", "dev", "v6ra").stdout
    assert "fd00:77:60::1/64" in bridge and "tentative" not in bridge
    guest = _guest(topology, "v6ra")
    began = time.monotonic()
    out = guest.ns.run("rdisc6", "-1", "-w", "1000", "-r", "5", "eth0", timeout=30).stdout
    print(f"RA answered {time.monotonic() - began:.3f}s after the router solicitation")
    assert "fd00:77:60::/64" in out, out
    # SLAAC: the guest (accept_ra=1, not forwarding) numbers itself from the prefix.
    deadline = time.monotonic() + 10
    while not any(str(a["local"]).startswith("fd00:77:60:") for a in _addresses(guest.ns, "eth0")):
        assert time.monotonic() < deadline, _addresses(guest.ns, "eth0")
        time.sleep(0.1)
    # The host did not configure itself from its own RA (accept_ra=0 on the bridge).
    for key, value in (("accept_ra", "0"), ("autoconf", "0"), ("accept_dad", "0")):
        got = topology.host.run("sysctl", "-n", f"net.ipv6.conf.v6ra.{key}").stdout
        assert got.strip() == value, key
    # RAs come from the bridge's link-local address (usable at once: accept_dad=0), which
    # is the only source a guest's kernel takes them from.
    assert f"from {wait_link_local(topology.host, 'v6ra')}" in out, out


RESERVED_MAC = "52:54:00:61:00:02"
# dhclient -D LL: DUID-LL = type 3, hardware type 1 (Ethernet), the MAC.
RESERVED_DUID = "00:03:00:01:" + RESERVED_MAC


def dhclient6(guest: Guest, tmp: Path, *, fqdn: str | None = None,
              timeout: float = 40) -> tuple[str, float]:
    """One stateful DHCPv6 exchange with ISC dhclient (DUID-LL, no address assigned,
    the FQDN option when ``fqdn`` is given); return the leased address and how long
    it took."""
    lease = tmp / f"{guest.ns.name}.leases"
    pid = tmp / f"{guest.ns.name}.pid"
    conf = tmp / f"{guest.ns.name}.conf"
    conf.write_text(f'send fqdn.fqdn "{fqdn}";\n' if fqdn else "")
    began = time.monotonic()
    proc = guest.ns.run("dhclient", "-6", "-1", "-v", "-D", "LL", "-cf", str(conf), "-lf",
                        str(lease), "-pf", str(pid), "-sf", "/bin/true", "eth0", check=False,
                        timeout=timeout)
    elapsed = time.monotonic() - began
    # dhclient stays in the background after binding: stop it by its pid file.
    guest.ns.run("dhclient", "-6", "-x", "-pf", str(pid), check=False)
    assert proc.returncode == 0, f"dhclient -6 failed: {proc.stdout}{proc.stderr}"
    text = lease.read_text()
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["iaaddr"]:
            return words[1], elapsed
    raise AssertionError(f"no iaaddr in the dhclient lease file:\n{text}")


def test_dhcpv6_range_and_duid_reservation(vnetd_daemon: Daemon, topology: Topology,
                                           tmp_path: Path) -> None:
    require_tools("dhclient")
    vnetd_daemon.start("--no-default-network")
    dhcp = ("<dhcp><range start='fd00:77:61::100' end='fd00:77:61::1ff'/>"
            f"<host id='{RESERVED_DUID}' ip='fd00:77:61::42'/>"
            "<host name='peter' ip='fd00:77:61::43'/></dhcp>")
    api, path = _start(vnetd_daemon, v6_network("dhcp", 61, dhcp6=dhcp))
    conf = (vnetd_daemon.state_dir / "dnsmasq" / "dhcp.conf").read_text()
    assert "dhcp-range=fd00:77:61::100,fd00:77:61::1ff,64" in conf and "enable-ra" in conf
    hosts = (vnetd_daemon.state_dir / "dnsmasq" / "dhcp.hostsfile").read_text()
    assert f"id:{RESERVED_DUID},[fd00:77:61::42]" in hosts
    assert "peter,[fd00:77:61::43]" in hosts
    tmp_path.chmod(0o755)

    guest = _guest(topology, "v6dhcp", mac="52:54:00:61:00:01")
    address, elapsed = dhclient6(guest, tmp_path)
    print(f"DHCPv6 lease {address} after {elapsed:.3f}s (includes the STP forward delay)")
    assert 0x100 <= int(address.rsplit(":", 1)[1], 16) <= 0x1ff, address
    assert address.startswith("fd00:77:61::")

    reserved = _guest(topology, "v6dhcp", mac=RESERVED_MAC)
    got, elapsed = dhclient6(reserved, tmp_path)
    print(f"DHCPv6 reservation {got} after {elapsed:.3f}s")
    assert got == "fd00:77:61::42"

    # A reservation by name matches the name the client sends in its FQDN option.
    named = _guest(topology, "v6dhcp", mac="52:54:00:61:00:03")
    got, elapsed = dhclient6(named, tmp_path, fqdn="peter")
    print(f"DHCPv6 reservation by name {got} after {elapsed:.3f}s")
    assert got == "fd00:77:61::43"

    # The daemon lists both IPv6 leases (type 1) with the network's prefix.
    leases = api.net(path, "GetDHCPLeases", "su", "", "0")
    v6 = sorted((lease[5], lease[2], lease[6]) for lease in leases if lease[2] == 1)
    assert v6 == sorted([(address, 1, 64), ("fd00:77:61::42", 1, 64),
                         ("fd00:77:61::43", 1, 64)]), leases


def _send_from_guest(topology: Topology, guest: Guest, source: str) -> str:
    """A UDP datagram from ``source`` in the guest to the uplink; the address the uplink
    saw it come from."""
    listener = topology.uplink.popen(PYTHON, "-c", LISTENER)
    assert listener.stdout is not None
    assert listener.stdout.readline().strip() == "listening"
    # Datagrams sent before the port forwards (STP) are lost: resend until one arrives.
    deadline = time.monotonic() + 15
    while listener.poll() is None and time.monotonic() < deadline:
        guest.ns.python(_sender(UPLINK6_PEER_IP, source))
        try:
            listener.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            continue
    out = listener.stdout.read()
    assert out.startswith("peer "), f"the uplink heard nothing: {out!r}"
    return out.split()[1]


def _static_guest(topology: Topology, bridge: str, address: str, gateway: str) -> Guest:
    guest = _guest(topology, bridge)
    guest.ns.run("ip", "-6", "addr", "add", f"{address}/64", "dev", "eth0", "nodad")
    guest.ns.run("ip", "-6", "route", "replace", "default", "via", gateway)
    return guest


def test_routed_ipv6_guest_reaches_the_uplink_with_its_own_address(
        vnetd_daemon: Daemon, topology: Topology) -> None:
    topology.add_ipv6_uplink("fd00:77:62::/64")
    vnetd_daemon.start("--no-default-network")
    _start(vnetd_daemon, v6_network("rt", 62, mode="route"))
    forwarding = topology.host.run("sysctl", "-n", "net.ipv6.conf.all.forwarding").stdout
    assert forwarding.strip() == "1"
    # The guest configures itself from vnetd's RA alone: SLAAC address, default route.
    guest = _guest(topology, "v6rt")
    began = time.monotonic()
    address = _slaac_address(guest, "fd00:77:62:")
    routes = json.loads(guest.ns.run("ip", "-6", "-j", "route", "show", "default").stdout)
    assert [r.get("protocol") for r in routes] == ["ra"], routes
    print(f"routed IPv6: guest had SLAAC address {address} and an RA default route "
          f"{time.monotonic() - began:.3f}s after plugging in")
    peer = _send_from_guest(topology, guest, address)
    print(f"routed IPv6: uplink heard {peer} after {time.monotonic() - began:.3f}s")
    assert peer == address


def _slaac_address(guest: Guest, prefix: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while True:
        for addr in _addresses(guest.ns, "eth0"):
            if str(addr["local"]).startswith(prefix) and not addr.get("tentative"):
                return str(addr["local"])
        assert time.monotonic() < deadline, f"no SLAAC address: {_addresses(guest.ns, 'eth0')}"
        time.sleep(0.05)


def test_isolated_ipv6_network_advertises_no_default_router(
        vnetd_daemon: Daemon, topology: Topology) -> None:
    """libvirt: an isolated network's RAs have router lifetime 0 (ra-param=*,0,0), so a
    guest numbers itself but routes nothing through the host."""
    require_tools("rdisc6")
    vnetd_daemon.start("--no-default-network")
    _start(vnetd_daemon, v6_network("iso", 66, mode=None))
    guest = _guest(topology, "v6iso")
    out = guest.ns.run("rdisc6", "-1", "-w", "1000", "-r", "8", "eth0", timeout=30).stdout
    assert "fd00:77:66::/64" in out, out
    lifetime = next(line for line in out.splitlines() if "Router lifetime" in line)
    assert lifetime.split(":")[1].split()[0] == "0", lifetime
    _slaac_address(guest, "fd00:77:66:")
    assert guest.ns.run("ip", "-6", "route", "show", "default").stdout.strip() == ""
    forwarding = topology.host.run("sysctl", "-n", "net.ipv6.conf.all.forwarding").stdout
    assert forwarding.strip() == "0"  # isolated: no forwarding turned on


def test_nat66_guest_is_masqueraded_behind_the_uplink_address(
        vnetd_daemon: Daemon, topology: Topology) -> None:
    # No route back to the guest subnet in the uplink: only masquerading can work.
    topology.add_ipv6_uplink()
    vnetd_daemon.start("--no-default-network")
    _start(vnetd_daemon, v6_network("nat", 63, nat6=True))
    guest = _static_guest(topology, "v6nat", "fd00:77:63::10", "fd00:77:63::1")
    began = time.monotonic()
    peer = _send_from_guest(topology, guest, "fd00:77:63::10")
    print(f"NAT66: uplink heard {peer} after {time.monotonic() - began:.3f}s")
    assert peer == UPLINK6_HOST_IP


def test_nat_without_nat66_routes_ipv6(vnetd_daemon: Daemon, topology: Topology) -> None:
    """libvirt: nat mode masquerades IPv4 only; IPv6 is routed unless <nat ipv6='yes'>."""
    topology.add_ipv6_uplink("fd00:77:64::/64")
    vnetd_daemon.start("--no-default-network")
    _start(vnetd_daemon, v6_network("nat4", 64))
    guest = _static_guest(topology, "v6nat4", "fd00:77:64::10", "fd00:77:64::1")
    assert _send_from_guest(topology, guest, "fd00:77:64::10") == "fd00:77:64::10"


def _ra_default_route(ns: Namespace) -> list[object]:
    return json.loads(ns.run("ip", "-6", "-j", "route", "show", "default", "proto", "ra",
                             "dev", "up0").stdout or "[]")


def _wait(what: str, predicate: object, timeout: float = 15) -> float:
    began = time.monotonic()
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() - began < timeout, f"timed out waiting for {what}"
        time.sleep(0.1)
    return time.monotonic() - began


def test_uplink_with_ra_routes_gets_accept_ra_2(vnetd_daemon: Daemon, topology: Topology,
                                                tmp_path: Path) -> None:
    """The host learned its IPv6 default route from a router advertisement on up0
    (accept_ra=1). Turning IPv6 forwarding on would make the kernel ignore later RAs
    there (route loss); the daemon warns and sets accept_ra=2 (see firewall.sysctl)."""
    require_tools("rdisc6")
    host, uplink = topology.host, topology.uplink
    host.run("sysctl", "-qw", "net.ipv6.conf.up0.accept_ra=1")
    wait_link_local(uplink, "up1")
    wait_link_local(host, "up0")
    # A real router in the uplink: dnsmasq sending RAs for 2001:db8:100::/64.
    uplink.run("ip", "-6", "addr", "add", f"{UPLINK6_PEER_IP}/64", "dev", "up1", "nodad")
    tmp_path.chmod(0o755)
    router = uplink.popen("dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
                          "--port=0", "--interface=up1", "--enable-ra",
                          "--dhcp-range=2001:db8:100::,ra-only", "--user=root",
                          f"--pid-file={tmp_path / 'router.pid'}", "--log-facility=-")
    _wait("the RA default route", lambda: _ra_default_route(host))
    assert host.run("sysctl", "-n", "net.ipv6.conf.all.forwarding").stdout.strip() == "0"

    vnetd_daemon.start("--no-default-network")
    _start(vnetd_daemon, v6_network("rapr", 65))
    assert host.run("sysctl", "-n", "net.ipv6.conf.all.forwarding").stdout.strip() == "1"
    assert host.run("sysctl", "-n", "net.ipv6.conf.up0.accept_ra").stdout.strip() == "2"
    log = vnetd_daemon.log()
    assert "interface up0 has routes from router advertisements" in log
    assert "net.ipv6.conf.up0.accept_ra=2" in log

    # The point of it: with forwarding on, the host still takes routes from RAs.
    host.run("ip", "-6", "route", "del", "default", "proto", "ra", "dev", "up0")
    assert not _ra_default_route(host)
    host.run("rdisc6", "-1", "up0", check=False)  # the answer goes to the kernel too
    took = _wait("the RA default route to come back", lambda: _ra_default_route(host))
    print(f"RA default route relearned {took:.3f}s after the solicitation, forwarding on")
    # Control: with accept_ra=1 the same RA is ignored now that the host forwards.
    host.run("sysctl", "-qw", "net.ipv6.conf.up0.accept_ra=1")
    host.run("ip", "-6", "route", "del", "default", "proto", "ra", "dev", "up0")
    host.run("rdisc6", "-1", "up0", check=False)
    time.sleep(1)
    assert not _ra_default_route(host), "accept_ra=1 took an RA while forwarding"
    router.terminate()
    router.wait(timeout=5)
