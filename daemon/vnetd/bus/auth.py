"""Who is calling, and may they change things?

dbus-fast does not hand the message to a method handler, so a message handler that runs
before dispatch records the sender in a context variable; each handler task starts with a
copy of that context and so sees its own caller. Identity comes from the bus
(``GetConnectionUnixUser``), never from arguments. Root may change everything; other
users need polkit's ``org.vnetd1.manage`` when polkit runs, and are refused otherwise.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from ..errors import AccessDenied
from .names import MANAGE_ACTION

log = logging.getLogger(__name__)

current_sender: ContextVar[str | None] = ContextVar("current_sender", default=None)

POLKIT_NAME = "org.freedesktop.PolicyKit1"
ALLOW_INTERACTIVE = 0x4  # the message header flag ALLOW_INTERACTIVE_AUTHORIZATION


def tag_sender(msg: Message) -> None:
    """Message handler: remember the sender of each method call for its handler task.

    Must return a falsy value, or the bus would treat the message as handled."""
    if msg.message_type == MessageType.METHOD_CALL:
        current_sender.set(msg.sender)
        current_flags.set(int(msg.flags))


current_flags: ContextVar[int] = ContextVar("current_flags", default=0)


class Authorizer:
    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self._uids: dict[str, int] = {}

    async def _call(self, msg: Message) -> Message:
        reply = await self.bus.call(msg)
        assert reply is not None
        return reply

    async def uid_of(self, sender: str) -> int:
        cached = self._uids.get(sender)
        if cached is not None:
            return cached
        reply = await self._call(Message(
            destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus", member="GetConnectionUnixUser",
            signature="s", body=[sender]))
        if reply.message_type != MessageType.METHOD_RETURN:
            raise AccessDenied("cannot identify the caller")
        uid = int(reply.body[0])
        if len(self._uids) > 4096:  # unique names are never reused; just bound the cache
            self._uids.clear()
        self._uids[sender] = uid
        return uid

    async def _polkit_allows(self, sender: str, interactive: bool) -> bool:
        has_owner = await self._call(Message(
            destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus", member="NameHasOwner",
            signature="s", body=[POLKIT_NAME]))
        if has_owner.message_type != MessageType.METHOD_RETURN or not has_owner.body[0]:
            return False
        reply = await self._call(Message(
            destination=POLKIT_NAME, path="/org/freedesktop/PolicyKit1/Authority",
            interface="org.freedesktop.PolicyKit1.Authority", member="CheckAuthorization",
            signature="(sa{sv})sa{ss}us",
            body=[("system-bus-name", {"name": Variant("s", sender)}), MANAGE_ACTION, {},
                  1 if interactive else 0, ""]))
        if reply.message_type != MessageType.METHOD_RETURN:
            log.warning("polkit check failed: %s %s", reply.error_name, reply.body)
            return False
        return bool(reply.body[0][0])

    async def require_manage(self) -> None:
        sender = current_sender.get()
        if sender is None:
            raise AccessDenied("caller unknown")
        if await self.uid_of(sender) == 0:
            return
        interactive = bool(current_flags.get() & ALLOW_INTERACTIVE)
        if await self._polkit_allows(sender, interactive):
            return
        raise AccessDenied(
            "changing networks requires root or polkit authorization for org.vnetd1.manage")
