"""A dbus-fast message writer that waits when the socket is full instead of dying.

dbus-fast 5.2's ``_MessageWriter.write_callback`` treats every exception from
``socket.send`` as fatal. On a non-blocking socket a full send buffer raises
``BlockingIOError`` — which happens as soon as a daemon answers many calls at once (the
benchmark's 50 calls in flight with 100 networks) — so the bus connection was closed
and vnetd exited. This writer treats "would block" as "wait until writable", which is
what the event loop's writer callback is for; every other error stays fatal.

``schedule_write`` is dbus-fast's too, less one thing: after sending a message at once
it also registered the socket with the event loop whenever the message had no future
(every method reply does not), so each reply cost an extra loop pass and two
``epoll_ctl`` calls to register and drop a writer with nothing to write. Here the
writer is registered only when something is left to send.

``install()`` swaps the class in before the bus connects. The logic is dbus-fast's own,
kept line for line apart from the added ``except`` and that condition; remove this
module once dbus-fast handles both (checked against 5.2.0).
"""

from __future__ import annotations

import array
import socket
from typing import Any

import dbus_fast.aio.message_bus as aio_bus

_Base: Any = aio_bus._MessageWriter


class PatientMessageWriter(_Base):  # type: ignore[misc]
    buf: memoryview | None

    def write_callback(self, remove_writer: bool = True) -> None:
        sock = self.sock
        try:
            while True:
                if self.buf is None:
                    if not self.messages:
                        if remove_writer:
                            self.loop.remove_writer(self.fd)
                        return
                    buf, unix_fds, fut = self.messages.popleft()
                    self.unix_fds = unix_fds
                    self.buf = memoryview(buf)
                    self.offset = 0
                    self.fut = fut
                if self.unix_fds and self.negotiate_unix_fd:
                    ancdata = [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                array.array("i", self.unix_fds))]
                    self.offset += sock.sendmsg([self.buf[self.offset:]], ancdata)
                    self.unix_fds = None
                else:
                    self.offset += sock.send(self.buf[self.offset:])
                if self.offset < len(self.buf):
                    self.loop.add_writer(self.fd, self.write_callback)
                    return
                self.buf = None
                aio_bus._future_set_result(self.fut, None)
        except (BlockingIOError, InterruptedError):
            # The peer is slow to read: resume when the socket is writable again.
            self.loop.add_writer(self.fd, self.write_callback)
        except Exception as e:
            if self.bus._user_disconnect:
                aio_bus._future_set_result(self.fut, None)
            else:
                aio_bus._future_set_exception(self.fut, e)
            self.bus._finalize(e)


    def schedule_write(self, msg: Any = None, future: Any = None) -> None:
        queue_is_empty = not self.messages
        if msg is not None:
            self.buffer_message(msg, future)
        if self.bus.unique_name:
            if queue_is_empty:
                self.write_callback(remove_writer=False)
            if self.buf is not None or self.messages:
                self.loop.add_writer(self.fd, self.write_callback)


def install() -> None:
    aio_bus._MessageWriter = PatientMessageWriter  # type: ignore[misc]
