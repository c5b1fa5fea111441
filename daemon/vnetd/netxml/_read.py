"""Attribute readers shared by the parsers: every failure names element, attribute and line."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection

from lxml import etree

from vnetd.errors import InvalidArgument

_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
# Live XML from libvirt carries these read-only counters; they are accepted and dropped.
IGNORED_ATTRIBUTES = frozenset({"connections"})


def tag(elem: etree._Element) -> str:
    return etree.QName(elem).localname


def at(elem: etree._Element) -> str:
    line = elem.sourceline
    return f" (line {line})" if line else ""


def fail(elem: etree._Element, reason: str) -> InvalidArgument:
    return InvalidArgument(f"<{tag(elem)}>{at(elem)}: {reason}")


def check_attributes(elem: etree._Element, allowed: Collection[str]) -> None:
    for name in elem.attrib:
        key = str(name)
        if key not in allowed and key not in IGNORED_ATTRIBUTES:
            raise fail(elem, f"unknown attribute {key!r}")


def children(elem: etree._Element, allowed: Collection[str]) -> list[etree._Element]:
    """Element children (comments are already gone); refuse unknown ones and stray text."""
    if elem.text and elem.text.strip():
        raise fail(elem, f"unexpected text {elem.text.strip()[:40]!r}")
    result: list[etree._Element] = []
    for child in elem:
        if child.tail and child.tail.strip():
            raise fail(elem, f"unexpected text {child.tail.strip()[:40]!r}")
        if not isinstance(child.tag, str):
            continue
        if etree.QName(child).namespace is not None or tag(child) not in allowed:
            raise fail(child, f"unknown element inside <{tag(elem)}>")
        result.append(child)
    return result


def only_one(elems: list[etree._Element], name: str) -> etree._Element | None:
    found = [e for e in elems if tag(e) == name]
    if len(found) > 1:
        raise fail(found[1], "may appear only once here")
    return found[0] if found else None


def all_of(elems: list[etree._Element], name: str) -> list[etree._Element]:
    return [e for e in elems if tag(e) == name]


def text_of(elem: etree._Element) -> str:
    if len(elem):
        raise fail(elem, "must hold text only")
    return elem.text or ""


def opt(elem: etree._Element, name: str) -> str | None:
    value = elem.get(name)
    return None if value is None else str(value)


def req(elem: etree._Element, name: str) -> str:
    value = elem.get(name)
    if value is None:
        raise fail(elem, f"missing required attribute {name!r}")
    return str(value)


def yes_no(elem: etree._Element, name: str) -> bool | None:
    value = opt(elem, name)
    if value is None:
        return None
    if value == "yes":
        return True
    if value == "no":
        return False
    raise fail(elem, f"attribute {name!r} must be 'yes' or 'no', not {value!r}")


def on_off(elem: etree._Element, name: str) -> bool | None:
    value = opt(elem, name)
    if value is None:
        return None
    if value == "on":
        return True
    if value == "off":
        return False
    raise fail(elem, f"attribute {name!r} must be 'on' or 'off', not {value!r}")


def uint(elem: etree._Element, name: str, low: int = 0, high: int = 2**32 - 1) -> int | None:
    value = opt(elem, name)
    if value is None:
        return None
    text = value.strip()
    if not text.isascii() or not text.isdigit():
        raise fail(elem, f"attribute {name!r} must be a non-negative integer, not {value!r}")
    number = int(text)
    if not low <= number <= high:
        raise fail(elem, f"attribute {name!r} must be between {low} and {high}, not {number}")
    return number


def choice(elem: etree._Element, name: str, values: Collection[str]) -> str | None:
    value = opt(elem, name)
    if value is not None and value not in values:
        allowed = ", ".join(repr(v) for v in sorted(values))
        raise fail(elem, f"attribute {name!r} must be one of {allowed}, not {value!r}")
    return value


def ip_text(elem: etree._Element, name: str, value: str, version: int | None = None) -> str:
    """Validate an IP address and return libvirt's canonical text for it."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise fail(elem, f"attribute {name!r}: {value!r} is not an IP address") from None
    if version is not None and address.version != version:
        raise fail(elem, f"attribute {name!r}: {value!r} is not an IPv{version} address")
    return str(address)


def opt_ip(elem: etree._Element, name: str, version: int | None = None) -> str | None:
    value = opt(elem, name)
    return None if value is None else ip_text(elem, name, value, version)


def req_ip(elem: etree._Element, name: str, version: int | None = None) -> str:
    return ip_text(elem, name, req(elem, name), version)


def opt_mac(elem: etree._Element, name: str) -> str | None:
    value = opt(elem, name)
    if value is None:
        return None
    if not _MAC.match(value):
        raise fail(elem, f"attribute {name!r}: {value!r} is not a MAC address (xx:xx:xx:xx:xx:xx)")
    return value.lower()
