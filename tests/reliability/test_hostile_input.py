"""Hostile input over D-Bus and through the CLI: every document is refused with a named
error that says what is wrong, the daemon stays up, and nothing changes on disk or in
the kernel. Odd-but-legal names are accepted and handled without any injection."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.busapi import network_xml
from tests.integration.daemon_harness import Daemon
from tests.integration.netns import REPO, Topology
from tests.reliability import summary
from tests.reliability.busclient import BusClient, Reply
from tests.reliability.state import kernel, tree
from tests.unit.netxml_strategies import definitions
from vnetd.netxml import format_network

INVALID = "org.vnetd1.Error.InvalidArgument"
CONFLICT = "org.vnetd1.Error.Conflict"
EXISTS = "org.vnetd1.Error.AlreadyExists"
NAMED_ERRORS = {INVALID, CONFLICT, EXISTS, "org.vnetd1.Error.NotSupported"}
BASE_UUID = "0b0b0b0b-1111-2222-3333-444444444444"
VNETCTL = str(REPO / ".venv" / "bin" / "vnetctl")


@dataclass
class Lab:
    daemon: Daemon
    topology: Topology
    client: BusClient

    def snapshot(self) -> tuple[dict[str, str], dict[str, Any]]:
        return tree(self.daemon), kernel(self.topology.host)

    def alive(self) -> None:
        assert self.daemon.process is not None and self.daemon.process.poll() is None, \
            self.daemon.log()[-3000:]
        reply = self.client.call(_list())
        assert reply.error is None, reply

    def assert_unchanged(self, before: tuple[dict[str, str], dict[str, Any]], what: str) -> None:
        after = self.snapshot()
        assert after[0] == before[0], f"{what}: files changed"
        assert after[1] == before[1], f"{what}: kernel state changed"


def _list() -> Any:
    from tests.reliability.busclient import manager_call

    return manager_call("ListNetworks", "u", [0])


@pytest.fixture
def lab(vnetd_daemon: Daemon, topology: Topology) -> Iterator[Lab]:
    """A daemon with one running network ("base", 10.77.1.0/24 on vbase) and one
    defined, inactive one ("idle", 10.77.2.0/24 on vidle)."""
    vnetd_daemon.start("--no-default-network")
    client = BusClient(vnetd_daemon.bus.address)
    reply = client.define(network_xml("base", 1, bridge="vbase", uuid=BASE_UUID))
    assert reply.error is None, reply
    assert client.net(str(reply.body[0]), "Start").error is None
    assert client.define(network_xml("idle", 2, bridge="vidle")).error is None
    try:
        yield Lab(vnetd_daemon, topology, client)
    finally:
        client.close()


def net(name: str = "h", *, subnet: int = 50, bridge: str | None = "vh", body: str = "",
        ip: str | None = None, dhcp: str | None = None, mode: str = "nat") -> str:
    """A network document with one part swapped for a hostile one."""
    if ip is None:
        ranges = dhcp if dhcp is not None else \
            f"<range start='10.77.{subnet}.10' end='10.77.{subnet}.20'/>"
        ip = (f"<ip address='10.77.{subnet}.1' netmask='255.255.255.0'><dhcp>{ranges}</dhcp>"
              "</ip>")
    br = f"<bridge name='{bridge}'/>" if bridge is not None else ""
    return (f"<network><name>{name}</name><forward mode='{mode}'/>{br}{body}{ip}</network>")


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<network><name>&lol4;</name></network>"""
XXE = """<?xml version="1.0"?>
<!DOCTYPE network [<!ENTITY xxe SYSTEM "file:///etc/shadow">]>
<network><name>&xxe;</name></network>"""
DEEP = ("<network><name>deep</name><metadata>" + "<a:x xmlns:a='urn:a'>" * 5000
        + "</a:x>" * 5000 + "</metadata></network>")
DEEP_100 = ("<network><name>deep</name><metadata>" + "<a:x xmlns:a='urn:a'>" * 100
            + "</a:x>" * 100 + "</metadata></network>")
HUGE = net(body="<description>" + "A" * (10 * 1024 * 1024) + "</description>")
DNS_HOST = "<dns><host ip='10.77.50.5'><hostname>{}</hostname></host></dns>"
TXT = "<dns><txt name='{}' value='{}'/></dns>"
OPTIONS = ("<dnsmasq:options xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>"
           "<dnsmasq:option value='{}'/></dnsmasq:options>")
DHCP_HOST = "<range start='10.77.50.10' end='10.77.50.20'/><host mac='{}' ip='10.77.50.30'/>"

