"""Argument parsing, help, completion list, and the refusal path (no daemon on the bus)."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_tools
from vnetctl import parser, quick
from vnetctl.commands import list_flags
from vnetctl.types import ListFlags

REPO = Path(__file__).resolve().parents[2]


def parse(*argv: str) -> argparse.Namespace:
    return parser.build_parser().parse_args(list(argv))


@pytest.mark.parametrize(("argv", "flags"), [
    ((), ListFlags.ACTIVE),
    (("--all",), ListFlags.ACTIVE | ListFlags.INACTIVE),
    (("--inactive",), ListFlags.INACTIVE),
    (("--all", "--persistent"), ListFlags.ACTIVE | ListFlags.INACTIVE | ListFlags.PERSISTENT),
    (("--transient", "--no-autostart"),
     ListFlags.ACTIVE | ListFlags.TRANSIENT | ListFlags.NO_AUTOSTART),
    (("--inactive", "--autostart"), ListFlags.INACTIVE | ListFlags.AUTOSTART),
])
def test_net_list_flags_as_virsh(argv: tuple[str, ...], flags: int) -> None:
    assert list_flags(parse("net-list", *argv)) == flags


def test_every_command_parses_its_arguments() -> None:
    assert parse("net-start", "default").network == "default"
    assert parse("net-autostart", "default", "--disable").disable
    assert parse("net-dumpxml", "--inactive", "default").inactive
    assert parse("net-define", "/tmp/x.xml").file == "/tmp/x.xml"
    assert parse("net-info", "default", "--json").json
    ev = parse("net-event", "--event", "lifecycle", "--loop", "--timeout", "3")
    assert (ev.network, ev.event, ev.loop, ev.timeout) == (None, "lifecycle", True, 3)
    assert parse("-q", "net-list").quiet
    assert parse("net-list", "-q").quiet
    up = parse("net-update", "lab", "add", "ip-dhcp-host", "<host/>", "--live", "--config")
    assert (up.network, up.update_command, up.section, up.xml, up.parent_index, up.live,
            up.config, up.current) == ("lab", "add", "ip-dhcp-host", "<host/>", -1, True, True,
                                       False)
    assert parse("net-update", "lab", "modify", "ip", "f.xml", "--parent-index", "2",
                 "--current").parent_index == 2
    wl = parse("net-wait-lease", "lab", "--mac", "52:54:00:00:00:01")
    assert (wl.network, wl.mac, wl.timeout) == ("lab", "52:54:00:00:00:01", 60)
    assert parse("net-wait-lease", "lab", "--mac", "m", "--timeout", "5").timeout == 5


@pytest.mark.parametrize("argv", [
    ("net-list",), ("-q", "net-list", "--all"), ("net-list", "--inactive", "--name", "-q"),
    ("net-list", "--persistent", "--transient", "--autostart", "--no-autostart", "--uuid"),
    ("net-list", "--table", "--json"), ("--quiet", "net-list", "--all", "--name", "--uuid"),
])
def test_quick_net_list_parse_equals_argparse(argv: tuple[str, ...]) -> None:
    fast = quick.parse_net_list(argv)
    assert fast == quick.NetListOptions.from_namespace(parse(*argv))
    assert list_flags(fast) == list_flags(parse(*argv))


@pytest.mark.parametrize("argv", [
    ("net-list", "--al"),              # an abbreviation: argparse's business
    ("net-list", "--all", "--inactive"),
    ("net-list", "--help"),
    ("net-list", "extra"),
    ("net-info", "default"),
    ("-v",),
    (),
])
def test_quick_net_list_leaves_the_rest_to_argparse(argv: tuple[str, ...]) -> None:
    assert quick.parse_net_list(argv) is None


def test_update_names_and_numbers_are_libvirts() -> None:
    from vnetctl.commands import UPDATE_COMMANDS, UPDATE_SECTIONS

    assert {k: int(v) for k, v in UPDATE_COMMANDS.items()} == {
        "modify": 1, "delete": 2, "add-last": 3, "add-first": 4, "add": 3}
    assert {k: int(v) for k, v in UPDATE_SECTIONS.items()} == {
        "bridge": 1, "domain": 2, "ip": 3, "ip-dhcp-host": 4, "ip-dhcp-range": 5, "forward": 6,
        "forward-interface": 7, "forward-pf": 8, "portgroup": 9, "dns-host": 10, "dns-txt": 11,
        "dns-srv": 12}


def test_only_the_named_commands_parser_is_built() -> None:
    one = parser.build_parser("net-list")
    assert one.parse_args(["net-list", "--all"]).all
    with pytest.raises(SystemExit):
        one.parse_args(["net-start", "default"])  # not built: an invalid choice
    assert parser.named_command(["-q", "net-list", "--all"]) == "net-list"
    assert parser.named_command(["--version"]) is None
    assert parser.named_command(["frob", "net-list"]) is None


def run_cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vnetctl.cli", *argv], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=60, check=False)


@pytest.mark.parametrize("argv", [
    ("net-start",),                                 # missing network
    ("net-update", "lab", "add", "ip-dhcp-host"),   # missing XML
    ("net-update", "lab", "add", "ip", "<ip/>", "--parent-index", "one"),
    ("net-wait-lease", "lab"),                      # --mac is required
    ("net-wait-lease", "lab", "--mac", "m", "--timeout", "0"),
    ("net-list", "--all", "--inactive"),            # exclusive
    ("net-event", "--timeout", "0"),                # virsh refuses a zero timeout
    ("net-frobnicate",),
])
def test_usage_errors_exit_1_with_error_line(argv: tuple[str, ...]) -> None:
    proc = run_cli(*argv)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith("error: ")


def test_help_lists_every_command() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    for name in parser.COMMAND_NAMES:
        assert name in proc.stdout
    detail = run_cli("help", "net-list")
    assert detail.returncode == 0
    assert "--no-autostart" in detail.stdout and "--json" in detail.stdout
    assert run_cli("help", "--commands").stdout.split() == [*parser.COMMAND_NAMES, "help"]


def test_read_commands_have_json_and_write_commands_do_not() -> None:
    reads = {c.name for c in parser.COMMANDS if c.reads}
    assert reads == {"net-list", "net-info", "net-dumpxml", "net-name", "net-uuid",
                     "net-dhcp-leases", "net-event", "net-wait-lease"}
    with pytest.raises(SystemExit):
        parse("net-start", "default", "--json")


def test_bash_completion_knows_every_command() -> None:
    text = (REPO / "client" / "vnetctl" / "completion.bash").read_text()
    listed = re.search(r'_vnetctl_commands="([^"]*)"', text)
    assert listed is not None
    assert listed.group(1).split() == [*parser.COMMAND_NAMES, "help"]
    require_tools("bash")
    check = subprocess.run(["bash", "-n", str(REPO / "client/vnetctl/completion.bash")],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr


def test_bash_completion_completes_command_names() -> None:
    require_tools("bash")
    script = (f"source {REPO}/client/vnetctl/completion.bash; "
              "COMP_WORDS=(vnetctl net-s); COMP_CWORD=1; _vnetctl; echo ${COMPREPLY[@]}")
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
    assert proc.stdout.split() == ["net-start"]


def test_no_bus_socket_is_a_clear_error() -> None:
    proc = run_cli("net-list", "--all",
                   env={"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/vnetd-test.sock"})
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith(
        "error: cannot connect to the system bus at unix:path=/nonexistent/vnetd-test.sock")


@pytest.fixture
def empty_bus(tmp_path: Path) -> Iterator[str]:
    """A private dbus-daemon on which nobody owns org.vnetd1 (no root needed)."""
    require_tools("dbus-daemon")
    sock = tmp_path / "bus.sock"
    conf = tmp_path / "bus.conf"
    conf.write_text(
        "<busconfig><type>system</type>"
        f"<listen>unix:path={sock}</listen><auth>EXTERNAL</auth>"
        '<policy context="default"><allow send_destination="*"/><allow own="*"/>'
        '<allow receive_sender="*"/></policy></busconfig>')
    proc = subprocess.Popen(["dbus-daemon", f"--config-file={conf}", "--nofork", "--nopidfile"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "dbus-daemon failed"
            time.sleep(0.02)
        yield f"unix:path={sock}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_daemon_not_running_is_a_clear_error(empty_bus: str) -> None:
    proc = run_cli("net-list", "--all", env={"DBUS_SYSTEM_BUS_ADDRESS": empty_bus})
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == ("error: Failed to list networks\n"
                           "error: vnetd is not running (nobody owns org.vnetd1 on the "
                           "system bus)\n")
    start = run_cli("net-start", "default", env={"DBUS_SYSTEM_BUS_ADDRESS": empty_bus})
    assert start.returncode == 1
    assert start.stderr.splitlines() == [
        "error: failed to get network 'default'",
        "error: vnetd is not running (nobody owns org.vnetd1 on the system bus)"]


def test_blocking_client_without_daemon(empty_bus: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from vnetctl import BlockingClient, NotRunning

    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", empty_bus)
    with BlockingClient() as client:
        with pytest.raises(NotRunning):
            client.list_networks()
        with pytest.raises(NotRunning):
            client.lookup("default")
        # Subscribing needs only the bus: no events arrive, the iterator ends on time.
        began = time.monotonic()
        assert list(client.events(timeout=0.3)) == []
        assert 0.25 < time.monotonic() - began < 5
