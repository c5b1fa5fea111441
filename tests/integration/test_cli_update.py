"""``vnetctl net-update`` and ``net-wait-lease`` against a real vnetd, with a real guest."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import pytest

from tests.integration.daemon_harness import Daemon
from tests.integration.netns import Topology
from tests.integration.test_cli import LAB_XML, VNETCTL, ok, refused, vnetctl

HOST = "<host mac='52:54:00:12:34:56' name='pinned' ip='192.0.2.50'/>"


@pytest.fixture
def lab(vnetd_daemon: Daemon, tmp_path: Path) -> Daemon:
    vnetd_daemon.start()
    path = tmp_path / "lab.xml"
    path.write_text(LAB_XML)
    ok(vnetd_daemon, "net-define", str(path))
    return vnetd_daemon


def test_add_a_dhcp_host_live_and_config(lab: Daemon) -> None:
    ok(lab, "net-start", "lab")
    out = ok(lab, "net-update", "lab", "add", "ip-dhcp-host", HOST, "--live", "--config")
    # virsh: the message has no newline of its own; the command's empty line ends it.
    assert out == "Updated network lab persistent config and live state\n"
    for args in (("lab",), ("--inactive", "lab")):
        xml = ok(lab, "net-dumpxml", *args)
        assert "<host mac='52:54:00:12:34:56' name='pinned' ip='192.0.2.50'/>" in xml, args

    lines = refused(lab, "net-update", "lab", "add-last", "ip-dhcp-host", HOST, "--live",
                    "--config")
    assert lines[0] == "error: Failed to update network lab"
    assert len(lines) == 2 and "52:54:00:12:34:56" in lines[1]

    # delete by MAC alone, with -q: virsh prints nothing at all then.
    assert ok(lab, "-q", "net-update", "lab", "delete", "ip-dhcp-host",
              "<host mac='52:54:00:12:34:56'/>", "--live", "--config") == ""
    assert "pinned" not in ok(lab, "net-dumpxml", "lab")
    assert "pinned" not in ok(lab, "net-dumpxml", "--inactive", "lab")


def test_which_definition_each_flag_changes(lab: Daemon, tmp_path: Path) -> None:
    # Inactive network, --current: the persistent config.
    assert ok(lab, "net-update", "lab", "add", "dns-host",
              "<host ip='192.0.2.7'><hostname>seven</hostname></host>") == \
        "Updated network lab persistent config\n"
    assert "seven" in ok(lab, "net-dumpxml", "--inactive", "lab")
    ok(lab, "net-start", "lab")

    # Running network, --live only: the next start's definition stays as it was.
    host_file = tmp_path / "host.xml"  # not starting with "<": a file name
    host_file.write_text(HOST)
    assert ok(lab, "net-update", "lab", "add-first", "ip-dhcp-host", str(host_file),
              "--live") == "Updated network lab live state\n"
    assert "pinned" in ok(lab, "net-dumpxml", "lab")

    # Running network, --current: live state; by UUID, the message names the network.
    uuid = ok(lab, "net-uuid", "lab").strip()
    assert ok(lab, "net-update", uuid, "modify", "ip-dhcp-host",
              "<host mac='52:54:00:12:34:56' name='pinned' ip='192.0.2.60'/>",
              "--parent-index", "0") == "Updated network lab live state\n"
    assert "ip='192.0.2.60'" in ok(lab, "net-dumpxml", "lab")

    # --config on a running network: only the next start's definition.
    assert ok(lab, "net-update", "lab", "add", "dns-txt", "<txt name='t' value='v'/>",
              "--config") == "Updated network lab persistent config\n"
    assert "<txt name='t' value='v'/>" in ok(lab, "net-dumpxml", "--inactive", "lab")
    assert "<txt" not in ok(lab, "net-dumpxml", "lab")


def test_live_only_update_leaves_the_persistent_config(lab: Daemon) -> None:
    ok(lab, "net-start", "lab")
    ok(lab, "net-update", "lab", "add", "ip-dhcp-host", HOST, "--live")
    assert "pinned" in ok(lab, "net-dumpxml", "lab")
    assert "pinned" not in ok(lab, "net-dumpxml", "--inactive", "lab")


def test_refusals_print_nothing_on_stdout(lab: Daemon) -> None:
    assert refused(lab, "net-update", "lab", "frob", "ip-dhcp-host", HOST) == [
        "error: unrecognized command name 'frob'"]
    assert refused(lab, "net-update", "lab", "add", "ip-dhcp-hosts", HOST) == [
        "error: unrecognized section name 'ip-dhcp-hosts'"]
    assert refused(lab, "net-update", "lab", "add", "ip-dhcp-host", HOST, "--current",
                   "--config") == ["error: Options --current and --config are mutually exclusive"]
    assert refused(lab, "net-update", "nosuch", "add", "ip-dhcp-host", HOST)[0] == \
        "error: failed to get network 'nosuch'"
    assert refused(lab, "net-update", "lab", "add", "ip-dhcp-host", "/nonexistent.xml") == [
        "error: Failed to open file '/nonexistent.xml': No such file or directory"]
    # The network is not running: --live is the daemon's refusal.
    lines = refused(lab, "net-update", "lab", "add", "ip-dhcp-host", HOST, "--live")
    assert lines[0] == "error: Failed to update network lab"
    assert "not active" in lines[1]
    # A section libvirt cannot update either.
    lines = refused(lab, "net-update", "lab", "modify", "bridge", "<bridge name='vnx0'/>")
    assert lines[0] == "error: Failed to update network lab"
    assert "'bridge'" in lines[1]
    # Bad XML: the daemon names the element and the reason.
    lines = refused(lab, "net-update", "lab", "add", "ip-dhcp-host", "<host mac='zz'/>")
    assert lines[0] == "error: Failed to update network lab" and len(lines) == 2
    assert "pinned" not in ok(lab, "net-dumpxml", "--inactive", "lab")
    usage = vnetctl(lab, "net-update", "lab", "add", "ip-dhcp-host", HOST, "--parent-index", "x")
    assert usage.returncode == 1 and usage.stdout == ""
    assert "Numeric value 'x' for <parent-index> option is malformed" in usage.stderr


def test_net_wait_lease_sees_a_guest_get_its_address(lab: Daemon, topology: Topology) -> None:
    ok(lab, "net-start", "lab")
    guest = topology.add_guest("vnlab0")
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": lab.bus.address}
    waiter = subprocess.Popen([VNETCTL, "net-wait-lease", "lab", "--mac", guest.mac.upper(),
                               "--timeout", "60"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
    got: list[str] = []
    client = threading.Thread(target=lambda: got.append(guest.dhcp()))
    try:
        client.start()
        out, err = waiter.communicate(timeout=90)
    finally:
        client.join(timeout=60)
        if waiter.poll() is None:
            waiter.kill()
            waiter.communicate()
    assert waiter.returncode == 0, err
    assert got, "the guest got no address"
    lines = out.splitlines()
    assert lines[0].split() == ["Expiry", "Time", "MAC", "address", "Protocol", "IP",
                                "address", "Hostname", "Client", "ID", "or", "DUID"]
    assert lines[3:] == [""] and len(lines) == 4
    assert lines[2].split()[2:5] == [guest.mac, "ipv4", f"{got[0]}/24"]
    # It is the row net-dhcp-leases shows, cell for cell.
    assert ok(lab, "net-dhcp-leases", "lab", "--mac", guest.mac) == out

    # Already leased: answers at once; --json is the lease object.
    lease = json.loads(ok(lab, "net-wait-lease", "lab", "--mac", guest.mac, "--json"))
    assert (lease["mac"], lease["ipaddr"], lease["prefix"], lease["protocol"]) == \
        (guest.mac, got[0], 24, "ipv4")


def test_net_wait_lease_times_out_with_the_daemons_reason(lab: Daemon) -> None:
    ok(lab, "net-start", "lab")
    lines = refused(lab, "net-wait-lease", "lab", "--mac", "52:54:00:00:00:99", "--timeout", "1")
    assert lines[0] == "error: Failed to get a lease for 52:54:00:00:00:99 on network lab"
    assert len(lines) == 2 and "no lease for 52:54:00:00:00:99" in lines[1]
    ok(lab, "net-destroy", "lab")
    lines = refused(lab, "net-wait-lease", "lab", "--mac", "52:54:00:00:00:99", "--timeout", "1")
    assert "not active" in lines[1]
