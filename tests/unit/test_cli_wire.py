"""vnetctl's minimal D-Bus wire code against dbus-fast's marshalling, and the pure listing
logic that replaces ListNetworks' filtering."""

from __future__ import annotations

import struct
import subprocess
import sys
from typing import Any

import pytest
from dbus_fast import Message, MessageType, Variant
from hypothesis import given
from hypothesis import strategies as st

from vnetctl import wire
from vnetctl.listing import matches, networks_from_managed_objects
from vnetctl.types import ListFlags, NetworkInfo

CALLS: list[tuple[str, tuple[Any, ...]]] = [
    ("", ()),
    ("u", (7,)),
    ("ss", ("org.vnetd1.Manager", "Version")),
    ("uuisu", (3, 4, -1, "<host mac='52:54:00:00:00:01' ip='192.0.2.9'/>", 3)),
    ("su", ("52:54:00:aa:bb:cc", 30000)),
    ("ssv", ("org.vnetd1.Network", "Autostart", ("b", True))),
    ("asa{sv}", (["a", "bé"], {"k": ("s", "v"), "n": ("x", -5)})),
]


def as_dbus_fast(signature: str, value: Any) -> Any:
    """Our ("sig", value) variant pairs as dbus-fast Variants."""
    if signature == "v":
        inner, val = value
        return Variant(inner, as_dbus_fast(inner, val))
    if signature.startswith("a{"):
        value_sig = signature[3:-1]
        return {k: as_dbus_fast(value_sig, v) for k, v in value.items()}
    return value


@pytest.mark.parametrize(("signature", "body"), CALLS)
def test_method_calls_are_byte_for_byte_dbus_fasts(signature: str, body: tuple[Any, ...]) -> None:
    types = wire._single_types(signature)
    reference = Message(destination="org.vnetd1", path="/org/vnetd1/network/lab",
                        interface="org.vnetd1.Network", member="Update", signature=signature,
                        body=[as_dbus_fast(t, v) for t, v in zip(types, body, strict=True)],
                        serial=42)
    ours = wire.method_call(42, "org.vnetd1", "/org/vnetd1/network/lab", "org.vnetd1.Network",
                            "Update", signature, body)
    assert ours == bytes(reference._marshall(False))
    assert wire.message_length(ours[:16]) == len(ours)


def reply(signature: str, body: list[Any], *, error: str | None = None) -> bytes:
    msg = Message(message_type=MessageType.ERROR if error else MessageType.METHOD_RETURN,
                  reply_serial=9, serial=5, destination=":1.7", signature=signature, body=body,
                  error_name=error)
    return bytes(msg._marshall(False))


def test_get_managed_objects_reply_parses_to_plain_values() -> None:
    objects = {
        "/org/vnetd1/network/default": {
            "org.vnetd1.Network": {"Name": Variant("s", "default"), "Active": Variant("b", True),
                                   "Problems": Variant("as", ["dnsmasq gave up"])},
            "org.freedesktop.DBus.Properties": {},
        },
        "/org/vnetd1/network/b": {"org.vnetd1.Network": {"Name": Variant("s", "b")}},
    }
    kind, headers, body = wire.parse_message(reply("a{oa{sa{sv}}}", [objects]))
    assert (kind, headers[wire.REPLY_SERIAL], headers[wire.SIGNATURE]) == (
        wire.METHOD_RETURN, 9, "a{oa{sa{sv}}}")
    assert body == [{
        "/org/vnetd1/network/default": {
            "org.vnetd1.Network": {"Name": "default", "Active": True,
                                   "Problems": ["dnsmasq gave up"]},
            "org.freedesktop.DBus.Properties": {},
        },
        "/org/vnetd1/network/b": {"org.vnetd1.Network": {"Name": "b"}},
    }]


def test_lease_struct_and_error_replies_parse() -> None:
    lease = ["virbr0", 1704067200, 1, "52:54:00:aa:00:01", "7", "2001:db8::4a", 64, "g", "00:01"]
    assert wire.parse_message(reply("(sxisssuss)", [lease]))[2] == [lease]
    kind, headers, body = wire.parse_message(
        reply("s", ["no such network"], error="org.vnetd1.Error.NotFound"))
    assert (kind, headers[wire.ERROR_NAME], body) == (
        wire.ERROR, "org.vnetd1.Error.NotFound", ["no such network"])


def test_big_endian_messages_parse() -> None:
    """dbus-fast writes only little-endian; this reply (body "us": 5, "ok") is spelled out."""
    fields = (b"\x05\x01u\x00" + struct.pack(">I", 3)        # REPLY_SERIAL: u 3
              + b"\x08\x01g\x00" + b"\x02us\x00")           # SIGNATURE: g "us"
    body = struct.pack(">I", 5) + struct.pack(">I", 2) + b"ok\x00"
    data = (b"B\x02\x00\x01" + struct.pack(">III", len(body), 1, len(fields)) + fields + body)
    assert wire.message_length(data[:16]) == len(data)
    assert wire.parse_message(data) == (wire.METHOD_RETURN, {5: 3, 8: "us"}, [5, "ok"])


