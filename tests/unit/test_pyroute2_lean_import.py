"""vnetd.bridge.lean_import: pyroute2's rtnetlink parts without the package __init__
(NDB, IPDB, every protocol family) and without unittest, which pyroute2's iprsocket
imports for a mock-netlink mode vnetd never uses."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = r'''
import json, sys
import vnetd.bridge.netlink as netlink
loaded = set(sys.modules)
from pyroute2.netlink.rtnl import iprsocket
queue_put = type(iprsocket.NotLocal.msg_queue.put).__name__  # made on first use
import unittest, unittest.mock
print(json.dumps({
    "unittest_before": "unittest" in loaded or "unittest.mock" in loaded,
    "ndb": any(m.startswith("pyroute2.ndb") for m in loaded),
    "async_iproute": netlink.AsyncIPRoute.__name__,
    "queue_put": queue_put,
    "real_mock": unittest.mock.Mock.__module__, "test_case": hasattr(unittest, "TestCase"),
}))
'''


def test_netlink_backend_loads_without_unittest_or_ndb() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    found = json.loads(out)
    assert found == {"unittest_before": False, "ndb": False,
                     "async_iproute": "AsyncIPRoute", "queue_put": "Mock",
                     "real_mock": "unittest.mock", "test_case": True}
