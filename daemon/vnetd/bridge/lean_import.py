"""Import pyroute2's rtnetlink parts without the package's ``__init__``.

``import pyroute2`` loads NDB, IPDB and every protocol family: about 125 ms and 6 MB that
vnetd never uses, paid at every daemon start (restart latency is a goal: answering within
a second with 100 networks running). Registering a bare package module first lets the
submodules vnetd needs load on their own. If that ever fails with a future pyroute2, the
normal import is used instead.

``pyroute2.netlink.rtnl.iprsocket`` also runs ``from unittest import mock`` for its
mock-netlink test mode (``config.mock_netlink``), which vnetd never turns on: unittest
and unittest.mock are 1.35 MB of RSS in the daemon (measured: import of
``vnetd.bridge.netlink`` with and without them). While the submodules load, stand-ins
take those two names; they are taken away again afterwards, so any later
``import unittest`` gets the real package, and the stand-in's ``Mock`` imports the real
one if pyroute2 ever calls it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

_MOCK_NAMES = ("unittest", "unittest.mock")


class _LazyMock:
    """What the stand-in's ``Mock()`` returns: pyroute2 makes one at import time (a class
    attribute of ``iprsocket.NotLocal``); a real ``unittest.mock.Mock`` is made the
    first time anything uses it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._made: tuple[tuple[Any, ...], dict[str, Any]] = (args, kwargs)
        self._real: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._real is None:
            args, kwargs = self._made
            self._real = importlib.import_module("unittest.mock").Mock(*args, **kwargs)
        return getattr(self._real, name)


def _mock(*args: Any, **kwargs: Any) -> Any:
    return _LazyMock(*args, **kwargs)


def _stand_in_for_unittest() -> list[str]:
    """Put stand-ins for unittest and unittest.mock where none is loaded; their names."""
    if any(name in sys.modules for name in _MOCK_NAMES):
        return []
    package = types.ModuleType("unittest")
    mock = types.ModuleType("unittest.mock")
    mock.Mock = _mock  # type: ignore[attr-defined]
    package.mock = mock  # type: ignore[attr-defined]
    sys.modules["unittest"] = package
    sys.modules["unittest.mock"] = mock
    return list(_MOCK_NAMES)


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
    stand_ins = _stand_in_for_unittest()
    try:
        from pyroute2.iproute.linux import AsyncIPRoute
    except Exception:
        del sys.modules["pyroute2"]
        for name in [m for m in sys.modules if m.startswith("pyroute2.")]:
            del sys.modules[name]
        return
    finally:
        for name in stand_ins:
            del sys.modules[name]
    package.AsyncIPRoute = AsyncIPRoute  # type: ignore[attr-defined]


prepare()
