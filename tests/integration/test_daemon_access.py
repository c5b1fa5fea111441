"""Authorization: reads open to everyone, changes need root or polkit's org.vnetd1.manage,
and only root may own the bus name. Uses the shipped bus policy, and a real polkitd."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require, require_tools
from tests.integration.busapi import MANAGER, MGR_IFACE, NET_IFACE, Api, network_xml
from tests.integration.daemon_harness import POLICY, Daemon
from tests.integration.netns import REPO, Topology

NOBODY = 65534
POLKIT_ACTION = REPO / "dbus-policy" / "org.vnetd1.policy"
POLKITD = Path("/usr/lib/polkit-1/polkitd")


def _refusals(api: Api, net_path: str) -> list[str]:
    errors = [
        api.error(MANAGER, MGR_IFACE, "DefineXML", "s", network_xml("evil", 40)),
        api.error(MANAGER, MGR_IFACE, "CreateXML", "s", network_xml("evil2", 41)),
        api.error(net_path, NET_IFACE, "Start"),
        api.error(net_path, NET_IFACE, "Undefine"),
    ]
    proc = api.set_prop(net_path, "Autostart", "b", "true", check=False)
    assert proc.returncode != 0
    errors.append(proc.stderr)
    return errors


def test_unprivileged_caller_reads_but_cannot_change(vnetd_daemon: Daemon,
                                                     topology: Topology) -> None:
    require_tools("setpriv")
    vnetd_daemon.start("--no-default-network")
    root = Api(vnetd_daemon)
    path = root.define(network_xml("acl", 30))
    nobody = Api(vnetd_daemon, user=NOBODY)
    assert nobody.list() == [path]
    assert nobody.prop(path, "Name") == "acl"
    assert "<name>acl</name>" in nobody.xml(path)
    for err in _refusals(nobody, path):
        assert "requires root or polkit" in err or "Access denied" in err, err
    root.net(path, "Start")
    err = nobody.error(path, NET_IFACE, "Destroy")
    assert "requires root or polkit" in err
    assert root.prop(path, "Active") is True and root.prop(path, "Autostart") is False
    assert [p.name for p in (vnetd_daemon.config_dir / "networks").glob("*.xml")] == ["acl.xml"]


def test_only_root_may_own_the_bus_name(vnetd_daemon: Daemon) -> None:
    require_tools("setpriv")
    proc = vnetd_daemon.busctl("call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "RequestName", "su", "org.vnetd1", "4",
                               user=NOBODY, check=False)
    assert proc.returncode != 0
    assert "not allowed to own" in proc.stderr or "Access denied" in proc.stderr, proc.stderr
    assert POLICY.exists()


@pytest.fixture
def polkit_setup(vnetd_daemon: Daemon) -> Iterator[Path]:
    """Install the shipped action file and a test rule dir entry; remove them afterwards."""
    require(POLKITD.exists(), f"{POLKITD} (Debian package polkitd)")
    require(POLKIT_ACTION.exists(), f"{POLKIT_ACTION} (shipped polkit action)")
    actions = Path("/usr/share/polkit-1/actions/org.vnetd1.policy")
    installed_action = not actions.exists()
    if installed_action:
        shutil.copy(POLKIT_ACTION, actions)
    rule = Path(f"/etc/polkit-1/rules.d/49-vnetd-test-{secrets.token_hex(4)}.rules")
    try:
        yield rule
    finally:
        rule.unlink(missing_ok=True)
        if installed_action:
            actions.unlink(missing_ok=True)


def _start_polkitd(daemon: Daemon) -> subprocess.Popen[str]:
    proc = daemon.ns.popen(str(POLKITD), "--no-debug",
                           env={"DBUS_SYSTEM_BUS_ADDRESS": daemon.bus.address},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        out = daemon.busctl("call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
                            "org.freedesktop.DBus", "NameHasOwner", "s",
                            "org.freedesktop.PolicyKit1").stdout
        if out.strip() == "b true":
            return proc
        time.sleep(0.05)
    raise AssertionError("polkitd did not take its bus name")


def test_polkit_denies_then_allows(vnetd_daemon: Daemon, polkit_setup: Path) -> None:
    require_tools("setpriv")
    vnetd_daemon.start("--no-default-network")
    root = Api(vnetd_daemon)
    path = root.define(network_xml("pk", 31))
    _start_polkitd(vnetd_daemon)
    nobody = Api(vnetd_daemon, user=NOBODY)
    err = nobody.error(path, NET_IFACE, "Start")
    assert "requires root or polkit" in err
    polkit_setup.write_text(
        'polkit.addRule(function(action, subject) {\n'
        f'  if (action.id == "org.vnetd1.manage" && subject.user == "{_nobody_name()}")\n'
        '    return polkit.Result.YES;\n});\n')
    os.chmod(polkit_setup, 0o644)
    deadline = time.monotonic() + 10
    while True:  # polkitd picks up rule files through inotify
        proc = nobody.daemon.busctl("call", "org.vnetd1", path, NET_IFACE, "Start",
                                    user=NOBODY, check=False)
        if proc.returncode == 0:
            break
        assert time.monotonic() < deadline, proc.stderr
        time.sleep(0.2)
    assert root.prop(path, "Active") is True


def _nobody_name() -> str:
    import pwd

    return pwd.getpwuid(NOBODY).pw_name
