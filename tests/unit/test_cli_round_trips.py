"""What the quick path sends and waits for: one write for the bus's greeting and the
first call, no lookup call for a network named by its name, no Get call for the name
of a network just defined, and no interpreter teardown after the output is out."""

from __future__ import annotations

import contextlib
import io
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import Message, MessageType

from vnetctl import quick, wire
from vnetctl.errors import NotFound, VnetdError
from vnetd.bus.names import network_path

REPO = Path(__file__).resolve().parents[2]


def _reply(serial: int, signature: str = "", body: list[Any] | None = None,
           error: str | None = None) -> bytes:
    msg = Message(message_type=MessageType.ERROR if error else MessageType.METHOD_RETURN,
                  reply_serial=serial, serial=100 + serial, destination=":1.9",
                  signature=signature, body=body or [], error_name=error)
    return bytes(msg._marshall(False))


def test_first_call_goes_out_with_the_authentication_and_hello(tmp_path: Path) -> None:
    """A fake bus that answers only once it has the whole greeting and the call from
    the client's first write: waiting for OK, then for Hello's reply, would hang."""
    path = str(tmp_path / "bus")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(1)
    first: list[bytes] = []

    def bus() -> None:
        conn, _ = server.accept()
        conn.settimeout(10)
        with conn:
            data = b""
            while data.count(b"org.vnetd1.Manager") < 1:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
                first.append(chunk)
            conn.sendall(b"OK 0123456789abcdef0123456789abcdef\r\n"
                         + _reply(1, "s", [":1.9"]) + _reply(2, "u", [7]))

    thread = threading.Thread(target=bus, daemon=True)
    thread.start()
    with wire.Connection(f"unix:path={path}", timeout=10) as connection:
        assert connection.call("org.vnetd1", "/org/vnetd1", "org.vnetd1.Manager",
                               "Version") == [7]
    thread.join(10)
    server.close()
    sent = b"".join(first)
    assert sent.startswith(b"\0AUTH EXTERNAL ")
    auth_end = sent.index(b"\r\nBEGIN\r\n") + len(b"\r\nBEGIN\r\n")
    hello_length = wire.message_length(sent[auth_end:auth_end + 16])
    kind, headers, _ = wire.parse_message(sent[auth_end:auth_end + hello_length])
    assert (kind, headers[wire.MEMBER]) == (wire.METHOD_CALL, "Hello")
    _, headers, _ = wire.parse_message(sent[auth_end + hello_length:])
    assert headers[wire.MEMBER] == "Version"


def test_a_refused_authentication_falls_back(tmp_path: Path) -> None:
    path = str(tmp_path / "bus")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(1)

    def bus() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"REJECTED DBUS_COOKIE_SHA1\r\n")

    thread = threading.Thread(target=bus, daemon=True)
    thread.start()
    with pytest.raises(wire.Unsupported, match="refused EXTERNAL"), \
            wire.Connection(f"unix:path={path}", timeout=10) as connection:
        connection.call("org.vnetd1", "/org/vnetd1", "org.vnetd1.Manager", "Version")
    thread.join(10)
    server.close()


class RecordingConnection:
    """Stands in for ``wire.Connection``: records calls, answers from a script."""

    def __init__(self, answers: dict[tuple[str, str], Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str]] = []

    def call(self, destination: str, path: str, interface: str, member: str,
             signature: str = "", body: tuple[Any, ...] = ()) -> list[Any]:
        self.calls.append((path, member))
        answer = self.answers.get((path, member))
        if isinstance(answer, VnetdError):
            raise answer
        return [answer]


NO_OBJECT = VnetdError("unknown method", "org.freedesktop.DBus.Error.UnknownMethod")


def test_a_named_network_is_called_on_its_path_without_a_lookup() -> None:
    connection = RecordingConnection({})
    text = quick._simple_text("net-start", "lab", connection)  # type: ignore[arg-type]
    assert text == "Network lab started\n"
    assert connection.calls == [("/org/vnetd1/network/lab", "Start")]


def test_no_object_at_the_name_path_looks_up_as_virsh() -> None:
    uuid = "c8605e8b-9401-4a38-9ba1-05fffa6fec23"
    connection = RecordingConnection({
        (network_path(uuid), "Destroy"): NO_OBJECT,
        ("/org/vnetd1", "LookupByName"): NotFound("no network with matching name"),
        ("/org/vnetd1", "LookupByUUID"): "/org/vnetd1/network/lab"})
    quick._simple_text("net-destroy", uuid, connection)  # type: ignore[arg-type]
    assert connection.calls == [(network_path(uuid), "Destroy"), ("/org/vnetd1", "LookupByName"),
                                ("/org/vnetd1", "LookupByUUID"),
                                ("/org/vnetd1/network/lab", "Destroy")]


