"""Verbatim fragments: hardware-only elements and ``<metadata>``.

Hardware elements (``<virtualport>``, ``<vlan>``, ``<portgroup>``, ``<pf>``,
``<address>``, ``<driver>``) are attribute-only trees; they are stored in
libvirt's own output style (single quotes, two-space indentation, no text) so
that formatting is a matter of indenting the stored lines. ``<metadata>`` is
application XML and libvirt dumps it with libxml2 (double quotes), so it is kept
in lxml's serialization, re-indented when written.
"""

from __future__ import annotations

import copy as _copy

from lxml import etree

from vnetd.model import RawElement
from vnetd.netxml._read import fail, tag
from vnetd.netxml.escape import quote_single_strict

# libvirt's order for the children it formats itself.
_PORTGROUP_ORDER = {"vlan": 0, "virtualport": 1, "bandwidth": 2}


def _quote(value: str) -> str:
    return quote_single_strict(value)


def _str(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("utf-8")


def _lines(elem: etree._Element, level: int) -> list[str]:
    if etree.QName(elem).namespace is not None:
        raise fail(elem, "namespaced elements are not allowed here")
    if elem.text and elem.text.strip():
        raise fail(elem, "unexpected text inside a device element")
    pad = "  " * level
    attrs = "".join(f" {_str(name)}={_quote(_str(value))}" for name, value in elem.attrib.items())
    kids = [child for child in elem if isinstance(child.tag, str)]
    for child in elem:
        if child.tail and child.tail.strip():
            raise fail(elem, "unexpected text inside a device element")
    if tag(elem) == "portgroup":
        kids.sort(key=lambda child: _PORTGROUP_ORDER.get(tag(child), 3))
    if not kids and tag(elem) != "portgroup":
        return [f"{pad}<{tag(elem)}{attrs}/>"]
    out = [f"{pad}<{tag(elem)}{attrs}>"]
    for child in kids:
        out.extend(_lines(child, level + 1))
    out.append(f"{pad}</{tag(elem)}>")
    return out


def device_element(elem: etree._Element) -> RawElement:
    """Canonical form of an attribute-only hardware element."""
    return RawElement("\n".join(_lines(elem, 0)))


def metadata_element(elem: etree._Element) -> RawElement | None:
    """Canonical ``<metadata>``: blank text dropped, one child per line, lxml quoting."""
    copy = _copy.deepcopy(elem)
    for node in copy.iter():
        if node.text is not None and not node.text.strip() and len(node):
            node.text = None
        if node is not copy and node.tail is not None and not node.tail.strip():
            node.tail = None
    if len(copy) == 0 and not (copy.text and copy.text.strip()):
        return None
    copy.tail = None
    etree.indent(copy, space="  ")
    return RawElement(etree.tostring(copy, encoding="unicode"))


def indent_raw(raw: RawElement, level: int) -> list[str]:
    pad = "  " * level
    return [pad + line for line in raw.xml.split("\n")]


def indent_metadata(raw: RawElement, level: int) -> str:
    """Re-indent stored metadata; only whitespace between elements changes, never text."""
    from vnetd.xmlsafe import parse_xml

    root = parse_xml(raw.xml, what="<metadata>")
    etree.indent(root, space="  ", level=level)
    return "  " * level + etree.tostring(root, encoding="unicode")
