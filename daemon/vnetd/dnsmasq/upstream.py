"""The host's DNS servers, handed to every dnsmasq in one file that vnetd keeps.

dnsmasq forwards what it cannot answer to the nameservers of ``/etc/resolv.conf``, and
a dnsmasq that reads that file itself watches it with an inotify instance. Every
dnsmasq of vnetd (and of libvirt) runs as one user, and the kernel's default allows
128 instances per user (``fs.inotify.max_user_instances``): on a host with nothing
else, network 127 with DNS failed to start ("failed to create inotify: Too many open
files"). Instead, vnetd reads resolv.conf, writes its nameservers as ``server=`` lines
to a ``servers-file`` and gives dnsmasq ``no-resolv``; dnsmasq reads that file at
start and again on SIGHUP, which vnetd sends when the nameservers change. A stat per
second notices a change (what dnsmasq itself does where it has no inotify), so the
daemon holds no inotify instance for it either.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path

from .process import write_atomic

log = logging.getLogger(__name__)

SERVERS_FILE_NAME = "upstream.servers"  # no network's file: those are NAME.<suffix>
_NEVER = object()


def nameservers(resolv_conf: str) -> list[str]:
    """The ``nameserver`` addresses of a resolv.conf text, in order, as dnsmasq reads
    them: every one (not glibc's first three), an IPv6 scope (``%eth0``) kept, anything
    that is not an address skipped."""
    found: list[str] = []
    for line in resolv_conf.splitlines():
        words = line.split()
        if len(words) < 2 or words[0] != "nameserver":
            continue
        address, _, scope = words[1].partition("%")
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            continue
        if scope and (ip.version != 6 or not scope.isprintable() or "/" in scope):
            continue
        found.append(f"{ip}%{scope}" if scope else str(ip))
    return found


def render_servers(servers: list[str]) -> str:
    return "".join(f"server={server}\n" for server in servers)


class UpstreamServers:
    """Keeps ``servers_file`` in step with ``resolv_conf``."""

    def __init__(self, resolv_conf: Path, servers_file: Path) -> None:
        self.resolv_conf = resolv_conf
        self.servers_file = servers_file
        # What the last stat saw (None: no file); _NEVER before the first.
        self._seen: object = _NEVER
        #: How many times this process wrote the file: a dnsmasq that started while it
        #: changed may have read the old one.
        self.generation = 0

    def refresh(self) -> bool:
        """Read resolv.conf again if it changed since the last call, and rewrite the
        servers file if it does not hold its nameservers; True when it was rewritten
        and running dnsmasq should read it again (SIGHUP)."""
        try:
            st = os.stat(self.resolv_conf)  # through a symlink (systemd-resolved's)
            seen: tuple[int, int, int, int] | None = (st.st_dev, st.st_ino, st.st_size,
                                                      st.st_mtime_ns)
        except OSError:
            seen = None
        if seen == self._seen:
            return False
        self._seen = seen
        try:
            text = self.resolv_conf.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            log.warning("cannot read %s (%s): networks get no upstream DNS servers",
                        self.resolv_conf, exc.strerror or exc)
            text = ""
        wanted = render_servers(nameservers(text))
        try:
            current: str | None = self.servers_file.read_text(encoding="utf-8")
        except OSError:
            current = None
        if wanted == current:
            return False
        self.servers_file.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        write_atomic(self.servers_file, wanted, 0o644)
        self.generation += 1
        if current is not None:
            log.info("upstream DNS servers changed: %s",
                     ", ".join(line[len("server="):] for line in wanted.splitlines())
                     or "none")
        return True

    def ensure(self) -> bool:
        """``refresh``, also when the file went missing behind vnetd's back: a dnsmasq
        about to start reads it once, and without it runs with no upstream servers
        ("cannot read ...: No such file or directory") until the next change."""
        if not self.servers_file.exists():
            self._seen = _NEVER
        return self.refresh()
