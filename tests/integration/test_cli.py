"""vnetctl against a real vnetd on a private bus (shipped policy) in a host namespace.

vnetctl itself runs outside the namespace: it only needs the bus socket, a file.
Outputs are compared with virsh's shapes character for character.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.daemon_harness import Daemon
from tests.integration.netns import REPO, Topology

VNETCTL = str(REPO / ".venv" / "bin" / "vnetctl")
NOBODY = 65534

LAB_XML = """<network>
  <name>lab</name>
  <bridge name='vnlab0'/>
  <ip address='192.0.2.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.0.2.2' end='192.0.2.254'/>
    </dhcp>
  </ip>
</network>
"""
TRANSIENT_XML = LAB_XML.replace("lab", "tnet").replace("192.0.2.", "203.0.113.")


def vnetctl(daemon: Daemon, *args: str, env: dict[str, str] | None = None,
            user: int | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    argv = [VNETCTL, *args]
    if user is not None:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
    full_env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": daemon.bus.address, **(env or {})}
    return subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=timeout,
                          check=False)


def ok(daemon: Daemon, *args: str, **kwargs: object) -> str:
    proc = vnetctl(daemon, *args, **kwargs)  # type: ignore[arg-type]
    assert proc.returncode == 0, f"vnetctl {' '.join(args)}: {proc.stderr}\n{daemon.log()[-3000:]}"
    assert proc.stderr == ""
    return proc.stdout


def refused(daemon: Daemon, *args: str, **kwargs: object) -> list[str]:
    """A refused command: exit 1, nothing on stdout, ``error: ...`` lines on stderr."""
    proc = vnetctl(daemon, *args, **kwargs)  # type: ignore[arg-type]
    assert proc.returncode == 1, proc
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), proc.stderr
    return lines


@pytest.fixture
def daemon(vnetd_daemon: Daemon) -> Daemon:
    vnetd_daemon.start()
    return vnetd_daemon


@pytest.fixture
def lab_file(tmp_path: Path) -> Path:
    path = tmp_path / "lab.xml"
    path.write_text(LAB_XML)
    return path


def test_read_commands_on_a_fresh_install(daemon: Daemon) -> None:
    table = (" Name      State    Autostart   Persistent\n"
             "--------------------------------------------\n"
             " default   active   yes         yes\n"
             "\n")
    assert ok(daemon, "net-list", "--all") == table
    assert ok(daemon, "net-list") == table
    assert ok(daemon, "net-list", "--inactive") == (
        " Name   State   Autostart   Persistent\n"
        "----------------------------------------\n\n")
    assert ok(daemon, "-q", "net-list", "--all") == table[:-1]
    assert ok(daemon, "net-list", "--all", "--name") == "default\n\n"
    assert ok(daemon, "net-list", "--transient", "--name") == "\n"

    listed = json.loads(ok(daemon, "net-list", "--all", "--json"))
    assert len(listed) == 1
    uuid = listed[0]["uuid"]
    assert listed[0] == {"name": "default", "uuid": uuid, "active": True, "persistent": True,
                         "autostart": True, "bridge": "virbr0", "forward_mode": "nat"}
    assert ok(daemon, "net-list", "--uuid") == f"{uuid}\n\n"

    info = ("Name:           default\n"
            f"UUID:           {uuid}\n"
            "Active:         yes\n"
            "Persistent:     yes\n"
            "Autostart:      yes\n"
            "Bridge:         virbr0\n"
            "\n")
    assert ok(daemon, "net-info", "default") == info
    assert ok(daemon, "net-info", uuid) == info  # a network is named by name or UUID
    assert json.loads(ok(daemon, "net-info", "default", "--json"))["bridge"] == "virbr0"
    assert ok(daemon, "net-uuid", "default") == f"{uuid}\n\n"
    assert ok(daemon, "net-name", uuid) == "default\n\n"
    assert json.loads(ok(daemon, "net-name", uuid, "--json")) == {"name": "default",
                                                                  "uuid": uuid}

    xml = ok(daemon, "net-dumpxml", "default")
    assert xml.startswith("<network") and xml.endswith("</network>\n\n")
    assert "<name>default</name>" in xml and f"<uuid>{uuid}</uuid>" in xml
    assert "<name>default</name>" in ok(daemon, "net-dumpxml", "--inactive", uuid)
    assert json.loads(ok(daemon, "net-dumpxml", "default", "--json"))["xml"] == xml[:-1]
    assert ok(daemon, "net-event", "--list") == "lifecycle\n\n"


def test_lifecycle_commands(daemon: Daemon, lab_file: Path, tmp_path: Path) -> None:
    assert ok(daemon, "net-define", str(lab_file)) == f"Network lab defined from {lab_file}\n\n"
    assert " lab       inactive   no          yes\n" in ok(daemon, "net-list", "--all")
    assert ok(daemon, "net-list", "--inactive", "--name") == "lab\n\n"
    assert ok(daemon, "net-start", "lab") == "Network lab started\n\n"
    assert ok(daemon, "net-list", "--name") == "default\nlab\n\n"
    assert ok(daemon, "net-autostart", "lab") == "Network lab marked as autostarted\n\n"
    assert "Autostart:      yes\n" in ok(daemon, "net-info", "lab")
    assert ok(daemon, "net-list", "--autostart", "--name") == "default\nlab\n\n"
    assert ok(daemon, "net-autostart", "lab", "--disable") == \
        "Network lab unmarked as autostarted\n\n"
    assert ok(daemon, "net-list", "--no-autostart", "--name") == "lab\n\n"
    assert "Bridge:         vnlab0\n" in ok(daemon, "net-info", "lab")
    assert ok(daemon, "net-destroy", "lab") == "Network lab destroyed\n\n"
    assert "Active:         no\n" in ok(daemon, "net-info", "lab")
    # By UUID too: no network has it as its name, so the call on the path the word would
    # name finds nothing and the lookup by UUID follows, as virsh does.
    uuid = ok(daemon, "net-uuid", "lab").strip()
    assert ok(daemon, "net-start", uuid) == f"Network {uuid} started\n\n"
    assert ok(daemon, "net-destroy", uuid) == f"Network {uuid} destroyed\n\n"
    assert ok(daemon, "net-undefine", "lab") == "Network lab has been undefined\n\n"
    assert ok(daemon, "net-list", "--all", "--name") == "default\n\n"

    transient = tmp_path / "tnet.xml"
    transient.write_text(TRANSIENT_XML)
    assert ok(daemon, "net-create", str(transient)) == \
        f"Network tnet created from {transient}\n\n"
    assert " tnet      active   no          no\n" in ok(daemon, "net-list")
    assert ok(daemon, "net-list", "--transient", "--name") == "tnet\n\n"
    assert ok(daemon, "net-list", "--persistent", "--name") == "default\n\n"
    assert ok(daemon, "net-destroy", "tnet") == "Network tnet destroyed\n\n"
    assert refused(daemon, "net-info", "tnet")[0] == "error: failed to get network 'tnet'"


def test_refused_operations(daemon: Daemon, lab_file: Path, tmp_path: Path) -> None:
    lines = refused(daemon, "net-start", "default")
    assert lines[0] == "error: Failed to start network default"
    assert len(lines) == 2 and "active" in lines[1]

    lines = refused(daemon, "net-info", "nosuch")
    assert lines[0] == "error: failed to get network 'nosuch'"
    assert "nosuch" in lines[1]
    for command in ("net-start", "net-destroy", "net-undefine"):  # the quick path's words
        lines = refused(daemon, command, "nosuch")
        assert lines[0] == "error: failed to get network 'nosuch'", (command, lines)
        assert "nosuch" in lines[1]
    assert refused(daemon, "net-name", "default")[0] == "error: failed to get network 'default'"

    bad = tmp_path / "bad.xml"
    bad.write_text(LAB_XML.replace("<range start='192.0.2.2'", "<range start='10.9.9.2'"))
    lines = refused(daemon, "net-define", str(bad))
    assert lines[0] == f"error: Failed to define network from {bad}"
    assert "range" in lines[1]
    assert ok(daemon, "net-list", "--all", "--name") == "default\n\n"  # nothing changed

    lines = refused(daemon, "net-define", str(tmp_path / "missing.xml"))
    assert lines[0].startswith(f"error: Failed to open file '{tmp_path / 'missing.xml'}'")

    ok(daemon, "net-define", str(lab_file))
    dup = tmp_path / "dup.xml"
    dup.write_text(LAB_XML.replace("<name>lab</name>", "<name>lab2</name>"))
    lines = refused(daemon, "net-create", str(dup))  # same bridge name as lab
    assert lines[0] == f"error: Failed to create network from {dup}"
    assert refused(daemon, "net-destroy", "lab")[0] == "error: Failed to destroy network lab"


def test_unprivileged_user_reads_but_cannot_change(daemon: Daemon) -> None:
    listed = vnetctl(daemon, "net-list", "--all", "--name", user=NOBODY)
    assert (listed.returncode, listed.stdout) == (0, "default\n\n"), listed.stderr
    lines = refused(daemon, "net-destroy", "default", user=NOBODY)
    assert lines[0] == "error: Failed to destroy network default"
    assert "org.vnetd1.manage" in lines[1], lines
    assert "Active:         yes\n" in ok(daemon, "net-info", "default")


def write_editor(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_net_edit_with_scripted_editor(daemon: Daemon, lab_file: Path, tmp_path: Path) -> None:
    ok(daemon, "net-define", str(lab_file))
    editor = write_editor(tmp_path / "ed.sh", "sed -i \"s/192.0.2.254/192.0.2.200/\" \"$1\"\n")
    out = ok(daemon, "net-edit", "lab", env={"EDITOR": str(editor), "VISUAL": ""})
    assert out == "Network lab XML configuration edited.\n\n"
    assert "end='192.0.2.200'" in ok(daemon, "net-dumpxml", "--inactive", "lab")

    unchanged = ok(daemon, "net-edit", "lab", env={"EDITOR": "true", "VISUAL": ""})
    assert unchanged == "Network lab XML configuration not changed.\n\n"

    # A running network: the edit is the next start's definition, the live one stays.
    ok(daemon, "net-start", "lab")
    editor2 = write_editor(tmp_path / "ed2.sh", "sed -i \"s/192.0.2.200/192.0.2.150/\" \"$1\"\n")
    ok(daemon, "net-edit", "lab", env={"VISUAL": str(editor2)})
    assert "end='192.0.2.150'" in ok(daemon, "net-dumpxml", "--inactive", "lab")
    assert "end='192.0.2.200'" in ok(daemon, "net-dumpxml", "lab")

    # A broken edit without a terminal: the error, answer "n", nothing changes.
    broken = write_editor(tmp_path / "bad.sh", "sed -i \"s/192.0.2.150/10.1.1.1/\" \"$1\"\n")
    proc = vnetctl(daemon, "net-edit", "lab", env={"EDITOR": str(broken), "VISUAL": ""})
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ")
    assert "Try again?" not in proc.stdout
    assert "end='192.0.2.150'" in ok(daemon, "net-dumpxml", "--inactive", "lab")


def test_net_edit_asks_to_try_again_on_a_terminal(daemon: Daemon, lab_file: Path,
                                                  tmp_path: Path) -> None:
    """First edit is refused, the user presses y, the second edit is defined."""
    import threading

    ok(daemon, "net-define", str(lab_file))
    count = tmp_path / "count"
    editor = write_editor(tmp_path / "ed.sh", f"""