def test_other_errors_of_the_direct_call_are_reported_as_they_are() -> None:
    failed = VnetdError("network 'lab' is not active", "org.vnetd1.Error.NotActive")
    connection = RecordingConnection({("/org/vnetd1/network/lab", "Destroy"): failed})
    with pytest.raises(quick.CommandError) as caught:
        quick._simple_text("net-destroy", "lab", connection)  # type: ignore[arg-type]
    assert caught.value.cause is failed
    assert connection.calls == [("/org/vnetd1/network/lab", "Destroy")]


def test_a_defined_network_is_named_from_its_path(tmp_path: Path) -> None:
    xml = tmp_path / "n.xml"
    xml.write_text("<network><name>a b-é</name></network>")
    connection = RecordingConnection({("/org/vnetd1", "DefineXML"): network_path("a b-é")})
    text = quick._simple_text("net-define", str(xml), connection)  # type: ignore[arg-type]
    assert text == f"Network a b-é defined from {xml}\n"
    assert connection.calls == [("/org/vnetd1", "DefineXML")]


@pytest.mark.parametrize("name", ["default", "a b", "é_x", "_", "-", "x" * 60, "net.1"])
def test_paths_are_the_daemons(name: str) -> None:
    assert quick.network_path(name) == network_path(name)
    assert quick.network_name(network_path(name)) == name


def test_paths_of_other_objects_are_not_names() -> None:
    assert quick.network_name("/org/vnetd1") is None
    assert quick.network_name("/org/vnetd1/network/_zz") is None


