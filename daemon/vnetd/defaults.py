"""Values libvirt fills in when a network is defined: UUID, bridge name, bridge MAC.

Pure: the caller passes the bridge names already taken (by other networks and by
host interfaces) and, for tests, the MAC generator.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection

from vnetd.errors import InvalidArgument
from vnetd.model import VIRTUAL_MODES, Bridge, NetworkDefinition

BRIDGE_TEMPLATE = "virbr{}"
MAX_BRIDGE_INDEX = 4096
#: The QEMU/KVM OUI libvirt uses for generated bridge MACs.
MAC_PREFIX = "52:54:00"


# secrets and uuid are imported where used: with platform, which uuid imports, they
# were ~6 ms of every daemon start, and only a define needs them.


def random_mac() -> str:
    import secrets

    tail = secrets.token_bytes(3)
    return MAC_PREFIX + "".join(f":{b:02x}" for b in tail)


def random_uuid() -> str:
    import uuid

    return str(uuid.uuid4())


def free_bridge_name(taken: Collection[str]) -> str:
    """The first ``virbrN`` not in ``taken``."""
    used = set(taken)
    for index in range(MAX_BRIDGE_INDEX):
        name = BRIDGE_TEMPLATE.format(index)
        if name not in used:
            return name
    last = BRIDGE_TEMPLATE.format(MAX_BRIDGE_INDEX - 1)
    raise InvalidArgument(f"<bridge>: no free bridge name among virbr0..{last}")


def owns_bridge(definition: NetworkDefinition) -> bool:
    """nat, route, open and isolated networks build their own bridge."""
    fwd = definition.forward
    return fwd is None or fwd.effective_mode in VIRTUAL_MODES


def apply_defaults(
    definition: NetworkDefinition,
    *,
    taken_bridge_names: Collection[str],
    mac_factory: Callable[[], str] = random_mac,
    uuid_factory: Callable[[], str] = random_uuid,
) -> NetworkDefinition:
    """Fill in a missing UUID, and for bridge-owning modes a bridge name and MAC."""
    changes: dict[str, object] = {}
    if definition.uuid is None:
        changes["uuid"] = uuid_factory()
    if owns_bridge(definition):
        bridge = definition.bridge or Bridge(stp=True, delay=0)
        if bridge.name is None:
            changes["bridge"] = dataclasses.replace(
                bridge, name=free_bridge_name(taken_bridge_names)
            )
        if definition.mac is None:
            changes["mac"] = mac_factory().lower()
    if not changes:
        return definition
    return dataclasses.replace(definition, **changes)  # type: ignore[arg-type]
