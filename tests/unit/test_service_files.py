"""The systemd unit, D-Bus activation file, bus policy and polkit action file.

``systemd-analyze verify`` refuses a unit whose ExecStart= binary is missing, and the
package's /usr/bin/vnetd is not installed here: the check runs on a copy whose only
change is ExecStart= pointing at the checkout's .venv/bin/vnetd (or, without a venv,
/bin/true). Everything else is verified exactly as shipped.
"""

from __future__ import annotations

import configparser
import subprocess
import time
from pathlib import Path

from lxml import etree

from tests.conftest import require_tools

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "vnetd.service"
ACTIVATION = REPO / "systemd" / "org.vnetd1.service"
BUS_POLICY = REPO / "dbus-policy" / "org.vnetd1.conf"
POLKIT = REPO / "dbus-policy" / "org.vnetd1.policy"


def unit_config() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    require_tools("systemd-analyze")
    venv_vnetd = REPO / ".venv" / "bin" / "vnetd"
    exe = venv_vnetd if venv_vnetd.exists() else Path("/bin/true")
    text = UNIT.read_text()
    assert text.count("ExecStart=/usr/bin/vnetd\n") == 1
    copy = tmp_path / "vnetd.service"
    copy.write_text(text.replace("ExecStart=/usr/bin/vnetd\n", f"ExecStart={exe}\n"))
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", str(copy)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def test_unit_keeps_the_contract() -> None:
    service = unit_config()["Service"]
    assert service["Type"] == "notify"
    assert service["BusName"] == "org.vnetd1"
    assert service["Restart"] == "on-failure"
    # dnsmasq children must outlive a daemon stop or restart.
    assert service["KillMode"] == "process"
    assert service["RuntimeDirectoryPreserve"] == "yes"
    for directory in ("StateDirectory", "RuntimeDirectory", "ConfigurationDirectory"):
        assert service[directory] == "vnetd"
    caps = set(service["CapabilityBoundingSet"].split())
    assert {"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE", "CAP_SETUID",
            "CAP_SETGID", "CAP_KILL"} <= caps
    assert "AF_NETLINK" in service["RestrictAddressFamilies"].split()
    assert unit_config()["Install"]["WantedBy"] == "multi-user.target"


def test_activation_file() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(ACTIVATION.read_text())
    section = parser["D-BUS Service"]
    assert section["Name"] == "org.vnetd1"
    assert section["SystemdService"] == "vnetd.service"
    assert section["User"] == "root"


def test_bus_policy_structure() -> None:
    root = etree.parse(str(BUS_POLICY)).getroot()
    rules = [(policy.get("user") or policy.get("context"), allow)
             for policy in root.findall("policy") for allow in policy]
    owners = [(who, allow.get("own")) for who, allow in rules if allow.get("own")]
    assert owners == [("root", "org.vnetd1")]
    default = [allow for who, allow in rules if who == "default"]
    assert all(a.tag == "allow" and a.get("send_destination") == "org.vnetd1" for a in default)
    interfaces = {a.get("send_interface") for a in default}
    assert {"org.vnetd1.Manager", "org.vnetd1.Network", "org.freedesktop.DBus.Properties",
            "org.freedesktop.DBus.Introspectable",
            "org.freedesktop.DBus.ObjectManager"} <= interfaces
    assert not [a for _, a in rules if a.tag == "deny"]


def test_dbus_daemon_accepts_the_policy(tmp_path: Path) -> None:
    """A bus whose config includes the policy starts (dbus-daemon rejects bad configs)."""
    require_tools("dbus-daemon")
    sock = tmp_path / "bus.sock"
    conf = tmp_path / "bus.conf"
    conf.write_text(f"<busconfig><type>system</type><listen>unix:path={sock}</listen>"
                    f"<auth>EXTERNAL</auth><include>{BUS_POLICY}</include></busconfig>")
    errors = tmp_path / "stderr"
    with errors.open("w") as err:
        proc = subprocess.Popen(["dbus-daemon", f"--config-file={conf}", "--nofork",
                                 "--nopidfile"], stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None and sock.exists(), errors.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_polkit_action() -> None:
    root = etree.parse(str(POLKIT)).getroot()
    assert root.tag == "policyconfig"
    actions = {a.get("id"): a for a in root.iter("action")}
    assert set(actions) == {"org.vnetd1.manage"}
    defaults = actions["org.vnetd1.manage"].find("defaults")
    assert defaults is not None
    for who in ("allow_any", "allow_inactive", "allow_active"):
        assert defaults.findtext(who) == "auth_admin_keep"
    assert actions["org.vnetd1.manage"].findtext("description")
    assert actions["org.vnetd1.manage"].findtext("message")