# (id, method, document, error name, words the message must contain)
CASES: list[tuple[str, str, str, str, tuple[str, ...]]] = [
    ("billion-laughs", "DefineXML", BILLION_LAUGHS, INVALID, ("DOCTYPE",)),
    ("xxe", "DefineXML", XXE, INVALID, ("DOCTYPE",)),
    ("xxe-create", "CreateXML", XXE, INVALID, ("DOCTYPE",)),
    ("10MB", "DefineXML", HUGE, INVALID, ("too large",)),
    ("deep-nesting", "DefineXML", DEEP_100, INVALID, ("nested too deeply",)),
    ("deeper-than-libxml2", "DefineXML", DEEP, INVALID, ("depth",)),
    ("not-xml", "DefineXML", "<network><name>x</name>", INVALID, ("well-formed",)),
    ("empty", "DefineXML", "", INVALID, ()),
    ("wrong-root", "DefineXML", "<domain><name>x</name></domain>", INVALID, ("network",)),
    ("name-slash", "DefineXML", net("a/b"), INVALID, ("name", "'/'")),
    ("name-dotdot", "DefineXML", net(".."), INVALID, ("name", "'.'")),
    ("name-dotdot-path", "DefineXML", net("../../etc/passwd"), INVALID, ("name",)),
    ("name-newline", "DefineXML", net("a\nb"), INVALID, ("name", "control")),
    ("name-300", "DefineXML", net("n" * 300), INVALID, ("name", "longer")),
    ("name-empty", "DefineXML", net(""), INVALID, ("name",)),
    ("bridge-lo", "DefineXML", net(bridge="lo"), INVALID, ("bridge", "lo")),
    ("bridge-too-long", "DefineXML", net(bridge="b" * 16), INVALID, ("bridge",)),
    ("bridge-slash", "DefineXML", net(bridge="a/b"), INVALID, ("bridge",)),
    ("bridge-space", "DefineXML", net(bridge="a b"), INVALID, ("bridge",)),
    ("bridge-host-interface", "CreateXML", net(bridge="up0"), CONFLICT, ("up0",)),
    ("bridge-of-running", "DefineXML", net(bridge="vbase"), CONFLICT, ("vbase", "base")),
    ("bridge-of-defined", "DefineXML", net(bridge="vidle"), CONFLICT, ("vidle", "idle")),
    ("dhcp-outside", "DefineXML",
     net(dhcp="<range start='10.99.0.10' end='10.99.0.20'/>"), INVALID, ("range",)),
    ("dhcp-reversed", "DefineXML",
     net(dhcp="<range start='10.77.50.200' end='10.77.50.10'/>"), INVALID, ("range",)),
    ("dhcp-network-address", "DefineXML",
     net(dhcp="<range start='10.77.50.0' end='10.77.50.10'/>"), INVALID, ("network address",)),
    ("dhcp-broadcast", "DefineXML",
     net(dhcp="<range start='10.77.50.10' end='10.77.50.255'/>"), INVALID, ("broadcast",)),
    ("dns-host-newline", "DefineXML", net(body=DNS_HOST.format("a&#10;server=192.0.2.1")),
     INVALID, ("hostname",)),
    ("dns-host-comma", "DefineXML", net(body=DNS_HOST.format("a,b")), INVALID, ("hostname",)),
    ("dns-host-space", "DefineXML", net(body=DNS_HOST.format("a b")), INVALID, ("hostname",)),
    ("txt-value-newline", "DefineXML",
     net(body=TXT.format("t", "v&#10;dhcp-script=/bin/sh")), INVALID, ("txt",)),
    ("txt-value-cr", "DefineXML", net(body=TXT.format("t", "v&#13;x")), INVALID, ("txt",)),
    ("txt-name-comma", "DefineXML", net(body=TXT.format("a,b", "v")), INVALID, ("txt",)),
    ("dnsmasq-option-newline", "DefineXML",
     net(body=OPTIONS.format("log-queries&#10;dhcp-script=/bin/sh")), INVALID, ("option",)),
    ("domain-newline", "DefineXML", net(body="<domain name='a&#10;server=1.1.1.1'/>"),
     INVALID, ("domain",)),
    ("mac-malformed", "DefineXML", net(body="<mac address='zz:zz:zz'/>"), INVALID, ("mac",)),
    ("mac-multicast", "DefineXML", net(body="<mac address='01:00:5e:00:00:01'/>"),
     INVALID, ("mac",)),
    ("dhcp-host-mac", "DefineXML", net(dhcp=DHCP_HOST.format("52:54:00:zz:00:01")),
     INVALID, ("mac",)),
    ("dhcp-host-mac-comma", "DefineXML", net(dhcp=DHCP_HOST.format("52:54:00:00:00:01,x")),
     INVALID, ("mac",)),
    ("prefix-33", "DefineXML", net(ip="<ip address='10.77.50.1' prefix='33'/>"),
     INVALID, ("prefix",)),
    ("prefix-negative", "DefineXML", net(ip="<ip address='10.77.50.1' prefix='-1'/>"),
     INVALID, ("prefix",)),
    ("prefix-text", "DefineXML", net(ip="<ip address='10.77.50.1' prefix='x'/>"),
     INVALID, ("prefix",)),
    ("netmask-holes", "DefineXML", net(ip="<ip address='10.77.50.1' netmask='255.0.255.0'/>"),
     INVALID, ("netmask",)),
    ("address-garbage", "DefineXML", net(ip="<ip address='10.77.50.1;id' prefix='24'/>"),
     INVALID, ("address",)),
    ("overlap-running", "CreateXML", net("ovc", subnet=1, bridge="vover"), CONFLICT,
     ("10.77.1",)),
    ("duplicate-uuid", "DefineXML", network_xml("dup", 51, bridge="vdup", uuid=BASE_UUID),
     EXISTS, (BASE_UUID,)),
    ("uuid-of-other-on-redefine", "DefineXML",
     network_xml("idle", 2, bridge="vidle", uuid=BASE_UUID), EXISTS, ("uuid",)),
    ("create-existing-name", "CreateXML", network_xml("base", 60, bridge="vnew"), EXISTS,
     ("base",)),
    ("uuid-garbage", "DefineXML", net(body="<uuid>not-a-uuid;rm</uuid>"), INVALID, ("uuid",)),
]


