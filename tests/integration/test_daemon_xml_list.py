"""GetXMLDesc answers from a per-network cache and ListNetworks filters with plain ints:
both must answer exactly what the network is at every step of its life."""

from __future__ import annotations

import itertools

from tests.integration.busapi import Api, network_xml
from tests.integration.daemon_harness import Daemon
from tests.integration.netns import Topology

ACTIVE, INACTIVE, PERSISTENT, TRANSIENT, AUTOSTART, NO_AUTOSTART = 1, 2, 4, 8, 16, 32
DOMAIN = "<domain name='{}'/>"


def test_xml_follows_every_change_of_the_definition(vnetd_daemon: Daemon,
                                                    topology: Topology) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    path = api.define(network_xml("cx", 31, bridge="vcx0", extra=DOMAIN.format("one")))
    first = api.xml(path)
    assert "<domain name='one'/>" in first and api.xml(path) == first == api.xml(path, 1)

    # Redefined while inactive: both views change at once.
    api.define(network_xml("cx", 31, bridge="vcx0", extra=DOMAIN.format("two")))
    assert "<domain name='two'/>" in api.xml(path)
    assert "<domain name='two'/>" in api.xml(path, 1)

    # Redefined while running: the live view keeps what runs, the inactive one is new;
    # asked in turns, neither answer leaks into the other.
    api.net(path, "Start")
    api.define(network_xml("cx", 31, bridge="vcx0", extra=DOMAIN.format("three")))
    for _ in range(3):
        assert "<domain name='two'/>" in api.xml(path)
        assert "<domain name='three'/>" in api.xml(path, 1)

    # A live update changes the running definition (dns-host, section 10, live only).
    host = "<host ip='10.77.31.50'><hostname>cached</hostname></host>"
    api.net(path, "Update", "uuisu", "3", "10", "-1", host, "1")
    assert "<hostname>cached</hostname>" in api.xml(path)
    assert "<hostname>cached</hostname>" not in api.xml(path, 1)

    # Stopping applies the pending definition.
    api.net(path, "Destroy")
    assert "<domain name='three'/>" in api.xml(path)
    assert "<hostname>cached</hostname>" not in api.xml(path)

    # A network defined again under the same name after an undefine is a new object.
    api.net(path, "Undefine")
    path = api.define(network_xml("cx", 31, bridge="vcx0", extra=DOMAIN.format("four")))
    assert "<domain name='four'/>" in api.xml(path)


def test_list_flags_select_exactly_as_libvirt(vnetd_daemon: Daemon,
                                              topology: Topology) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    # (active, persistent, autostart) for each network
    facts: dict[str, tuple[bool, bool, bool]] = {}
    idle = api.define(network_xml("lf-idle", 41, bridge="vlf1"))
    facts[idle] = (False, True, False)
    auto = api.define(network_xml("lf-auto", 42, bridge="vlf2"))
    api.set_prop(auto, "Autostart", "b", "true")
    facts[auto] = (False, True, True)
    run = api.define(network_xml("lf-run", 43, bridge="vlf3"))
    api.net(run, "Start")
    facts[run] = (True, True, False)
    temp = api.create(network_xml("lf-temp", 44, bridge="vlf4"))
    facts[temp] = (True, False, False)

    def expected(flags: int) -> list[str]:
        chosen = []
        for path, (active, persistent, autostart) in facts.items():
            ok = True
            for yes, no, value in ((ACTIVE, INACTIVE, active),
                                   (PERSISTENT, TRANSIENT, persistent),
                                   (AUTOSTART, NO_AUTOSTART, autostart)):
                if flags & (yes | no):
                    ok = ok and bool((flags & yes and value) or (flags & no and not value))
            if ok:
                chosen.append(path)
        return sorted(chosen)  # names and paths sort alike here (no escaping)

    for bits in itertools.product((0, 1), repeat=6):
        flags = sum(bit << i for i, bit in enumerate(bits))
        assert api.list(flags) == expected(flags), flags
    assert api.list(0) == sorted(facts)  # unknown bits ignored, as libvirt's
    assert api.list(64 | ACTIVE) == sorted([run, temp])
