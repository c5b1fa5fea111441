"""dnsmasq answers DNS only to packets that arrive on its own bridge or from the host
(CVE-2012-3411), in every mode, through the real daemon.

A firewalled network's dnsmasq binds with ``bind-interfaces`` (no wake-ups for every
address change on the host, ``vnetd.listeners``), which does not check the arrival
interface; vnetd's input chain drops the rest. An ``open`` network has no firewall of
vnetd's and keeps ``bind-dynamic``, with which dnsmasq refuses those packets itself.
Queries come from a guest on the bridge, from the host, from the uplink (routed to the
bridge's address) and from a guest of another network.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from tests.conftest import require_tools
from tests.integration.busapi import Api, network_xml
from tests.integration.daemon_harness import Daemon
from tests.integration.netns import UPLINK_HOST_IP, Namespace, Topology

PROBE = "<dns><host ip='192.0.2.9'><hostname>probe</hostname></host></dns>"


def _ask(ns: Namespace, server: str, *, tcp: bool) -> str:
    """The answer to ``probe`` from ``server``, '' when none came within a second."""
    argv = ["dig", "+short", "+time=1", "+tries=1", f"@{server}", "probe"]
    if tcp:
        argv.insert(1, "+tcp")
    out = ns.run(*argv, check=False).stdout.strip()
    return out if out == "192.0.2.9" else ""


def _answers(ns: Namespace, server: str) -> tuple[str, str]:
    return (_ask(ns, server, tcp=False), _ask(ns, server, tcp=True))


def _guard_drops(topology: Topology) -> int:
    """Packets the input chain's guard rules dropped (their counters)."""
    listing = json.loads(topology.host.run("nft", "-j", "list", "chain", "inet", "vnetd",
                                           "input").stdout)
    return sum(next(e["counter"]["packets"] for e in item["rule"]["expr"] if "counter" in e)
               for item in listing["nftables"]
               if "rule" in item and "drop" in item["rule"]["expr"][-1])


def test_dns_is_answered_only_on_the_bridge_and_to_the_host(
        vnetd_daemon: Daemon, topology: Topology) -> None:
    require_tools("dnsmasq", "dig", "busybox", "nft")
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    nets = {"gnat": (91, "nat", "vgnat"), "groute": (92, "route", "vgroute"),
            "gopen": (93, "open", "vgopen")}
    for name, (subnet, mode, bridge) in nets.items():
        api.net(api.define(network_xml(name, subnet, mode=mode, bridge=bridge, extra=PROBE)),
                "Start")
    confs = {name: (vnetd_daemon.state_dir / "dnsmasq" / f"{name}.conf").read_text()
             for name in nets}
    assert "\nbind-interfaces\n" in confs["gnat"] and "bind-dynamic" not in confs["gnat"]
    assert "\nbind-interfaces\n" in confs["groute"]
    assert "\nbind-dynamic\n" in confs["gopen"] and "bind-interfaces" not in confs["gopen"]

    guests = {name: topology.add_guest(bridge) for name, (_, _, bridge) in nets.items()}
    for guest in guests.values():
        guest.dhcp()
    # The uplink reaches the bridges' addresses through the host, as a LAN neighbour
    # that routes to the host would.
    topology.uplink.run("ip", "route", "add", "10.77.0.0/16", "via", UPLINK_HOST_IP)

    for name, (subnet, _mode, _bridge) in nets.items():
        server = f"10.77.{subnet}.1"
        assert _answers(guests[name].ns, server) == ("192.0.2.9",) * 2, name
        assert _answers(topology.host, server) == ("192.0.2.9",) * 2, name
        before = _guard_drops(topology)
        assert _answers(topology.uplink, server) == ("", ""), name
        other = guests["gopen" if name != "gopen" else "gnat"]
        assert _answers(other.ns, server) == ("", ""), name
        dropped = _guard_drops(topology) - before
        if name == "gopen":
            assert dropped == 0  # dnsmasq refused them itself
        else:
            # UDP from two places, TCP SYNs (retransmitted within the second) from two.
            assert dropped >= 4, (name, dropped)


def test_the_guard_comes_back_after_the_table_goes(
        vnetd_daemon: Daemon, topology: Topology) -> None:
    require_tools("dnsmasq", "dig", "nft")
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    api.net(api.define(network_xml("gback", 94, bridge="vgback", extra=PROBE)), "Start")
    topology.uplink.run("ip", "route", "add", "10.77.0.0/16", "via", UPLINK_HOST_IP)
    assert _answers(topology.uplink, "10.77.94.1") == ("", "")

    topology.host.run("nft", "delete", "table", "inet", "vnetd")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if topology.host.run("nft", "list", "table", "inet", "vnetd", check=False).returncode == 0:
            break
        time.sleep(0.05)
    # The repair is one transaction: a table that is back is complete.
    assert '10.77.94.1 . "vgback" comment "gback"' in topology.host.run(
        "nft", "list", "set", "inet", "vnetd", "home4").stdout
    assert _answers(topology.uplink, "10.77.94.1") == ("", "")