if [ -e {count} ]; then
  sed -i "s/10.1.1.1/192.0.2.99/" "$1"
else
  touch {count}
  sed -i "s/192.0.2.254/10.1.1.1/" "$1"
fi
""")
    master, slave = os.openpty()
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": daemon.bus.address,
           "EDITOR": str(editor), "VISUAL": ""}
    proc = subprocess.Popen([VNETCTL, "net-edit", "lab"], stdin=slave, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    os.close(slave)
    seen = bytearray()
    prompted = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        while chunk := proc.stdout.read1(4096):  # type: ignore[attr-defined]
            seen.extend(chunk)
            if b"Try again? [y,n,f,?]: " in seen:
                prompted.set()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        assert prompted.wait(30), bytes(seen)
        os.write(master, b"y")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        thread.join(timeout=10)
        os.close(master)
        assert proc.stderr is not None
        stderr = proc.stderr.read().decode()
        proc.stderr.close()
        assert proc.stdout is not None
        proc.stdout.close()
    text = bytes(seen).decode()
    assert "\rFailed. Try again? [y,n,f,?]: " in text
    assert text.endswith("Network lab XML configuration edited.\n\n")
    assert stderr.startswith("error: ")
    assert "end='192.0.2.99'" in ok(daemon, "net-dumpxml", "--inactive", "lab")


def wait_until_on_bus(daemon: Daemon, pid: int, timeout: float = 20) -> None:
    """Until the process has a bus connection; its match rule follows right after Hello."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = daemon.busctl("call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
                              "org.freedesktop.DBus", "ListNames").stdout
        for name in names.replace('"', " ").split():
            if not name.startswith(":"):
                continue
            got = daemon.busctl("call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                "org.freedesktop.DBus", "GetConnectionUnixProcessID", "s",
                                name, check=False).stdout.split()
            if got[-1:] == [str(pid)]:
                time.sleep(0.5)  # AddMatch is the next call; leave it time to land
                return
        time.sleep(0.05)
    raise AssertionError("vnetctl net-event never connected to the bus")


