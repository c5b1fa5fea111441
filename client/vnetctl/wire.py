"""A minimal blocking D-Bus connection: standard library only, for the CLI's quick reads.

Why it exists: importing dbus-fast pulls in asyncio, xml.etree, hashlib and more, about
90 ms of start-up on the reference machine, twice the interpreter's own start. A command
that needs one method call should not pay that, so ``vnetctl net-list`` talks to the bus
through this module (EXTERNAL auth on a unix socket, ``Hello``, one call). Anything this
module does not handle (non-unix addresses, an auth it does not expect) raises
:class:`Unsupported` and the caller falls back to the full client.

Only the marshalling D-Bus needs for method calls is here: basic types, strings, arrays,
structs, dict entries and variants, little-endian out, either order in.
"""

from __future__ import annotations

import _socket  # not "socket": that wrapper imports selectors, ~3 ms of import time
import os
import struct

from .errors import BusUnavailable, error_from_dbus

TYPE_CHECKING = False  # see records.py: net-list does not import typing
if TYPE_CHECKING:
    from typing import Any

DEFAULT_SYSTEM_BUS = "unix:path=/run/dbus/system_bus_socket"

_FIXED = {"y": ("B", 1), "b": ("I", 4), "n": ("h", 2), "q": ("H", 2), "i": ("i", 4),
          "u": ("I", 4), "x": ("q", 8), "t": ("Q", 8), "d": ("d", 8), "h": ("I", 4)}
_ALIGN = {**{code: size for code, (_, size) in _FIXED.items()},
          "s": 4, "o": 4, "g": 1, "a": 4, "(": 8, "{": 8, "v": 1}

# Header field codes (D-Bus specification, "Message Format").
PATH, INTERFACE, MEMBER, ERROR_NAME, REPLY_SERIAL, DESTINATION, SIGNATURE = 1, 2, 3, 4, 5, 6, 8
METHOD_CALL, METHOD_RETURN, ERROR = 1, 2, 3


class Unsupported(Exception):
    """Something this small client does not do; use the full client instead."""


_SPLIT_CACHE: dict[str, list[str]] = {}


def _single_types(signature: str) -> list[str]:
    """``"sa{sv}i"`` -> ``["s", "a{sv}", "i"]`` (cached: a reply repeats its struct types)."""
    out = _SPLIT_CACHE.get(signature)
    if out is None:
        out, i = [], 0
        while i < len(signature):
            end = _type_end(signature, i)
            out.append(signature[i:end])
            i = end
        _SPLIT_CACHE[signature] = out
    return out


def _type_end(sig: str, i: int) -> int:
    if sig[i] == "a":
        return _type_end(sig, i + 1)
    if sig[i] in "({":
        close = ")" if sig[i] == "(" else "}"
        j = i + 1
        while sig[j] != close:
            j = _type_end(sig, j)
        return j + 1
    return i + 1


class _Writer:
    def __init__(self) -> None:
        self.buf = bytearray()

    def pad(self, n: int) -> None:
        self.buf.extend(b"\0" * (-len(self.buf) % n))

    def write(self, sig: str, value: Any) -> None:
        code = sig[0]
        self.pad(_ALIGN[code])
        if code in _FIXED:
            self.buf.extend(struct.pack("<" + _FIXED[code][0], value))
        elif code in "so":
            data = value.encode()
            self.buf.extend(struct.pack("<I", len(data)) + data + b"\0")
        elif code == "g":
            self.buf.extend(bytes([len(value)]) + value.encode() + b"\0")
        elif code == "v":
            inner, val = value
            self.write("g", inner)
            self.write(inner, val)
        elif code == "(":
            for part, item in zip(_single_types(sig[1:-1]), value, strict=True):
                self.write(part, item)
        elif code == "a":
            length_at = len(self.buf)
            self.buf.extend(b"\0\0\0\0")
            self.pad(_ALIGN[sig[1]])
            start = len(self.buf)
            items = value.items() if sig[1] == "{" else value
            for item in items:
                self.write(sig[1:] if sig[1] != "{" else "(" + sig[2:-1] + ")", item)
            struct.pack_into("<I", self.buf, length_at, len(self.buf) - start)
        else:
            raise Unsupported(f"cannot marshal D-Bus type {sig!r}")


class _Reader:
    """Unmarshals with one compiled function per signature (``_compile``): a
    200-network GetManagedObjects reply read in ~4.5 ms where walking the signature for
    every value took ~7 ms (20 runs each, dev lab)."""

    def __init__(self, data: bytes, little: bool, offset: int = 0) -> None:
        self.data = data
        self.pos = offset
        self.little = little

    def align(self, n: int) -> None:
        self.pos += -self.pos % n

    def read(self, sig: str) -> Any:
        return _compile(sig, self.little)(self)