# D-Bus strings are UTF-8 without NUL.
text = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=20)
value_strategy = st.recursive(
    st.one_of(st.tuples(st.just("s"), text),
              st.tuples(st.just("u"), st.integers(0, 2**32 - 1)),
              st.tuples(st.just("x"), st.integers(-(2**63), 2**63 - 1)),
              st.tuples(st.just("b"), st.booleans()),
              st.tuples(st.just("y"), st.integers(0, 255)),
              st.tuples(st.just("d"), st.floats(allow_nan=False))),
    lambda inner: st.one_of(
        st.tuples(st.just("as"), st.lists(text, max_size=4)),
        st.tuples(st.just("a{sv}"), st.dictionaries(text, inner, max_size=4)),
    ),
    max_leaves=12,
)


def to_variant(pair: tuple[str, Any]) -> Variant:
    signature, value = pair
    if signature == "a{sv}":
        return Variant(signature, {k: to_variant(v) for k, v in value.items()})
    return Variant(signature, value)


def plain(pair: tuple[str, Any]) -> Any:
    signature, value = pair
    if signature == "a{sv}":
        return {k: plain(v) for k, v in value.items()}
    return value


@given(st.dictionaries(text, value_strategy, max_size=6))
def test_any_variant_dictionary_reads_as_dbus_fast_wrote_it(
        props: dict[str, tuple[str, Any]]) -> None:
    data = reply("a{sv}", [{k: to_variant(v) for k, v in props.items()}])
    assert wire.parse_message(data)[2] == [{k: plain(v) for k, v in props.items()}]


def test_addresses() -> None:
    assert wire._socket_paths("unix:path=/run/dbus/system_bus_socket") == [
        "/run/dbus/system_bus_socket"]
    assert wire._socket_paths("tcp:host=h,port=1;unix:path=/a%20b,guid=00") == ["/a b"]
    assert wire._socket_paths("unix:abstract=/tmp/x") == [b"\0/tmp/x"]
    assert wire._socket_paths("tcp:host=localhost,port=1") == []
    with pytest.raises(wire.Unsupported):
        wire.Connection("tcp:host=localhost,port=1")


def test_a_bus_the_quick_path_cannot_use_falls_back_to_the_full_client() -> None:
    """A tcp address: the quick path gives up, dbus-fast tries and reports the failure."""
    proc = subprocess.run([sys.executable, "-m", "vnetctl.cli", "net-list"], capture_output=True,
                          text=True, timeout=60, check=False,
                          env={"DBUS_SYSTEM_BUS_ADDRESS": "tcp:host=127.0.0.1,port=9"})
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith(
        "error: cannot connect to the system bus at tcp:host=127.0.0.1,port=9")


def info(active: bool, persistent: bool, autostart: bool) -> NetworkInfo:
    return NetworkInfo("n", "u", active, persistent, autostart, "br", "nat")


@pytest.mark.parametrize(("flags", "active", "persistent", "autostart", "listed"), [
    (ListFlags.ALL, False, False, False, True),
    (ListFlags.ACTIVE, True, False, False, True),
    (ListFlags.ACTIVE, False, True, True, False),
    (ListFlags.INACTIVE, False, True, False, True),
    (ListFlags.ACTIVE | ListFlags.INACTIVE, False, True, False, True),
    (ListFlags.ACTIVE | ListFlags.PERSISTENT, True, False, True, False),
    (ListFlags.ACTIVE | ListFlags.TRANSIENT, True, False, True, True),
    (ListFlags.PERSISTENT | ListFlags.TRANSIENT, False, False, False, True),
    (ListFlags.INACTIVE | ListFlags.AUTOSTART, False, True, True, True),
    (ListFlags.INACTIVE | ListFlags.AUTOSTART, False, True, False, False),
    (ListFlags.NO_AUTOSTART, True, True, False, True),
    (ListFlags.NO_AUTOSTART, True, True, True, False),
])
def test_list_flags_filter_as_libvirt(flags: int, active: bool, persistent: bool,
                                      autostart: bool, listed: bool) -> None:
    assert matches(info(active, persistent, autostart), flags) is listed


def test_managed_objects_without_the_network_interface_are_not_networks() -> None:
    objects: dict[str, dict[str, dict[str, Any]]] = {
        "/org/vnetd1/network/b": {"org.vnetd1.Network": {"Name": "b", "Active": True}},
        "/org/vnetd1/network/A": {"org.vnetd1.Network": {"Name": "A", "Active": False}},
        "/org/vnetd1/other": {"org.example.Other": {}},
    }
    assert [n.name for n in networks_from_managed_objects(objects)] == ["A", "b"]
    assert [n.path for n in networks_from_managed_objects(objects, ListFlags.ACTIVE)] == [
        "/org/vnetd1/network/b"]