def _check_refused(lab: Lab, reply: Reply, error: str, words: tuple[str, ...],
                   what: str) -> None:
    assert reply.error == error, f"{what}: got {reply.error} {reply.message!r}"
    message = reply.message
    assert message.strip() and "Traceback" not in message, f"{what}: {message!r}"
    for word in words:
        assert word.lower() in message.lower(), f"{what}: {word!r} not in {message!r}"


def test_hostile_documents_are_refused_and_change_nothing(lab: Lab) -> None:
    before = lab.snapshot()
    failures = []
    for case_id, method, document, error, words in CASES:
        summary.add("hostile_tried")
        reply = lab.client.create(document) if method == "CreateXML" else \
            lab.client.define(document)
        try:
            _check_refused(lab, reply, error, words, case_id)
            lab.alive()
            lab.assert_unchanged(before, case_id)
        except AssertionError as exc:
            failures.append(str(exc))
            before = lab.snapshot()  # report each case on its own
            continue
        summary.add("hostile_refused")
    assert not failures, "\n".join(failures)
    assert "Traceback" not in lab.daemon.log()


def test_overlap_with_running_is_refused_at_start(lab: Lab) -> None:
    """libvirt defines an overlapping network but refuses to start it."""
    reply = lab.client.define(net("ovl", subnet=1, bridge="vovl"))
    assert reply.error is None, reply
    before = lab.snapshot()
    summary.add("hostile_tried")
    start = lab.client.net(str(reply.body[0]), "Start")
    _check_refused(lab, start, CONFLICT, ("10.77.1",), "start overlapping")
    lab.alive()
    lab.assert_unchanged(before, "start overlapping")
    summary.add("hostile_refused")


def test_hostile_update_and_lookups(lab: Lab) -> None:
    path = "/org/vnetd1/network/base"
    before = lab.snapshot()
    updates = [  # (section, xml): dns-host and dhcp-host, with injection attempts
        (10, "<host ip='10.77.1.9'><hostname>a&#10;server=192.0.2.1</hostname></host>"),
        (4, "<host mac='52:54:00:00:00:0g' ip='10.77.1.9'/>"),
        (4, "<host mac='52:54:00:00:00:01' name='x,y' ip='10.77.1.9'/>"),
        (11, "<txt name='a' value='b&#10;c'/>"),
        (4, BILLION_LAUGHS),
    ]
    for section, xml in updates:
        summary.add("hostile_tried")
        reply = lab.client.net(path, "Update", "uuisu", [3, section, -1, xml, 1])
        _check_refused(lab, reply, INVALID, (), f"update section {section}")
        lab.alive()
        lab.assert_unchanged(before, f"update section {section}")
        summary.add("hostile_refused")
    for name in ("../base", "base\n", "x" * 10000, ""):
        summary.add("hostile_tried")
        from tests.reliability.busclient import manager_call

        reply = lab.client.call(manager_call("LookupByName", "s", [name]))
        assert reply.error == "org.vnetd1.Error.NotFound", reply
        summary.add("hostile_refused")
    lab.assert_unchanged(before, "lookups")


PWNED = "vnetd-pwned"
ODD_NAMES = [  # (name, words of the start refusal, or None when it must start)
    (f"x;$(touch {PWNED})`touch {PWNED}`", None),
    ("a b|c&d>e<f*?", None),
    ("caf\u00e9-\u2603", None),
    ("-rf --help", None),
    ("n" * 200, None),
    # dnsmasq would unquote the file names in its conf: refused at start, cleanly.
    ("q'\"x", ("cannot be written in a dnsmasq conf",)),
]


