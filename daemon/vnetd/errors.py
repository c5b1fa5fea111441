"""One error hierarchy; each class carries the D-Bus error name the bus layer sends.

The daemon's core raises these and nothing else on purpose; the bus layer maps
any other exception to ``Failed`` with a generic message so that no traceback or
internal detail reaches a caller.
"""

from __future__ import annotations

ERROR_PREFIX = "org.vnetd1.Error."


class VnetdError(Exception):
    """Base of every error a caller may see."""

    dbus_name: str = ERROR_PREFIX + "Failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidArgument(VnetdError):
    """Bad XML or a bad value; the message names the element and the reason."""

    dbus_name = ERROR_PREFIX + "InvalidArgument"


class NotSupported(InvalidArgument):
    """A valid libvirt construct that vnetd deliberately does not implement."""

    dbus_name = ERROR_PREFIX + "InvalidArgument"


class NotFound(VnetdError):
    dbus_name = ERROR_PREFIX + "NotFound"


class AlreadyExists(VnetdError):
    dbus_name = ERROR_PREFIX + "AlreadyExists"


class InvalidState(VnetdError):
    """The operation does not fit the object's state, e.g. starting an active network."""

    dbus_name = ERROR_PREFIX + "InvalidState"


class Conflict(VnetdError):
    """A resource is in use: bridge name, subnet, DNS port."""

    dbus_name = ERROR_PREFIX + "Conflict"


class AccessDenied(VnetdError):
    dbus_name = ERROR_PREFIX + "AccessDenied"


class Failed(VnetdError):
    """The system refused; the message says what the kernel, nftables or dnsmasq said."""

    dbus_name = ERROR_PREFIX + "Failed"


ALL_ERRORS: tuple[type[VnetdError], ...] = (
    InvalidArgument,
    NotFound,
    AlreadyExists,
    InvalidState,
    Conflict,
    AccessDenied,
    Failed,
)
