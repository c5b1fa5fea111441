"""``GetManagedObjects`` on ``/org/vnetd1`` (vnetd's own handler, kept between calls)
always says what each network's ``GetAll`` says, through every kind of change."""

from __future__ import annotations

from typing import Any

from tests.integration.busapi import MANAGER, NET_IFACE, Api, network_xml
from tests.integration.daemon_harness import Daemon
from tests.integration.netns import Topology

OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"


def _managed(api: Api, path: str = MANAGER) -> dict[str, Any]:
    result: dict[str, Any] = api.call(path, OBJECT_MANAGER, "GetManagedObjects")
    return result


def _get_all(api: Api, path: str) -> dict[str, Any]:
    result: dict[str, Any] = api.call(path, "org.freedesktop.DBus.Properties", "GetAll", "s",
                                      NET_IFACE)
    return result


def _assert_matches_get_all(api: Api, expected_names: set[str]) -> dict[str, Any]:
    objects = _managed(api)
    assert set(objects) == set(api.list()), "the listing and ListNetworks disagree"
    names = set()
    for path, interfaces in objects.items():
        assert set(interfaces) == {NET_IFACE}, interfaces
        assert interfaces[NET_IFACE] == _get_all(api, path), path
        names.add(interfaces[NET_IFACE]["Name"]["data"])
    assert names == expected_names
    # dbus-fast's generic handler, still answering on other paths, agrees.
    everything = _managed(api, "/")
    assert {p: i for p, i in everything.items() if p != MANAGER} == objects
    return objects


def _props(objects: dict[str, Any], path: str) -> dict[str, Any]:
    return {k: v["data"] for k, v in objects[path][NET_IFACE].items()}


def test_listing_follows_every_change(vnetd_daemon: Daemon, topology: Topology) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    assert _managed(api) == {}
    one = api.define(network_xml("mo1", 31, bridge="vmo1"))
    two = api.define(network_xml("mo2", 32))
    objects = _assert_matches_get_all(api, {"mo1", "mo2"})
    assert _props(objects, one)["Active"] is False
    # The same answer twice in a row (the kept body) is still the right one.
    assert _managed(api) == objects

    api.net(one, "Start")
    assert _props(_assert_matches_get_all(api, {"mo1", "mo2"}), one)["Active"] is True

    api.set_prop(two, "Autostart", "b", "true")
    assert _props(_assert_matches_get_all(api, {"mo1", "mo2"}), two)["Autostart"] is True

    # Redefined with another bridge and mode: same path, new values.
    api.define(network_xml("mo2", 32, mode="route", bridge="vmo2x"))
    props = _props(_assert_matches_get_all(api, {"mo1", "mo2"}), two)
    assert (props["BridgeName"], props["ForwardMode"]) == ("vmo2x", "route")

    api.net(one, "Destroy")
    assert _props(_assert_matches_get_all(api, {"mo1", "mo2"}), one)["Active"] is False

    three = api.create(network_xml("mo3", 33))
    props = _props(_assert_matches_get_all(api, {"mo1", "mo2", "mo3"}), three)
    assert (props["Active"], props["Persistent"]) == (True, False)

    api.net(two, "Undefine")
    api.net(three, "Destroy")  # transient: gone once stopped
    objects = _assert_matches_get_all(api, {"mo1"})
    assert set(objects) == {one}
