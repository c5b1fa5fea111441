"""What keeps the daemon's resident memory down, pinned down: no OpenSSL in the process
(``vnetd.no_openssl``), no ``urllib``/``email`` behind the XML formatter, and the
replacements agree with what they replace."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path
from xml.sax.saxutils import escape

from hypothesis import given
from hypothesis import strategies as st

from vnetd.netxml.escape import escape_text, quote_single, quote_single_strict

REPO = Path(__file__).resolve().parents[2]
PYTHON = str(REPO / ".venv" / "bin" / "python")


@given(st.text())
def test_escape_agrees_with_saxutils(value: str) -> None:
    assert escape_text(value) == escape(value)
    assert quote_single(value) == "'" + escape(value, {"'": "&apos;"}) + "'"
    assert quote_single_strict(value) == "'" + escape(
        value, {"'": "&apos;", '"': "&quot;"}) + "'"


def run_fresh(code: str) -> str:
    proc = subprocess.run([PYTHON, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_daemon_imports_load_no_openssl_and_no_urllib() -> None:
    # The daemon imports pyroute2 in a worker thread after it answers: done the same here.
    out = run_fresh("""
        import vnetd.main
        import importlib, sys, threading
        t = threading.Thread(target=importlib.import_module, args=("vnetd.bridge.netlink",))
        t.start(); t.join()
        import vnetd.daemon, vnetd.bus.service, vnetd.bus.interfaces
        maps = open("/proc/self/maps").read()
        print("libcrypto" in maps, "libssl" in maps, "_ssl" in sys.modules)
        print(sorted(m for m in ("urllib.request", "http.client", "email", "xml.sax")
                     if m in sys.modules))
    """)
    assert out.split("\n")[:2] == ["False False False", "[]"]


def test_what_the_daemon_uses_still_works_without_openssl() -> None:
    out = run_fresh("""
        import vnetd.main
        import asyncio, hashlib, hmac, random, uuid
        from dbus_fast import introspection  # hashes introspection XML with sha256
        print(hashlib.sha256(b"vnetd").hexdigest()[:12], len(str(uuid.uuid4())))

        async def child() -> bytes:
            proc = await asyncio.create_subprocess_exec(
                "echo", "ok", stdout=asyncio.subprocess.PIPE)
            out, _ = await proc.communicate()
            return out

        print(asyncio.run(child()).decode().strip())
        print("libcrypto" in open("/proc/self/maps").read())
    """)
    assert out.split("\n")[:3] == ["9dbb4edfe208 36", "ok", "False"]


def test_ssl_loads_at_first_use_for_code_that_does_use_it() -> None:
    out = run_fresh("""
        import vnetd.main
        import ssl
        import pyroute2.netlink.rtnl.probe_msg as probe  # holds the placeholder
        print("libcrypto" in open("/proc/self/maps").read())
        from ssl import SSLContext, create_default_context
        print(isinstance(create_default_context(), SSLContext), probe.ssl.CERT_REQUIRED)
        print("libcrypto" in open("/proc/self/maps").read())
        try:
            ssl.no_such_name
        except AttributeError as exc:
            print("AttributeError", exc)
    """)
    assert out.split("\n")[:4] == [
        "False", "True 2", "True", "AttributeError module 'ssl' has no attribute 'no_such_name'"]
