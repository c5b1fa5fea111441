"""Many calls in flight with big replies: the daemon must answer them all and stay on the
bus (dbus-fast 5.2 dropped the connection when the socket's send buffer filled up)."""

from __future__ import annotations

import asyncio
import time

from tests.integration.busapi import MANAGER, MGR_IFACE, NET_IFACE, Api, network_xml
from tests.integration.daemon_harness import Daemon
from tests.integration.netns import Topology


def test_hundreds_of_calls_in_flight(vnetd_daemon: Daemon, topology: Topology) -> None:
    from dbus_fast import Message, MessageType
    from dbus_fast.aio import MessageBus

    vnetd_daemon.start("--no-default-network")
    api = Api(vnetd_daemon)
    paths = [api.define(network_xml(f"flood{i}", 100 + i, dhcp=True)) for i in range(60)]

    async def flood() -> tuple[int, float]:
        bus = await MessageBus(bus_address=vnetd_daemon.bus.address).connect()
        began = time.monotonic()
        answered = 0
        for _batch in range(10):
            calls = []
            for i in range(100):
                if i % 2:
                    msg = Message(destination="org.vnetd1", path=MANAGER, interface=MGR_IFACE,
                                  member="ListNetworks", signature="u", body=[0])
                else:
                    msg = Message(destination="org.vnetd1", path=paths[i % len(paths)],
                                  interface=NET_IFACE, member="GetXMLDesc", signature="u",
                                  body=[0])
                calls.append(bus.call(msg))
            for reply in await asyncio.gather(*calls):
                assert reply is not None and reply.message_type == MessageType.METHOD_RETURN
                answered += 1
        bus.disconnect()
        return answered, time.monotonic() - began

    answered, took = asyncio.run(flood())
    print(f"bus flood: {answered} calls, 100 in flight, answered in {took:.2f}s")
    assert answered == 1000
    # Still on the bus and answering.
    assert len(api.list()) == 60
    assert vnetd_daemon.process is not None and vnetd_daemon.process.poll() is None
    assert "lost the connection to the bus" not in vnetd_daemon.log()
