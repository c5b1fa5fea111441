"""The kept ``GetManagedObjects`` answer: rebuilt exactly when a value changes, and
marshalled byte for byte as dbus-fast marshals the same reply."""

from __future__ import annotations

from typing import Any

from dbus_fast import Message, MessageFlag, MessageType, Variant
from dbus_fast.annotations import DBusBool, DBusStr
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_property

from vnetd.bus.managed_objects import REPLY_SIGNATURE, ManagedObjects


class Thing(ServiceInterface):
    def __init__(self, name: str) -> None:
        super().__init__("org.example.Thing")
        self.name_value = name
        self.on = False
        self.reads = 0

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> DBusStr:
        self.reads += 1
        return self.name_value

    @dbus_property(access=PropertyAccess.READ)
    def On(self) -> DBusBool:
        return self.on

    @dbus_property(access=PropertyAccess.WRITE)
    def Secret(self) -> DBusStr:  # write-only: never listed
        return "secret"

    @Secret.setter  # type: ignore[no-redef]
    def Secret(self, value: DBusStr) -> None:
        pass

    @dbus_property(access=PropertyAccess.READ, disabled=True)
    def Hidden(self) -> DBusStr:
        return "hidden"


def _call(path: str = "/org/vnetd1", member: str = "GetManagedObjects",
          interface: str = "org.freedesktop.DBus.ObjectManager", **kw: Any) -> Message:
    return Message(destination="org.vnetd1", path=path, interface=interface, member=member,
                   serial=7, sender=":1.42", **kw)


def test_body_has_readable_properties_and_is_kept_until_a_value_changes() -> None:
    things = {"/org/vnetd1/network/a": Thing("a"), "/org/vnetd1/network/b": Thing("b")}
    objects = ManagedObjects(things.items, lambda msg: None)
    first = objects.body()
    assert first == {
        "/org/vnetd1/network/a": {"org.example.Thing": {"Name": Variant("s", "a"),
                                                        "On": Variant("b", False)}},
        "/org/vnetd1/network/b": {"org.example.Thing": {"Name": Variant("s", "b"),
                                                        "On": Variant("b", False)}},
    }
    assert objects.body() is first
    assert things["/org/vnetd1/network/a"].reads == 2  # values are read on every call
    things["/org/vnetd1/network/b"].on = True
    second = objects.body()
    assert second is not first
    assert second["/org/vnetd1/network/b"]["org.example.Thing"]["On"] == Variant("b", True)
    things["/org/vnetd1/network/c"] = Thing("c")
    assert set(objects.body()) == set(things)
    del things["/org/vnetd1/network/a"]
    assert set(objects.body()) == set(things)


def test_reply_bytes_are_what_dbus_fast_would_send() -> None:
    things = {"/org/vnetd1/network/a": Thing("a")}
    sent: list[Any] = []
    objects = ManagedObjects(things.items, sent.append)
    call = _call()
    assert objects.handle(call) is True
    (reply,) = sent
    reply.serial = 99
    expected = Message.new_method_return(call, REPLY_SIGNATURE, [objects.body()])
    expected.serial = 99
    assert reply._marshall(False) == bytes(expected._marshall(False))
    assert reply.unix_fds == []


def test_only_its_own_call_is_taken() -> None:
    sent: list[Any] = []
    objects = ManagedObjects({}.items, sent.append)
    assert objects.handle(_call(path="/")) is None  # dbus-fast's handler answers there
    assert objects.handle(_call(member="Other")) is None
    assert objects.handle(_call(interface="org.vnetd1.Manager")) is None
    assert objects.handle(_call(signature="s", body=["x"])) is None
    signal = Message.new_signal("/org/vnetd1", "org.freedesktop.DBus.ObjectManager",
                                "GetManagedObjects")
    assert signal.message_type is MessageType.SIGNAL
    assert objects.handle(signal) is None
    assert sent == []
    # Taken, but no reply when the caller asked for none.
    assert objects.handle(_call(flags=MessageFlag.NO_REPLY_EXPECTED)) is True
    assert sent == []
    assert objects.handle(_call()) is True and len(sent) == 1
