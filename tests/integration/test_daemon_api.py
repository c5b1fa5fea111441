"""The D-Bus API of a real vnetd, driven with busctl on a bus that enforces the shipped policy."""

from __future__ import annotations

import json
import re

from tests.integration.busapi import MANAGER, MGR_IFACE, NET_IFACE, Api, SignalRecorder, network_xml
from tests.integration.daemon_harness import Daemon
from tests.integration.netns import Topology


def test_introspection_documents_every_member(vnetd_daemon: Daemon) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    out = vnetd_daemon.busctl("introspect", "--xml-interface", "org.vnetd1", MANAGER).stdout
    for member in ("DefineXML", "CreateXML", "ListNetworks", "LookupByName", "LookupByUUID",
                   "NetworkEvent", "Version", "org.freedesktop.DBus.ObjectManager"):
        assert member in out, member
    path = api.define(network_xml("intro", 1))
    out = vnetd_daemon.busctl("introspect", "--xml-interface", "org.vnetd1", path).stdout
    for member in ("Start", "Destroy", "Undefine", "GetXMLDesc", "Name", "UUID", "Active",
                   "Persistent", "Autostart", "BridgeName", "ForwardMode"):
        assert f'name="{member}"' in out, member
    assert re.search(r'<property name="Autostart" type="b" access="readwrite"', out)
    version = vnetd_daemon.busctl("--json=short", "get-property", "org.vnetd1", MANAGER,
                                  MGR_IFACE, "Version").stdout
    assert json.loads(version)["data"]


def test_define_start_destroy_undefine_with_properties(vnetd_daemon: Daemon,
                                                       topology: Topology) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    path = api.define(network_xml("web", 2, bridge="vweb0"))
    assert path == "/org/vnetd1/network/web"
    assert api.lookup("web") == path
    uuid = api.prop(path, "UUID")
    assert re.fullmatch(r"[0-9a-f-]{36}", uuid)
    assert api.call(MANAGER, MGR_IFACE, "LookupByUUID", "s", uuid) == path
    assert (api.prop(path, "Name"), api.prop(path, "Active"), api.prop(path, "Persistent"),
            api.prop(path, "Autostart"), api.prop(path, "BridgeName"),
            api.prop(path, "ForwardMode")) == ("web", False, True, False, "vweb0", "nat")
    api.net(path, "Start")
    assert api.prop(path, "Active") is True
    links = topology.host.ip_json("addr", "show", "vweb0")
    assert isinstance(links, list) and links
    assert any(a["local"] == "10.77.2.1" for a in links[0]["addr_info"])
    assert "<name>web</name>" in api.xml(path)
    assert api.list(1) == [path] and api.list(2) == []
    api.net(path, "Destroy")
    assert api.prop(path, "Active") is False
    assert topology.host.run("ip", "link", "show", "vweb0", check=False).returncode != 0
    api.net(path, "Undefine")
    err = api.error(MANAGER, MGR_IFACE, "LookupByName", "s", "web")
    assert "no network with matching name 'web'" in err


