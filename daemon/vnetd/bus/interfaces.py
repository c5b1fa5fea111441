"""The ``org.vnetd1.Manager`` and ``org.vnetd1.Network`` interfaces.

Each method converts types, checks authorization, calls the manager and maps errors;
no network logic lives here.
"""

# No "from __future__ import annotations": dbus-fast reads the D-Bus signatures from the
# evaluated Annotated types of each method.

from typing import TYPE_CHECKING, Annotated, Any

from dbus_fast import PropertyAccess
from dbus_fast.annotations import (
    DBusBool,
    DBusInt32,
    DBusObjectPath,
    DBusSignature,
    DBusStr,
    DBusUInt32,
)
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property, dbus_signal

from .. import __version__
from ..dnsmasq.leases import DhcpLease
from ..manager import Manager, NetworkObject
from .auth import Authorizer
from .errors import translate_errors, translate_errors_now
from .names import MANAGER_IFACE, NETWORK_IFACE, network_path

if TYPE_CHECKING:
    from .service import BusService


LeaseStruct = Annotated[list[Any], DBusSignature("(sxisssuss)")]
LeaseList = Annotated[list[list[Any]], DBusSignature("a(sxisssuss)")]
PathList = Annotated[list[str], DBusSignature("ao")]


def lease_struct(obj: NetworkObject, lease: DhcpLease) -> list[Any]:
    prefix = 0
    for ip in obj.definition.ips:
        if ip.address and ip.version == lease.ip.version and lease.ip in ip.network:
            prefix = ip.prefix_length
            break
    return [obj.definition.bridge_name or "", lease.expiry,
            0 if lease.protocol == "ipv4" else 1, lease.mac or "",
            "" if lease.iaid is None else str(lease.iaid), str(lease.ip), prefix,
            lease.hostname or "", lease.client_id or ""]


class ManagerInterface(ServiceInterface):
    def __init__(self, manager: Manager, auth: Authorizer) -> None:
        super().__init__(MANAGER_IFACE)
        self.manager = manager
        self.auth = auth

    @dbus_method()
    @translate_errors
    async def DefineXML(self, xml: DBusStr) -> DBusObjectPath:
        """Define or redefine a persistent network from libvirt network XML."""
        await self.auth.require_manage()
        obj = await self.manager.define(xml)
        return network_path(obj.name)

    @dbus_method()
    @translate_errors
    async def CreateXML(self, xml: DBusStr) -> DBusObjectPath:
        """Create and start a transient network."""
        await self.auth.require_manage()
        obj = await self.manager.create(xml)
        return network_path(obj.name)

    @dbus_method()
    @translate_errors_now
    def ListNetworks(self, flags: DBusUInt32) -> PathList:
        """Object paths of networks; flags as libvirt's virConnectListAllNetworksFlags."""
        return [network_path(o.name) for o in self.manager.list_networks(flags)]

    @dbus_method()
    @translate_errors_now
    def LookupByName(self, name: DBusStr) -> DBusObjectPath:
        return network_path(self.manager.get(name).name)

    @dbus_method()
    @translate_errors_now
    def LookupByUUID(self, uuid: DBusStr) -> DBusObjectPath:
        return network_path(self.manager.lookup_uuid(uuid).name)

    @dbus_property(access=PropertyAccess.READ)
    def Version(self) -> DBusStr:
        return __version__

    @dbus_signal()
    def NetworkEvent(self, network: DBusObjectPath, name: DBusStr, event: DBusInt32,
                     detail: DBusInt32) -> Annotated[list[Any], DBusSignature("osii")]:
        """Lifecycle event: 0 defined, 1 undefined, 2 started, 3 stopped (libvirt's numbers)."""
        return [network, name, event, detail]


    @dbus_signal()
    def NetworkRepaired(self, network: DBusObjectPath, name: DBusStr,
                        parts: Annotated[list[str], DBusSignature("as")]
                        ) -> Annotated[list[Any], DBusSignature("osas")]:
        """Something outside vnetd broke a running network and vnetd put it right; parts
        are "bridge", "firewall" and/or "dnsmasq"."""
        return [network, name, parts]


