"""The safe parser: hostile documents are refused with InvalidArgument, never expanded."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vnetd.errors import InvalidArgument
from vnetd.netxml import parse_network
from vnetd.xmlsafe import MAX_BYTES, parse_xml

MINIMAL = "<network><name>n</name></network>"


def _only_invalid_argument(call: Callable[[], object]) -> None:
    """Any outcome but an exception other than InvalidArgument (with a message)."""
    try:
        result = call()
    except InvalidArgument as exc:
        assert str(exc).strip()
    else:
        assert result is not None

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<network><name>&lol4;</name></network>"""

XXE_FILE = """<?xml version="1.0"?>
<!DOCTYPE network [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<network><name>&xxe;</name></network>"""

XXE_NET = """<!DOCTYPE network SYSTEM "http://192.0.2.1/evil.dtd">
<network><name>x</name></network>"""

PARAMETER_ENTITY = """<!DOCTYPE n [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>
<network><name>x</name></network>"""


@pytest.mark.parametrize("doc", [BILLION_LAUGHS, XXE_FILE, XXE_NET, PARAMETER_ENTITY,
                                 BILLION_LAUGHS.lower()])
def test_dtd_documents_are_refused_before_parsing(doc: str) -> None:
    with pytest.raises(InvalidArgument, match="DOCTYPE"):
        parse_network(doc)


def test_undeclared_entity_is_refused_not_kept() -> None:
    with pytest.raises(InvalidArgument, match="not well-formed"):
        parse_network("<network><name>&passwd;</name></network>")


def test_predefined_entities_and_char_refs_still_work() -> None:
    assert parse_network("<network><name>a&amp;b&#x41;</name></network>").name == "a&bA"


def test_ten_megabyte_document_is_refused() -> None:
    big = "<network><name>n</name><description>" + "x" * (10 * 1024 * 1024) + \
        "</description></network>"
    with pytest.raises(InvalidArgument, match="too large"):
        parse_network(big)


def test_limit_is_one_mebibyte() -> None:
    assert MAX_BYTES == 1024 * 1024
    padded = "<network><name>n</name><description>" + "x" * (MAX_BYTES - 100) + \
        "</description></network>"
    assert len(parse_network(padded).description or "") == MAX_BYTES - 100


def test_deep_nesting_is_refused() -> None:
    deep = "<metadata>" + "<a:x xmlns:a='urn:a'>" * 200 + "</a:x>" * 200 + "</metadata>"
    with pytest.raises(InvalidArgument, match="nested too deeply"):
        parse_network(f"<network><name>n</name>{deep}</network>")


def test_invalid_utf8_bytes_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="not valid UTF-8"):
        parse_xml(b"<network><name>\xff\xfe</name></network>")


def test_lone_surrogate_in_text_is_refused() -> None:
    with pytest.raises(InvalidArgument):
        parse_network("<network><name>\ud800</name></network>")


def test_declared_foreign_encoding_is_ignored_for_text() -> None:
    doc = "<?xml version='1.0' encoding='ISO-8859-1'?><network><name>caf\u00e9</name></network>"
    assert parse_network(doc).name == "caf\u00e9"


@pytest.mark.parametrize("doc", ["", "   ", "not xml", "<network>", "<a/><b/>", "<?xml?>",
                                 "<network><name>n</name></network><!-- x --><extra/>"])
def test_malformed_text_is_invalid_argument(doc: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_network(doc)


def test_comments_are_dropped() -> None:
    assert parse_network("<network><!-- c --><name>n</name></network>").name == "n"


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_arbitrary_text_raises_only_invalid_argument(text: str) -> None:
    _only_invalid_argument(lambda: parse_network(text))


@settings(max_examples=300, deadline=None)
@given(st.binary())
def test_arbitrary_bytes_raise_only_invalid_argument(data: bytes) -> None:
    _only_invalid_argument(lambda: parse_xml(data))


XMLISH = st.recursive(
    st.sampled_from(["<name>n</name>", "<ip address='10.0.0.1' prefix='24'/>", "&amp;",
                     "<forward mode='nat'/>", "<dns enable='no'/>", "<bridge name='x'/>",
                     "<mac address='01:00:00:00:00:00'/>", "<uuid>zz</uuid>", "x"]),
    lambda inner: st.tuples(st.sampled_from(["network", "ip", "dhcp", "dns", "forward",
                                             "host", "range", "metadata"]),
                            st.lists(inner, max_size=4)).map(
        lambda t: f"<{t[0]}>{''.join(t[1])}</{t[0]}>"),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(XMLISH)
def test_xml_shaped_input_raises_only_invalid_argument(text: str) -> None:
    _only_invalid_argument(lambda: parse_network(text))
