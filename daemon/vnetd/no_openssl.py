"""Keep OpenSSL out of the daemon process: importing this module (first) does it.

vnetd never speaks TLS and needs no OpenSSL hash, yet ``asyncio`` imports ``ssl``,
pyroute2 imports ``ssl`` (for a probe message vnetd never sends) and dbus-fast's
introspection imports ``hashlib``; each maps libcrypto and runs OpenSSL's
initialisation: 4.8 MB of daemon RSS (1.4 MB anonymous, 3.4 MB of library pages),
measured from ``/proc/self/status`` around ``import asyncio, dbus_fast``.

- ``_hashlib`` (hashlib's OpenSSL backend) is refused: hashlib then uses CPython's
  built-in sha256/sha512/md5, as it is written to.
- ``asyncio`` is imported while ``ssl`` is refused: it takes ``ssl = None`` (no TLS
  transports), as it is written to.
- ``ssl`` then becomes a placeholder module: ``import ssl`` succeeds, and the first
  use of any of its names loads the real module into it (PEP 562 ``__getattr__``).
  ``importlib.util.LazyLoader`` cannot do this: the import statement itself reads
  ``__spec__``, which makes it load at once.

Modules already loaded (in a test process, say) are left as they are.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types

_lock = threading.Lock()


def _placeholder() -> types.ModuleType:
    module = types.ModuleType("ssl", "Placeholder: the real ssl loads at first use.")

    def load(name: str) -> object:
        with _lock:
            if sys.modules.get("ssl") is module:
                del sys.modules["ssl"]
                real = importlib.import_module("ssl")
                module.__dict__.update(real.__dict__)
        if name not in module.__dict__:
            raise AttributeError(f"module 'ssl' has no attribute {name!r}")
        return module.__dict__[name]

    module.__getattr__ = load  # type: ignore[method-assign]
    return module


def keep_out() -> None:
    # A None entry makes ``import _hashlib`` raise ImportError (documented behaviour).
    sys.modules.setdefault("_hashlib", None)  # type: ignore[arg-type]
    if "ssl" in sys.modules or "asyncio" in sys.modules:
        return
    sys.modules["ssl"] = None  # type: ignore[assignment]
    try:
        import asyncio  # noqa: F401 - binds ssl = None inside asyncio
    finally:
        del sys.modules["ssl"]
    sys.modules["ssl"] = _placeholder()


keep_out()