def _pwned(lab: Lab) -> list[Path]:
    return [p for top in (Path.cwd(), lab.daemon.root, Path("/tmp"))
            for p in top.glob(f"**/{PWNED}" if top == lab.daemon.root else PWNED)]


@pytest.mark.parametrize(("name", "refusal"), ODD_NAMES, ids=[f"name{i}" for i in
                                                              range(len(ODD_NAMES))])
def test_odd_legal_names_work_without_injection(lab: Lab, name: str,
                                                refusal: tuple[str, ...] | None) -> None:
    """Names libvirt accepts are defined, started and removed without reaching a shell or
    splitting a config line; one dnsmasq cannot quote is refused at start, changing nothing."""
    from xml.sax.saxutils import escape

    before = lab.snapshot()
    summary.add("hostile_tried")
    reply = lab.client.define(net(escape(name), subnet=52, bridge="vodd"))
    assert reply.error is None, reply
    path = str(reply.body[0])
    defined = lab.snapshot()
    started = lab.client.net(path, "Start")
    if refusal is None:
        assert started.error is None, started
        assert (lab.daemon.state_dir / "dnsmasq" / f"{name}.pid").exists()
        assert lab.client.net(path, "Destroy").error is None
    else:
        _check_refused(lab, started, INVALID, refusal, f"start {name!r}")
        assert lab.snapshot()[1] == defined[1], "a refused start changed the kernel"
    assert lab.client.net(path, "Undefine").error is None
    assert not _pwned(lab), "a name reached a shell"
    lab.alive()
    after = lab.snapshot()
    # dnsmasq's own log and lease file stay behind (like libvirt's); nothing else.
    extra = {k for k in set(after[0]) - set(before[0])
             if not k.endswith((".log", ".leases", ".status"))}
    assert not extra, extra
    assert after[1] == before[1]
    summary.add("hostile_accepted_safely")


def test_cli_refuses_invalid_utf8_file(lab: Lab, tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"<network><name>caf\xe9\xff</name></network>")
    before = lab.snapshot()
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": lab.daemon.bus.address}
    summary.add("hostile_tried", 2)
    proc = subprocess.run([VNETCTL, "net-define", str(bad)], capture_output=True, text=True,
                          env=env, timeout=30, check=False)
    assert proc.returncode != 0
    assert "UTF-8" in proc.stderr or "utf-8" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    huge = tmp_path / "huge.xml"
    huge.write_text(HUGE)
    proc = subprocess.run([VNETCTL, "net-define", str(huge)], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert proc.returncode != 0 and "too large" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    lab.alive()
    lab.assert_unchanged(before, "cli")
    summary.add("hostile_refused", 2)


# -- fuzzing DefineXML over the bus ---------------------------------------------------

HOSTILE_TEXT = st.sampled_from(["\n", "\r", ",", "'", '"', "<", "&amp;", "&#10;", "&#0;",
                                "/", "..", " ", "#", ";", "$(id)", "\u2603", "\ufeff",
                                "\x7f", "%", "255", "-1", "::", "99999999999"])
# What a D-Bus string can carry: UTF-8 without NUL (surrogates do not encode).
BUS_TEXT = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
TEMPLATE = net("fz", subnet=53, bridge="vfz",
               body=("<domain name='fz.test'/><dns><txt name='t' value='v'/>"
                     "<host ip='10.77.53.5'><hostname>h</hostname></host></dns>"
                     "<mac address='52:54:00:12:34:56'/>"))


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = TEMPLATE
    for _ in range(draw(st.integers(0, 3))):
        position = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            token = draw(st.one_of(HOSTILE_TEXT, st.sampled_from(["a", "1", "0", "-", "."])))
            text = text[:position] + token + text[position:]
        else:
            end = min(len(text), position + draw(st.integers(1, 6)))
            text = text[:position] + text[end:]
    return text


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(document=st.one_of(mutated(), st.text(BUS_TEXT, max_size=200),
                          definitions().map(format_network)))
def test_fuzz_define_xml(lab: Lab, document: str) -> None:
    before = lab.snapshot()
    summary.add("hostile_tried")
    reply = lab.client.define(document)
    lab.alive()
    if reply.error is None:
        # A mutation can stay valid: it must then be a real, removable definition.
        path = str(reply.body[0])
        assert lab.client.net(path, "Undefine").error is None
        lab.assert_unchanged(before, f"defined and undefined {document!r}")
        summary.add("hostile_accepted_safely")
        return
    assert reply.error in NAMED_ERRORS, (reply, document)
    assert reply.message.strip() and "Traceback" not in reply.message
    lab.assert_unchanged(before, repr(document))
    summary.add("hostile_refused")