def test_every_error_name(vnetd_daemon: Daemon, topology: Topology) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    bad = api.daemon.busctl("call", "org.vnetd1", MANAGER, MGR_IFACE, "DefineXML", "s",
                            "<network><name>x</name><bogus/></network>", check=False)
    assert bad.returncode != 0
    proc = api.daemon.busctl("--json=short", "call", "org.vnetd1", MANAGER, MGR_IFACE,
                             "DefineXML", "s", "<network>", check=False)
    assert proc.returncode != 0 and proc.stderr.strip()
    # busctl prints only the message; the error name is checked with a raw dbus-fast call.
    names = _error_names(vnetd_daemon, [
        ("DefineXML", "<network><name>a/b</name></network>"),          # InvalidArgument
        ("LookupByName", "nosuch"),                                     # NotFound
    ])
    assert names == ["org.vnetd1.Error.InvalidArgument", "org.vnetd1.Error.NotFound"]
    uuid = "11111111-2222-3333-4444-555555555555"
    path = api.define(network_xml("e1", 3, bridge="ve1", uuid=uuid))
    api.net(path, "Start")
    names = _error_names(vnetd_daemon, [
        ("DefineXML", network_xml("e2", 4, uuid=uuid)),
        ("DefineXML", network_xml("e3", 5, bridge="ve1")),              # Conflict
    ])
    assert names == ["org.vnetd1.Error.AlreadyExists", "org.vnetd1.Error.Conflict"]
    started_twice = _error_names(vnetd_daemon, [("Start", path)])
    assert started_twice == ["org.vnetd1.Error.InvalidState"]
    # Overlapping subnet with a running network: refused before anything is touched.
    other = api.define(network_xml("e4", 3, bridge="ve4"))
    assert _error_names(vnetd_daemon, [("Start", other)]) == ["org.vnetd1.Error.Conflict"]
    assert topology.host.run("ip", "link", "show", "ve4", check=False).returncode != 0
    # A failure the kernel reports: a bridge name the kernel refuses at start is Failed
    # or caught earlier as InvalidArgument; both are named errors, never a traceback.
    assert "Traceback" not in vnetd_daemon.log()


def _error_names(daemon: Daemon, calls: list[tuple[str, str]]) -> list[str]:
    import asyncio

    from dbus_fast import Message, MessageType
    from dbus_fast.aio import MessageBus

    async def run() -> list[str]:
        bus = await MessageBus(bus_address=daemon.bus.address).connect()
        names = []
        for member, arg in calls:
            if member == "Start":
                msg = Message(destination="org.vnetd1", path=arg, interface=NET_IFACE,
                              member="Start")
            else:
                msg = Message(destination="org.vnetd1", path=MANAGER, interface=MGR_IFACE,
                              member=member, signature="s", body=[arg])
            reply = await bus.call(msg)
            assert reply is not None
            assert reply.message_type == MessageType.ERROR, (member, reply.body)
            names.append(reply.error_name or "")
            assert "Traceback" not in str(reply.body)
        bus.disconnect()
        return names

    return asyncio.run(run())


def test_signals_network_event_and_properties_changed(vnetd_daemon: Daemon) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    recorder = SignalRecorder(vnetd_daemon.bus.address).start()
    try:
        path = api.define(network_xml("sig", 6))
        api.net(path, "Start")
        api.set_prop(path, "Autostart", "b", "true")
        api.net(path, "Destroy")
        api.net(path, "Undefine")
        recorder.wait_for(lambda s: sum(1 for x in s if x[2] == "NetworkEvent") >= 4)
        events = [(body[1], body[2]) for _p, body in recorder.members("NetworkEvent")]
        assert events[:4] == [("sig", 0), ("sig", 2), ("sig", 3), ("sig", 1)]
        changes = [body for p, body in recorder.members("PropertiesChanged") if p == path]
        changed_names = [name for body in changes for name in body[1]]
        assert "Active" in changed_names and "Autostart" in changed_names
        added = recorder.members("InterfacesAdded")
        assert any(body[0] == path for _p, body in added)
        recorder.wait_for(lambda s: any(x[2] == "InterfacesRemoved" for x in s))
    finally:
        recorder.stop()


def test_object_manager_lists_networks(vnetd_daemon: Daemon) -> None:
    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    api.define(network_xml("om1", 7))
    api.define(network_xml("om2", 8))
    out = vnetd_daemon.busctl("--json=short", "call", "org.vnetd1", MANAGER,
                              "org.freedesktop.DBus.ObjectManager", "GetManagedObjects").stdout
    objects = json.loads(out)["data"][0]
    assert {"/org/vnetd1/network/om1", "/org/vnetd1/network/om2"} <= set(objects)
    props = objects["/org/vnetd1/network/om1"][NET_IFACE]
    assert props["Name"]["data"] == "om1" and props["Active"]["data"] is False
