"""Access: owners and modes of everything the daemon writes, dnsmasq without root, and an
unprivileged caller on every method and property (completing test_daemon_access.py,
which covers define, create, start, destroy, undefine and setting Autostart)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.conftest import require_tools
from tests.integration.busapi import MANAGER, MGR_IFACE, NET_IFACE, Api, network_xml
from tests.integration.daemon_harness import Daemon
from tests.integration.netns import Topology
from tests.reliability import summary

NOBODY = 65534


def _uids(pid: int) -> list[int]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return [int(x) for x in line.split()[1:]]
    raise AssertionError(f"no Uid line for {pid}")


def test_file_owners_and_modes(vnetd_daemon: Daemon, topology: Topology) -> None:
    daemon = vnetd_daemon
    daemon.start("--no-default-network")
    api = Api(daemon)
    hosts = ("<dns><host ip='10.77.70.5'><hostname>h</hostname></host></dns>")
    path = api.define(network_xml("acc", 70, bridge="vacc", extra=hosts))
    api.set_prop(path, "Autostart", "b", "true")
    api.net(path, "Start")
    guest = topology.add_guest("vacc")
    guest.dhcp()  # a lease file written by dnsmasq exists too

    problems = []
    checked = 0
    for top in (daemon.config_dir, daemon.run_dir, daemon.state_dir):
        for item in [top, *top.rglob("*")]:
            st = item.lstat()
            checked += 1
            if stat.S_ISLNK(st.st_mode):
                continue
            if st.st_mode & stat.S_IWOTH:
                problems.append(f"{item} is world-writable ({stat.filemode(st.st_mode)})")
            if stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_IWGRP:
                problems.append(f"{item} is group-writable ({stat.filemode(st.st_mode)})")
    definition = daemon.config_dir / "networks" / "acc.xml"
    status = daemon.run_dir / "networks" / "acc.json"
    for item, mode in ((definition, 0o644), (status, 0o600)):
        st = item.stat()
        checked += 1
        if st.st_uid != 0 or stat.S_IMODE(st.st_mode) != mode:
            problems.append(f"{item}: uid {st.st_uid} mode {oct(stat.S_IMODE(st.st_mode))}, "
                            f"want root {oct(mode)}")
    link = daemon.config_dir / "networks" / "autostart" / "acc.xml"
    assert link.is_symlink() and link.resolve() == definition.resolve()
    summary.add("access_checks", checked)
    assert not problems, "\n".join(problems)


def test_dnsmasq_runs_without_root(vnetd_daemon: Daemon) -> None:
    daemon = vnetd_daemon
    daemon.start("--no-default-network")
    api = Api(daemon)
    path = api.define(network_xml("unpriv", 71, bridge="vunpriv"))
    api.net(path, "Start")
    pid = int((daemon.state_dir / "dnsmasq" / "unpriv.pid").read_text().split()[0])
    uids = _uids(pid)  # real, effective, saved, file system
    summary.add("access_checks")
    assert all(uid != 0 for uid in uids), f"dnsmasq {pid} runs with uids {uids}"


def test_unprivileged_caller_on_every_method_and_property(vnetd_daemon: Daemon) -> None:
    require_tools("setpriv")
    daemon = vnetd_daemon
    daemon.start("--no-default-network")
    root = Api(daemon)
    path = root.define(network_xml("acl2", 72, bridge="vacl2"))
    root.net(path, "Start")
    uuid = root.prop(path, "UUID")
    before = root.xml(path, 1), root.xml(path, 0)
    nobody = Api(daemon, user=NOBODY)

    # Every read answers.
    assert nobody.list() == [path]
    assert nobody.call(MANAGER, MGR_IFACE, "LookupByName", "s", "acl2") == path
    assert nobody.call(MANAGER, MGR_IFACE, "LookupByUUID", "s", uuid) == path
    assert "<name>acl2</name>" in nobody.xml(path, 0) and "<name>acl2</name>" in nobody.xml(
        path, 1)
    assert nobody.net(path, "GetDHCPLeases", "su", "", "0") == []
    for name in ("Name", "UUID", "Active", "Persistent", "Autostart", "BridgeName",
                 "ForwardMode", "Problems"):
        nobody.prop(path, name)
    objects = daemon.busctl("--json=short", "call", "org.vnetd1", MANAGER,
                            "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
                            user=NOBODY)
    assert path in objects.stdout
    # Waiting for a lease is a read: it times out, it is not refused.
    wait = nobody.error(path, NET_IFACE, "WaitForLease", "su", "52:54:00:00:00:01", "100")
    assert "no lease" in wait and "polkit" not in wait, wait
    summary.add("access_checks", 12)

    # Every change is refused, and changes nothing.
    update = nobody.error(path, NET_IFACE, "Update", "uuisu", "3", "10", "-1",
                          "<host ip='10.77.72.9'><hostname>x</hostname></host>", "3")
    assert "requires root or polkit" in update, update
    for prop, sig, value in (("Autostart", "b", "true"), ("Active", "b", "false"),
                             ("Name", "s", "other"), ("BridgeName", "s", "lo")):
        proc = nobody.set_prop(path, prop, sig, value, check=False)
        assert proc.returncode != 0, (prop, proc.stdout)
        summary.add("access_checks")
    assert (root.xml(path, 1), root.xml(path, 0)) == before
    assert root.prop(path, "Active") is True and root.prop(path, "Autostart") is False
    assert root.prop(path, "Name") == "acl2" and root.prop(path, "BridgeName") == "vacl2"
    # Read-only properties stay read-only for root too.
    proc = root.set_prop(path, "Active", "b", "false", check=False)
    assert proc.returncode != 0 and root.prop(path, "Active") is True
    summary.add("access_checks", 2)
    assert os.geteuid() == 0