_COMPILED: dict[tuple[str, bool], Any] = {}


def _compile(sig: str, little: bool) -> Any:
    """A function reading one value of the single complete type ``sig``."""
    key = (sig, little)
    found = _COMPILED.get(key)
    if found is not None:
        return found
    order = "<" if little else ">"
    code = sig[0]
    size = _ALIGN[code]
    reader: Any
    if code in _FIXED:
        unpack = struct.Struct(order + _FIXED[code][0]).unpack_from
        boolean = code == "b"

        def reader(r: _Reader) -> Any:
            r.pos += -r.pos % size
            (value,) = unpack(r.data, r.pos)
            r.pos += size
            return bool(value) if boolean else value
    elif code in "so":
        length_of = struct.Struct(order + "I").unpack_from

        def reader(r: _Reader) -> Any:
            pos = r.pos + (-r.pos % 4)
            (length,) = length_of(r.data, pos)
            r.pos = pos + 5 + length
            return r.data[pos + 4:pos + 4 + length].decode()
    elif code == "g":
        def reader(r: _Reader) -> Any:
            length = r.data[r.pos]
            r.pos += length + 2
            return r.data[r.pos - length - 1:r.pos - 1].decode()
    elif code == "v":
        read_signature = _compile("g", little)

        def reader(r: _Reader) -> Any:
            return _compile(read_signature(r), little)(r)
    elif code == "(":
        parts = [_compile(part, little) for part in _single_types(sig[1:-1])]

        def reader(r: _Reader) -> Any:
            r.pos += -r.pos % 8
            return [part(r) for part in parts]
    elif code == "a":
        length_of = struct.Struct(order + "I").unpack_from
        inner = _ALIGN[sig[1]]
        if sig[1] == "{":
            key_sig, value_sig = _single_types(sig[2:-1])
            read_key, read_value = _compile(key_sig, little), _compile(value_sig, little)

            def reader(r: _Reader) -> Any:
                pos = r.pos + (-r.pos % 4)
                (length,) = length_of(r.data, pos)
                r.pos = pos + 4 + (-(pos + 4) % 8)
                end = r.pos + length
                result: dict[Any, Any] = {}
                while r.pos < end:
                    r.pos += -r.pos % 8
                    item_key = read_key(r)
                    result[item_key] = read_value(r)
                return result
        else:
            read_item = _compile(sig[1:], little)

            def reader(r: _Reader) -> Any:
                pos = r.pos + (-r.pos % 4)
                (length,) = length_of(r.data, pos)
                r.pos = pos + 4 + (-(pos + 4) % inner)
                end = r.pos + length
                items = []
                while r.pos < end:
                    items.append(read_item(r))
                return items
    else:
        raise Unsupported(f"cannot unmarshal D-Bus type {sig!r}")
    _COMPILED[key] = reader
    return reader


def _socket_paths(address: str) -> list[str | bytes]:
    """Unix socket paths of a D-Bus address list, in order; other transports are skipped."""
    paths: list[str | bytes] = []
    for entry in address.split(";"):
        transport, _, params = entry.partition(":")
        if transport != "unix":
            continue
        options = dict(p.split("=", 1) for p in params.split(",") if "=" in p)
        if "path" in options:
            paths.append(_unescape(options["path"]))
        elif "abstract" in options:
            paths.append(b"\0" + _unescape(options["abstract"]).encode())
    return paths


def _unescape(text: str) -> str:
    """A D-Bus address value: ``%XX`` is one byte, everything else stands for itself
    (not urllib's unquote: importing urllib.parse costs ~3 ms of every command)."""
    if "%" not in text:
        return text
    out, i = bytearray(), 0
    while i < len(text):
        if text[i] == "%" and _is_hex(text[i + 1:i + 3]):
            out.append(int(text[i + 1:i + 3], 16))
            i += 3
        else:
            out.extend(text[i].encode())
            i += 1
    return out.decode("utf-8", "surrogateescape")


def _is_hex(pair: str) -> bool:
    return len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair)


def system_bus_address() -> str:
    return os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or DEFAULT_SYSTEM_BUS


