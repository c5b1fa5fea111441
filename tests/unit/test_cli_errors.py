"""D-Bus error names map onto the client's exception classes."""

from __future__ import annotations

import pytest

from vnetctl import errors
from vnetctl.errors import error_from_dbus


@pytest.mark.parametrize("cls", errors.ERROR_CLASSES)
def test_every_vnetd_error_name_maps_to_its_class(cls: type[errors.VnetdError]) -> None:
    kind = cls.__name__
    exc = error_from_dbus(f"org.vnetd1.Error.{kind}", "network 'x': bad <ip> address")
    assert type(exc) is cls
    assert str(exc) == "network 'x': bad <ip> address"
    assert exc.dbus_name == f"org.vnetd1.Error.{kind}"
    assert isinstance(exc, errors.VnetdError)


def test_the_error_names_are_the_contract() -> None:
    names = sorted(c.dbus_name for c in errors.ERROR_CLASSES)
    assert names == sorted(f"org.vnetd1.Error.{k}" for k in (
        "InvalidArgument", "NotFound", "AlreadyExists", "InvalidState", "Conflict",
        "AccessDenied", "Failed"))


def test_bus_access_denied_is_access_denied() -> None:
    exc = error_from_dbus("org.freedesktop.DBus.Error.AccessDenied", "Rejected send message")
    assert type(exc) is errors.AccessDenied
    assert "Rejected send message" in str(exc)


@pytest.mark.parametrize("name", ["org.freedesktop.DBus.Error.ServiceUnknown",
                                  "org.freedesktop.DBus.Error.NameHasNoOwner"])
def test_missing_service_says_vnetd_is_not_running(name: str) -> None:
    exc = error_from_dbus(name, "The name org.vnetd1 was not provided by any .service files")
    assert isinstance(exc, errors.NotRunning)
    assert isinstance(exc, errors.Failed)
    assert str(exc).startswith("vnetd is not running")


def test_other_bus_errors() -> None:
    assert type(error_from_dbus("org.freedesktop.DBus.Error.UnknownObject", "no")) is \
        errors.NotFound
    assert type(error_from_dbus("org.freedesktop.DBus.Error.InvalidArgs", "no")) is \
        errors.InvalidArgument
    timeout = error_from_dbus("org.freedesktop.DBus.Error.NoReply", "took too long")
    assert type(timeout) is errors.Failed and "did not answer" in str(timeout)
    odd = error_from_dbus("com.example.Weird", "strange")
    assert type(odd) is errors.Failed
    assert str(odd) == "strange (com.example.Weird)"
    assert odd.dbus_name == "com.example.Weird"
