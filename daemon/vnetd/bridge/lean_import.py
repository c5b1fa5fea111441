"""Import pyroute2's rtnetlink parts without the package's ``__init__``.

``import pyroute2`` loads NDB, IPDB and every protocol family: about 125 ms and 6 MB that
vnetd never uses, paid at every daemon start (restart latency is a goal: answering within
a second with 100 networks running). Registering a bare package module first lets the
submodules vnetd needs load on their own. If that ever fails with a future pyroute2, the
normal import is used instead.
"""

from __future__ import annotations

import importlib.util
import sys
import types


def prepare() -> None:
    if "pyroute2" in sys.modules:
        return
    spec = importlib.util.find_spec("pyroute2")
    if spec is None or spec.submodule_search_locations is None:
        return
    package = types.ModuleType("pyroute2")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    package.__file__ = spec.origin
    sys.modules["pyroute2"] = package
    try:
        from pyroute2.iproute.linux import AsyncIPRoute
    except Exception:
        del sys.modules["pyroute2"]
        for name in [m for m in sys.modules if m.startswith("pyroute2.")]:
            del sys.modules[name]
        return
    package.AsyncIPRoute = AsyncIPRoute  # type: ignore[attr-defined]


prepare()
