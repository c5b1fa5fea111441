"""Safe XML parsing for everything that reaches the daemon from outside.

Network XML arrives from D-Bus callers, i.e. from other users. lxml is configured
so that a document can never make the parser fetch anything, expand entities or
grow without bound: no DTD at all (a DOCTYPE is refused outright, which also kills
billion-laughs and XXE documents before any expansion), no network, libxml2's
own huge-tree protections left on, plus our own size and depth limits. Every
failure is an ``InvalidArgument``; nothing else escapes on arbitrary input.
"""

from __future__ import annotations

import re

from lxml import etree

from vnetd.errors import InvalidArgument

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32

# A DOCTYPE (internal subset or not) is the only way to declare entities; refusing
# it before lxml sees the text means no entity is ever expanded or fetched.
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
        # The caller's declared encoding is ignored: we always hand over UTF-8.
        encoding="utf-8",
    )


def _to_utf8(text: str | bytes, what: str) -> bytes:
    if isinstance(text, bytes):
        try:
            text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidArgument(f"{what} is not valid UTF-8 (byte {exc.start})") from None
        return text
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidArgument(
            f"{what} contains a character that cannot be encoded (position {exc.start})"
        ) from None


def parse_xml(
    text: str | bytes,
    *,
    what: str = "XML document",
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
) -> etree._Element:
    """Parse one XML document safely and return its root element.

    Raises ``InvalidArgument`` for oversized, too deeply nested, DTD-carrying or
    malformed documents.
    """
    data = _to_utf8(text, what)
    if len(data) > max_bytes:
        raise InvalidArgument(f"{what} is too large ({len(data)} bytes, limit {max_bytes})")
    if _DOCTYPE.search(data) or _ENTITY.search(data):
        raise InvalidArgument(f"{what} must not contain a DOCTYPE or entity declarations")
    if not data.strip():
        raise InvalidArgument(f"{what} is empty")
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        line = f" at line {exc.lineno}" if exc.lineno else ""
        raise InvalidArgument(f"{what} is not well-formed XML{line}: {exc.msg}") from None
    except (ValueError, TypeError, LookupError) as exc:
        raise InvalidArgument(f"{what} could not be parsed: {exc}") from None
    if root is None:
        raise InvalidArgument(f"{what} has no root element")
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.system_url or docinfo.public_id:
        raise InvalidArgument(f"{what} must not contain a DOCTYPE")
    _check_depth(root, max_depth, what)
    for node in root.iter():
        if isinstance(node, etree._Entity):
            raise InvalidArgument(f"{what} must not contain entity references")
    return root


def _check_depth(root: etree._Element, max_depth: int, what: str) -> None:
    stack: list[tuple[etree._Element, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise InvalidArgument(
                f"{what} is nested too deeply (more than {max_depth} levels"
                f" at line {node.sourceline})"
            )
        stack.extend((child, depth + 1) for child in node)