class NetworkInterface(ServiceInterface):
    def __init__(self, service: "BusService", obj: NetworkObject) -> None:
        super().__init__(NETWORK_IFACE)
        self.service = service
        self.obj = obj

    @property
    def manager(self) -> Manager:
        return self.service.manager

    @dbus_method()
    @translate_errors
    async def Start(self) -> None:
        await self.service.auth.require_manage()
        await self.manager.start(self.obj)

    @dbus_method()
    @translate_errors
    async def Destroy(self) -> None:
        await self.service.auth.require_manage()
        await self.manager.destroy(self.obj)

    @dbus_method()
    @translate_errors
    async def Undefine(self) -> None:
        await self.service.auth.require_manage()
        await self.manager.undefine(self.obj)

    @dbus_method()
    @translate_errors_now
    def GetXMLDesc(self, flags: DBusUInt32) -> DBusStr:
        """The network's XML; flag 1 (inactive): the definition the next start will use."""
        return self.manager.xml(self.obj, inactive=bool(flags & 1))

    @dbus_method()
    @translate_errors
    async def Update(self, command: DBusUInt32, section: DBusUInt32, parent_index: DBusInt32,
                     xml: DBusStr, flags: DBusUInt32) -> None:
        """libvirt's virNetworkUpdate: commands 1 modify, 2 delete, 3 add-last, 4 add-first;
        sections 4 ip-dhcp-host, 5 ip-dhcp-range, 7 forward-interface, 9 portgroup,
        10 dns-host, 11 dns-txt, 12 dns-srv; flags 1 live, 2 config, 0 current."""
        await self.service.auth.require_manage()
        await self.manager.update(self.obj, command, section, parent_index, xml, flags)

    @dbus_method()
    @translate_errors_now
    def GetDHCPLeases(self, mac: DBusStr, flags: DBusUInt32) -> LeaseList:
        """Current leases as libvirt-dbus: (iface, expirytime, type 0=ipv4 1=ipv6, mac,
        iaid, ipaddr, prefix, hostname, clientid); "" stands for none. mac "" = all."""
        return [lease_struct(self.obj, lease) for lease in self.manager.leases(self.obj, mac)]

    @dbus_method()
    @translate_errors
    async def WaitForLease(self, mac: DBusStr, timeout_ms: DBusUInt32) -> LeaseStruct:
        """Return the IPv4 lease of the guest with this MAC as soon as it has one."""
        lease = await self.manager.wait_for_lease(self.obj, mac, timeout_ms / 1000)
        return lease_struct(self.obj, lease)

    @dbus_signal()
    def LeaseChanged(self, action: DBusStr, lease: LeaseStruct) -> Annotated[
            list[Any], DBusSignature("s(sxisssuss)")]:
        """A lease was "added", "renewed" or "removed" (released or expired)."""
        return [action, lease]

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> DBusStr:
        return self.obj.name

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self.obj.uuid

    @dbus_property(access=PropertyAccess.READ)
    def Active(self) -> DBusBool:
        return self.obj.active

    @dbus_property(access=PropertyAccess.READ)
    def Persistent(self) -> DBusBool:
        return self.obj.persistent

    @dbus_property()
    def Autostart(self) -> DBusBool:
        return self.obj.autostart

    @Autostart.setter  # type: ignore[no-redef]
    async def Autostart(self, value: DBusBool) -> None:
        await self._set_autostart(value)

    @translate_errors
    async def _set_autostart(self, value: bool) -> None:
        await self.service.auth.require_manage()
        await self.manager.set_autostart(self.obj, bool(value))

    @dbus_property(access=PropertyAccess.READ)
    def BridgeName(self) -> DBusStr:
        return self.obj.definition.bridge_name or ""

    @dbus_property(access=PropertyAccess.READ)
    def Problems(self) -> Annotated[list[str], DBusSignature("as")]:
        """What is wrong with the running network (dnsmasq given up, foreign rules that
        block guests, …); empty when all is well."""
        return list(self.obj.problems)

    @dbus_property(access=PropertyAccess.READ)
    def ForwardMode(self) -> DBusStr:
        return self.obj.definition.mode