def test_the_process_ends_without_teardown_once_the_output_is_out() -> None:
    """An atexit handler would run in Python's teardown; run() leaves it out, and
    still flushes what was written and keeps the exit status."""
    code = ("import atexit, sys; sys.path.insert(0, sys.argv[1]); import vnetctl.cli as cli\n"
            "atexit.register(lambda: print('teardown'))\n"
            "cli.main = lambda: (sys.stdout.write('x' * 70000), 3)[1]\n"
            "cli.run()\n")
    proc = subprocess.run([sys.executable, "-IS", "-c", code, str(REPO / "client")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 3
    assert proc.stdout == "x" * 70000


@pytest.mark.parametrize(("argv", "parsed"), [
    (("net-dumpxml", "lab"), (False, "lab", False)),
    (("net-dumpxml", "--inactive", "lab"), (False, "lab", True)),
    (("-q", "net-dumpxml", "lab", "--inactive"), (True, "lab", True)),
    (("net-dumpxml",), None),
    (("net-dumpxml", "a", "b"), None),
    (("net-dumpxml", "--inac", "lab"), None),  # argparse's abbreviation: its path
    (("net-dumpxml", "lab", "--json"), None),
    (("net-dumpxml", "--inactive", "--inactive", "lab"), None),
    (("net-info", "lab"), None),
])
def test_dumpxml_parses_as_argparse_or_not_at_all(argv: tuple[str, ...],
                                                  parsed: tuple[bool, str, bool] | None) -> None:
    assert quick.parse_dumpxml(argv) == parsed
    if parsed is not None:
        from vnetctl.parser import build_parser, named_command

        args = build_parser(named_command(list(argv))).parse_args(list(argv))
        assert (args.quiet, args.network, args.inactive) == parsed


def test_dumpxml_asks_the_network_on_its_path() -> None:
    path = "/org/vnetd1/network/lab"
    connection = RecordingConnection({(path, "GetXMLDesc"): "<network/>"})
    assert quick._call_network(connection, "lab", "GetXMLDesc", "u",  # type: ignore[arg-type]
                               (1,)) == ["<network/>"]
    assert connection.calls == [(path, "GetXMLDesc")]


@pytest.mark.parametrize(("argv", "parsed"), [
    (("net-info", "lab"), (False, "net-info", "lab")),
    (("-q", "net-uuid", "lab"), (True, "net-uuid", "lab")),
    (("net-info", "lab", "--json"), None),
    (("net-info", "--json", "lab"), None),
    (("net-name", "c8605e8b-9401-4a38-9ba1-05fffa6fec23"), None),  # by UUID only
    (("net-info",), None),
])
def test_read_commands_parse_plain_spellings_only(argv: tuple[str, ...],
                                                  parsed: tuple[bool, str, str] | None) -> None:
    assert quick.parse_read(argv) == parsed


def test_net_uuid_looks_up_by_name_only_as_virsh() -> None:
    """A name that looks like a UUID is still only a name for net-uuid."""
    uuid = "c8605e8b-9401-4a38-9ba1-05fffa6fec23"
    connection = RecordingConnection({
        (network_path(uuid), "GetAll"): NO_OBJECT,
        ("/org/vnetd1", "LookupByName"): NotFound("no network with matching name")})
    with pytest.raises(quick.CommandError, match="failed to get network"):
        quick._call_network_at(connection, uuid, "GetAll", "s",  # type: ignore[arg-type]
                               ("org.vnetd1.Network",), interface=quick.PROPERTIES_IFACE,
                               uuid_too=False)
    assert connection.calls == [(network_path(uuid), "GetAll"), ("/org/vnetd1", "LookupByName")]


@pytest.mark.parametrize(("argv", "parsed"), [
    (("net-dhcp-leases", "lab"), (False, "lab", "")),
    (("net-dhcp-leases", "lab", "52:54:00:00:00:01"), (False, "lab", "52:54:00:00:00:01")),
    (("-q", "net-dhcp-leases", "--mac", "52:54:00:00:00:02", "lab"),
     (True, "lab", "52:54:00:00:00:02")),
    (("net-dhcp-leases", "lab", "52:54:00:00:00:01", "--mac", "52:54:00:00:00:02"),
     (False, "lab", "52:54:00:00:00:02")),  # argparse's: the option wins
    (("net-dhcp-leases", "lab", "--json"), None),
    (("net-dhcp-leases", "lab", "--mac=52:54:00:00:00:01"), None),
    (("net-dhcp-leases", "lab", "--mac"), None),
    (("net-dhcp-leases", "a", "b", "c"), None),
    (("net-dhcp-leases",), None),
])
def test_leases_parse_as_argparse_or_not_at_all(argv: tuple[str, ...],
                                                parsed: tuple[bool, str, str] | None) -> None:
    assert quick.parse_leases(argv) == parsed
    if parsed is not None:
        from vnetctl.parser import build_parser, named_command

        args = build_parser(named_command(list(argv))).parse_args(list(argv))
        assert (args.quiet, args.network, args.mac_option or args.mac or "") == parsed


def test_lease_rows_are_the_librarys() -> None:
    from vnetctl.output import net_dhcp_leases
    from vnetctl.records import LeaseRecord
    from vnetctl.types import DhcpLease

    items = [("vlab", 1764900000, 0, "52:54:00:00:00:02", "", "192.0.2.9", 24, "g", "01:aa"),
             ("vlab", 1764900001, 1, "52:54:00:00:00:01", "7", "fd00::9", 64, "", "00:01")]
    assert net_dhcp_leases([LeaseRecord(i) for i in items]) == net_dhcp_leases(
        [DhcpLease.from_struct(i) for i in items])


def test_lease_errors_are_worded_as_virsh() -> None:
    failed = VnetdError("network 'lab' is not active", "org.vnetd1.Error.NotActive")
    connection = RecordingConnection({("/org/vnetd1/network/lab", "GetDHCPLeases"): failed})
    err = io.StringIO()
    original = quick.Connection
    quick.Connection = lambda: contextlib.nullcontext(connection)  # type: ignore[assignment,misc]
    try:
        assert quick.run_leases((False, "lab", ""), io.StringIO(), err) == 1
    finally:
        quick.Connection = original  # type: ignore[misc]
    assert err.getvalue() == ("error: Failed to get leases info for lab\n"
                              "error: network 'lab' is not active\n")


@pytest.mark.parametrize(("argv", "parsed"), [
    (("net-autostart", "lab"), (False, "lab", False)),
    (("-q", "net-autostart", "--disable", "lab"), (True, "lab", True)),
    (("net-autostart", "lab", "--dis"), None),
    (("net-autostart",), None),
])
def test_autostart_parses_as_argparse_or_not_at_all(argv: tuple[str, ...],
                                                    parsed: tuple[bool, str, bool] | None) -> None:
    assert quick.parse_autostart(argv) == parsed
    if parsed is not None:
        from vnetctl.parser import build_parser, named_command

        args = build_parser(named_command(list(argv))).parse_args(list(argv))
        assert (args.quiet, args.network, args.disable) == parsed


def test_every_quick_command_is_served_or_left_to_argparse() -> None:
    """run_quick answers None, without touching the bus, for what it does not parse."""
    for argv in (["net-info", "lab", "--json"], ["net-edit", "lab"], ["--help"], []):
        assert quick.run_quick(argv, io.StringIO(), io.StringIO()) is None
