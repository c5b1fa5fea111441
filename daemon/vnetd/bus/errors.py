"""Error mapping at the bus boundary: our errors keep their name and message; anything
else becomes ``org.vnetd1.Error.Failed`` with a generic text, the traceback logged here."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from dbus_fast import DBusError

from ..errors import Failed, VnetdError

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def to_dbus_error(exc: BaseException) -> DBusError:
    if isinstance(exc, DBusError):
        return exc
    if isinstance(exc, VnetdError):
        return DBusError(exc.dbus_name, exc.message)
    log.error("internal error", exc_info=exc)
    return DBusError(Failed.dbus_name, "internal error in vnetd; the daemon's log has details")


def translate_errors_now(fn: Callable[P, R]) -> Callable[P, R]:
    """``translate_errors`` for a method that answers without waiting.

    dbus-fast runs a plain method inline and replies at once; a coroutine method costs a
    Task, a done-callback and an extra loop pass per call, which was the larger part of
    the daemon's own time for GetXMLDesc and ListNetworks (py-spy)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise to_dbus_error(exc) from None

    return wrapper


def translate_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except Exception as exc:
            raise to_dbus_error(exc) from None

    return wrapper
