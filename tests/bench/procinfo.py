"""Facts about processes and sockets read from /proc: memory, CPU, DHCP sockets.

Reading /proc in-process keeps the probes cheap enough to poll every millisecond, so
they do not distort the timings they bracket.
"""

from __future__ import annotations

import os
import select
import subprocess
from pathlib import Path

DHCP_PORT_HEX = f"{67:04X}"


def status_kb(pid: int, key: str = "VmRSS") -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def pss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_ms(pid: int, children: bool = False) -> float | None:
    """utime+stime; with ``children`` also the reaped children (libvirt's iptables execs)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks * 1000.0 / os.sysconf("SC_CLK_TCK")


def comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def netns_pids(netns: str) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True,
                         check=False).stdout
    return [int(p) for p in out.split()]


def dnsmasq_pids(netns: str) -> list[int]:
    return sorted(p for p in netns_pids(netns) if comm(p) == "dnsmasq")


def dhcp_listeners(pid_in_netns: int) -> int:
    """Number of UDP sockets bound to port 67 in the network namespace of ``pid_in_netns``.

    dnsmasq opens its DHCP socket only once its configuration is loaded, so a new one
    appearing is the moment the network can answer DHCP.
    """
    count = 0
    for table in ("udp", "udp6"):
        try:
            lines = Path(f"/proc/{pid_in_netns}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local = line.split()[1]
            if local.rsplit(":", 1)[1] == DHCP_PORT_HEX:
                count += 1
    return count


def memory_of(pids: list[int]) -> dict[str, float]:
    rss = [status_kb(p) or 0 for p in pids]
    pss = [pss_kb(p) or 0 for p in pids]
    return {"count": float(len(pids)), "rss_kb": float(sum(rss)), "pss_kb": float(sum(pss))}


def wait_exit(proc: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float) -> bool:
    """Wait for ``proc`` to exit and reap it; False on timeout. Woken by a pidfd the
    moment the process ends: ``Popen.wait(timeout)`` polls with doubling sleeps, which
    rounds an exit after 16 ms up to 31.5 ms."""
    try:
        fd = os.pidfd_open(proc.pid)
    except ProcessLookupError:
        proc.wait()
        return True
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(timeout * 1000):
            return False
    finally:
        os.close(fd)
    proc.wait()
    return True