def start_listener(daemon: Daemon, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": daemon.bus.address}
    proc = subprocess.Popen([VNETCTL, "net-event", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    wait_until_on_bus(daemon, proc.pid)
    return proc


def test_net_event_loop_sees_start_and_stop(daemon: Daemon, lab_file: Path) -> None:
    ok(daemon, "net-define", str(lab_file))
    listener = start_listener(daemon, "--event", "lifecycle", "--loop", "--timeout", "4")
    ok(daemon, "net-start", "lab")
    ok(daemon, "net-destroy", "lab")
    out, err = listener.communicate(timeout=30)
    assert listener.returncode == 0, err
    assert out == ("event 'lifecycle' for network lab: Started\n"
                   "event 'lifecycle' for network lab: Stopped\n"
                   "event loop timed out\n"
                   "events received: 2\n"
                   "\n")

    # One-shot, filtered by network, JSON lines.
    listener = start_listener(daemon, "lab", "--event", "lifecycle", "--json", "--timeout", "20")
    ok(daemon, "net-start", "lab")
    out, err = listener.communicate(timeout=30)
    assert listener.returncode == 0, err
    event = json.loads(out)
    assert event == {"event": "lifecycle", "network": "lab", "type": "Started", "number": 2,
                     "detail": event["detail"]}

    # Nothing happens: virsh's trailer and exit status 1.
    quiet = vnetctl(daemon, "net-event", "--event", "lifecycle", "--timeout", "1")
    assert (quiet.returncode, quiet.stdout) == (1, "event loop timed out\nevents received: 0\n")
    assert refused(daemon, "net-event") == ["error: either --list or --event <type> is required"]
    assert refused(daemon, "net-event", "--event", "bogus") == ["error: unknown event type bogus"]


def test_cli_wall_time(daemon: Daemon) -> None:
    """Report (never assert) the wall time of ``vnetctl net-list --all``."""
    times = []
    for _ in range(10):
        began = time.perf_counter()
        ok(daemon, "net-list", "--all")
        times.append(time.perf_counter() - began)
    print(f"\nvnetctl net-list --all: median {statistics.median(times) * 1000:.0f} ms, "
          f"min {min(times) * 1000:.0f} ms over {len(times)} runs")
    assert len(times) == 10


def test_net_dhcp_leases_shows_a_guest(vnetd_daemon: Daemon, topology: Topology,
                                       lab_file: Path) -> None:
    vnetd_daemon.start()
    ok(vnetd_daemon, "net-define", str(lab_file))
    ok(vnetd_daemon, "net-start", "lab")
    empty = ok(vnetd_daemon, "net-dhcp-leases", "lab").splitlines()
    assert empty[0].split() == ["Expiry", "Time", "MAC", "address", "Protocol", "IP",
                                "address", "Hostname", "Client", "ID", "or", "DUID"]
    assert empty[2:] == [""]  # no rows, then virsh's empty line

    guest = topology.add_guest("vnlab0")
    address = guest.dhcp()
    deadline = time.monotonic() + 20
    while True:  # dnsmasq writes the lease; the daemon picks it up from its lease file
        rows = ok(vnetd_daemon, "-q", "net-dhcp-leases", "lab").splitlines()[2:]
        if rows or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(rows) == 1, rows
    cells = rows[0].split()
    assert cells[2:5] == [guest.mac, "ipv4", f"{address}/24"]
    leases = json.loads(ok(vnetd_daemon, "net-dhcp-leases", "lab", "--mac", guest.mac,
                           "--json"))
    assert [(x["mac"], x["ipaddr"], x["prefix"]) for x in leases] == [(guest.mac, address, 24)]
    assert json.loads(ok(vnetd_daemon, "net-dhcp-leases", "lab", "52:54:00:00:00:99",
                         "--json")) == []