class Connection:
    """One bus connection; ``call`` sends a method call and waits.

    Nothing is sent until the first call, which goes out in one write with the
    authentication, ``BEGIN`` and ``Hello``: the bus keeps what follows ``BEGIN`` for its
    message reader, and handles ``Hello`` before the call, so a one-call command waits
    for one round trip instead of three (dev lab: ~0.5 ms of ``vnetctl net-list``)."""

    def __init__(self, address: str | None = None, *, timeout: float = 60) -> None:
        address = address or system_bus_address()
        paths = _socket_paths(address)
        if not paths:
            raise Unsupported(f"no unix socket in bus address {address!r}")
        self._sock = _socket.socket(_socket.AF_UNIX,
                                    _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        self._sock.settimeout(timeout)
        self._buffer = b""
        self._serial = 1  # Hello's; its reply is skipped as any other not awaited
        uid = str(os.geteuid()).encode().hex().encode()
        self._greeting = (b"\0AUTH EXTERNAL " + uid + b"\r\nBEGIN\r\n"
                          + method_call(1, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                        "org.freedesktop.DBus", "Hello"))
        try:
            self._connect(address, paths)
        except BaseException:
            self._sock.close()
            raise

    def _connect(self, address: str, paths: list[str | bytes]) -> None:
        error: OSError | None = None
        for path in paths:
            try:
                self._sock.connect(path)
                return
            except OSError as exc:
                error = exc
        raise BusUnavailable(f"cannot connect to the system bus at {address}: {error}")

    def _authenticated(self) -> None:
        line = self._read_line()
        if not line.startswith(b"OK "):
            raise Unsupported(f"bus refused EXTERNAL authentication: {line!r}")

    def _read_line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            self._receive()
        line, _, self._buffer = self._buffer.partition(b"\r\n")
        return line

    def _receive(self) -> None:
        try:
            chunk = self._sock.recv(65536)
        except OSError as exc:
            raise BusUnavailable(f"lost the connection to the bus: {exc}") from exc
        if not chunk:
            raise BusUnavailable("lost the connection to the bus: closed by the bus")
        self._buffer += chunk

    def _read_exact(self, n: int) -> bytes:
        while len(self._buffer) < n:
            self._receive()
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, destination: str, path: str, interface: str, member: str,
             signature: str = "", body: tuple[Any, ...] = ()) -> list[Any]:
        """One method call; the reply's body, or the mapped VnetdError for an error reply."""
        self._serial += 1
        serial = self._serial
        message = method_call(serial, destination, path, interface, member, signature, body)
        if self._greeting:
            message, self._greeting = self._greeting + message, b""
            self._sock.sendall(message)
            self._authenticated()
        else:
            self._sock.sendall(message)
        while True:
            fixed = self._read_exact(16)
            kind, headers, values = parse_message(
                fixed + self._read_exact(message_length(fixed) - 16))
            if headers.get(REPLY_SERIAL) != serial:
                continue  # a signal such as NameAcquired, or someone else's traffic
            if kind == ERROR:
                text = values[0] if values and isinstance(values[0], str) else ""
                raise error_from_dbus(str(headers.get(ERROR_NAME, "")), text)
            return values


def method_call(serial: int, destination: str, path: str, interface: str, member: str,
                signature: str = "", body: tuple[Any, ...] = ()) -> bytes:
    """A METHOD_CALL message, little-endian, header fields in dbus-fast's order."""
    fields: list[tuple[int, tuple[str, Any]]] = [
        (PATH, ("o", path)), (INTERFACE, ("s", interface)), (MEMBER, ("s", member)),
        (DESTINATION, ("s", destination))]
    body_writer = _Writer()
    if signature:
        fields.append((SIGNATURE, ("g", signature)))
        for part, value in zip(_single_types(signature), body, strict=True):
            body_writer.write(part, value)
    header = _Writer()
    header.buf.extend(struct.pack("<cBBBII", b"l", METHOD_CALL, 0, 1, len(body_writer.buf),
                                  serial))
    header.write("a(yv)", fields)
    header.pad(8)
    return bytes(header.buf + body_writer.buf)


def message_length(fixed: bytes) -> int:
    """The whole message's length from its first 16 bytes."""
    order = "<" if fixed[:1] == b"l" else ">"
    body_length, _serial, fields_length = struct.unpack_from(order + "III", fixed, 4)
    return int(16 + fields_length + (-fields_length % 8) + body_length)


def parse_message(data: bytes) -> tuple[int, dict[int, Any], list[Any]]:
    """(message type, header fields by code, body values) of one whole message."""
    little = data[:1] == b"l"
    reader = _Reader(data, little, 12)
    headers = {code: value for code, value in reader.read("a(yv)")}
    reader.align(8)
    return int(data[1]), headers, [reader.read(part)
                              for part in _single_types(headers.get(SIGNATURE, ""))]


__all__ = ["Connection", "Unsupported", "message_length", "method_call", "parse_message",
           "system_bus_address"]