def _drops_by_family(topology: Topology) -> dict[str, int]:
    listing = json.loads(topology.host.run("nft", "-j", "list", "chain", "inet", "vnetd",
                                           "input").stdout)
    counts = {}
    for item in listing["nftables"]:
        if "rule" not in item:
            continue
        expr = item["rule"]["expr"]
        family = expr[0]["match"]["left"]["concat"][0]["payload"]["protocol"]
        counts[family] = next(e["counter"]["packets"] for e in expr if "counter" in e)
    return counts


def _start_one(daemon: Daemon, xml: str, name: str) -> str:
    """Start the daemon and the network; the network's dnsmasq conf."""
    daemon.start("--no-default-network")
    api = Api(daemon)
    api.net(api.define(xml), "Start")
    return (daemon.state_dir / "dnsmasq" / f"{name}.conf").read_text()


def test_tftp_is_guarded(vnetd_daemon: Daemon, topology: Topology) -> None:
    """TFTP from a bind-interfaces dnsmasq: the file for a guest on the bridge, nothing
    for the uplink (the guard's counter moves)."""
    require_tools("dnsmasq", "busybox", "nft")
    root = Path(tempfile.mkdtemp(prefix="vnetd-tftp-"))
    try:
        root.chmod(0o755)  # dnsmasq serves it after dropping root
        (root / "boot.txt").write_text("vnetd tftp\n")
        (root / "boot.txt").chmod(0o644)
        xml = ("<network><name>gtftp</name><forward mode='nat'/><bridge name='vgtftp'/>"
               "<ip address='10.77.95.1' netmask='255.255.255.0'>"
               f"<tftp root='{root}'/><dhcp><range start='10.77.95.100' "
               "end='10.77.95.200'/></dhcp></ip></network>")
        conf = _start_one(vnetd_daemon, xml, "gtftp")
        assert "\nbind-interfaces\n" in conf and "\nenable-tftp\n" in conf
        guest = topology.add_guest("vgtftp")
        guest.dhcp()
        topology.uplink.run("ip", "route", "add", "10.77.0.0/16", "via", UPLINK_HOST_IP)

        def tftp(ns: Namespace) -> bool:
            got = ns.run("timeout", "3", "busybox", "tftp", "-g", "-r", "boot.txt", "-l",
                         "/dev/stdout", "10.77.95.1", check=False)
            return got.returncode == 0 and "vnetd tftp" in got.stdout

        assert tftp(guest.ns)
        before = _drops_by_family(topology)["ip"]
        assert not tftp(topology.uplink)
        assert _drops_by_family(topology)["ip"] > before
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_ipv6_network_answers_on_its_link_local_address(
        vnetd_daemon: Daemon, topology: Topology) -> None:
    """dnsmasq's router advertisements name the bridge's link-local address as the DNS
    server (RDNSS). The kernel would add that address only once a guest brings carrier,
    after dnsmasq has bound; vnetd adds it itself (EUI-64 of the network's MAC) before
    dnsmasq starts, so a dnsmasq that binds once (bind-interfaces) listens there too,
    and the kernel makes no other. From the uplink, DNS to the global address is dropped
    by the guard."""
    require_tools("dnsmasq", "dig", "nft")
    xml = ("<network><name>gsix</name><forward mode='nat'/><bridge name='vgsix'/>"
           "<mac address='52:54:00:77:96:01'/>"
           f"{PROBE}<ip address='10.77.96.1' netmask='255.255.255.0'/>"
           "<ip family='ipv6' address='fd00:77:96::1' prefix='64'/></network>")
    conf = _start_one(vnetd_daemon, xml, "gsix")
    assert "\nbind-interfaces\n" in conf and "bind-dynamic" not in conf

    def link_locals() -> list[str]:
        listing = json.loads(topology.host.run("ip", "-6", "-j", "addr", "show", "dev",
                                               "vgsix").stdout)
        return [a["local"] for link in listing for a in link["addr_info"]
                if a.get("scope") == "link"]

    assert link_locals() == ["fe80::5054:ff:fe77:9601"]  # before any guest
    guest = topology.add_guest("vgsix")
    guest.ns.run("ip", "-6", "addr", "add", "fd00:77:96::50/64", "dev", "eth0", "nodad")
    deadline = time.monotonic() + 10
    answer = ""
    while answer != "192.0.2.9" and time.monotonic() < deadline:
        answer = _ask(guest.ns, "fe80::5054:ff:fe77:9601%eth0", tcp=False)
    assert answer == "192.0.2.9"
    assert _answers(guest.ns, "fd00:77:96::1") == ("192.0.2.9",) * 2
    assert link_locals() == ["fe80::5054:ff:fe77:9601"]  # carrier came: no second one
    topology.add_ipv6_uplink("fd00:77:96::/64")
    before = _drops_by_family(topology)["ip6"]
    assert _answers(topology.uplink, "fd00:77:96::1") == ("", "")
    assert _drops_by_family(topology)["ip6"] > before
