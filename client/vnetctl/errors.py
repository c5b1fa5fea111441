"""Exceptions a vnetd client sees, one per ``org.vnetd1.Error.*`` name.

The client does not import the daemon's package: it is installed and used on its
own, so the error names are the contract, not the daemon's classes.
"""

from __future__ import annotations

ERROR_PREFIX = "org.vnetd1.Error."
BUS_ERROR_PREFIX = "org.freedesktop.DBus.Error."


class VnetdError(Exception):
    """Base of every error the client raises; ``dbus_name`` is the error as sent."""

    dbus_name: str = ERROR_PREFIX + "Failed"

    def __init__(self, message: str, dbus_name: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if dbus_name is not None:
            self.dbus_name = dbus_name

    def __str__(self) -> str:
        return self.message


class InvalidArgument(VnetdError):
    """Bad XML or a bad value; the message names the element and the reason."""

    dbus_name = ERROR_PREFIX + "InvalidArgument"


class NotFound(VnetdError):
    dbus_name = ERROR_PREFIX + "NotFound"


class AlreadyExists(VnetdError):
    dbus_name = ERROR_PREFIX + "AlreadyExists"


class InvalidState(VnetdError):
    """The operation does not fit the network's state, e.g. starting an active network."""

    dbus_name = ERROR_PREFIX + "InvalidState"


class Conflict(VnetdError):
    dbus_name = ERROR_PREFIX + "Conflict"


class AccessDenied(VnetdError):
    dbus_name = ERROR_PREFIX + "AccessDenied"


class Failed(VnetdError):
    dbus_name = ERROR_PREFIX + "Failed"


class NotRunning(Failed):
    """Nobody owns ``org.vnetd1`` on the bus (and the bus could not activate it)."""

    dbus_name = BUS_ERROR_PREFIX + "ServiceUnknown"


class BusUnavailable(Failed):
    """The bus itself could not be reached (no socket, refused, authentication failed)."""

    dbus_name = BUS_ERROR_PREFIX + "NoServer"


ERROR_CLASSES: tuple[type[VnetdError], ...] = (
    InvalidArgument,
    NotFound,
    AlreadyExists,
    InvalidState,
    Conflict,
    AccessDenied,
    Failed,
)

_BY_NAME: dict[str, type[VnetdError]] = {cls.dbus_name: cls for cls in ERROR_CLASSES}

# What the bus daemon or the D-Bus library may answer instead of vnetd itself.
_BUS_ERRORS: dict[str, type[VnetdError]] = {
    BUS_ERROR_PREFIX + "AccessDenied": AccessDenied,
    BUS_ERROR_PREFIX + "InteractiveAuthorizationRequired": AccessDenied,
    BUS_ERROR_PREFIX + "InvalidArgs": InvalidArgument,
    BUS_ERROR_PREFIX + "UnknownObject": NotFound,
    BUS_ERROR_PREFIX + "PropertyReadOnly": InvalidArgument,
}

_NOT_RUNNING = {
    BUS_ERROR_PREFIX + "ServiceUnknown",
    BUS_ERROR_PREFIX + "NameHasNoOwner",
    BUS_ERROR_PREFIX + "Spawn.ServiceNotFound",
    BUS_ERROR_PREFIX + "Spawn.ChildExited",
}

NOT_RUNNING_MESSAGE = "vnetd is not running (nobody owns org.vnetd1 on the system bus)"


def error_from_dbus(name: str, text: str) -> VnetdError:
    """The exception for a D-Bus error reply ``name`` carrying ``text``."""
    cls = _BY_NAME.get(name)
    if cls is not None:
        return cls(text, name)
    if name in _NOT_RUNNING:
        return NotRunning(NOT_RUNNING_MESSAGE, name)
    cls = _BUS_ERRORS.get(name)
    if cls is not None:
        if cls is AccessDenied:
            text = f"access denied by the bus: {text}"
        return cls(text, name)
    if name in (BUS_ERROR_PREFIX + "NoReply", BUS_ERROR_PREFIX + "Timeout"):
        return Failed(f"vnetd did not answer in time: {text}", name)
    if name == BUS_ERROR_PREFIX + "UnknownMethod":
        return Failed(f"this vnetd does not support the call: {text}", name)
    # Keep the name: an error we do not know is still worth showing as sent.
    return Failed(f"{text} ({name})" if text else name, name)
