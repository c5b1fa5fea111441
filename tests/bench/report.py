"""Turns recorded samples into the side-by-side table and the RESULTS.md text."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.bench.protocol import BenchConfig
from tests.bench.stats import Summary, TableRow, render

BEGIN = "<!-- bench:begin (written by tests/bench/run.py) -->"
END = "<!-- bench:end -->"


@dataclass(frozen=True)
class Target:
    """``ratio``: vnetd median <= value x libvirt median (the reference figure from
    ../shared/reference/libvirt-baseline.md when libvirt was not measured);
    ``max``: vnetd median <= value."""

    kind: str
    value: float
    reference: float = 0.0
    text: str = ""

    def met(self, vnetd: Summary | None, libvirt: Summary | None) -> bool | None:
        if vnetd is None:
            return None
        if self.kind == "max":
            return vnetd.median <= self.value
        base = libvirt.median if libvirt is not None else self.reference
        return vnetd.median <= self.value * base


# vnetd's runtime floor (floor_service.py): rows with samples from the vnetd side only;
# the libvirt column repeats libvirt's figure for the same measurement, so the ratio
# says how far any service on this stack starts behind or ahead of libvirt.
FLOOR = "floor: asyncio + dbus-fast service"
FLOOR_LIBS = "floor + pyroute2, lxml, libnftables"
LIBVIRT_FIGURE_FOR = {
    "floor_cold_start": "cold_start",
    "floor_exit": "exit_idle",
    "floor_rss": "rss_idle",
    "floor_libs_rss": "rss_many",
    "floor_libs_exit": "restart_stop",
}
FLOOR_NOTE = (
    "Rows starting with \"floor\": tests/bench/floor_service.py, the least an asyncio + "
    "dbus-fast service does to answer the same probe (no OpenSSL as in vnetd, one object, "
    "the bus name, ListNetworks), started, probed and stopped as vnetd is; \"+ pyroute2, "
    "lxml, libnftables\": the same with the libraries vnetd loads once a network runs. "
    "Their libvirt column repeats libvirt's figure for the same measurement (daemon "
    "start, exit, RSS idle, RSS and exit with networks running).")


def rows_for(cfg: BenchConfig) -> list[tuple[str, str, str, Target | None]]:
    n, small, large = cfg.many, cfg.list_small, cfg.list_large
    third = "≤ ⅓ libvirt"
    return [
        ("list_floor", "net-list --all, 0 defined (CLI floor)", "ms", None),
        ("define", "net-define", "ms", None),
        ("start", "net-start → DHCP socket open on bridge", "ms",
         Target("ratio", 1 / 3, 73.3, third)),
        ("start_cli", "net-start, CLI returns", "ms", None),
        ("destroy", "net-destroy", "ms", Target("ratio", 0.1, 380, "≤ 1/10 libvirt")),
        ("undefine", "net-undefine", "ms", None),
        ("lease", "start returned → fresh guest holds lease (stp on, delay 0)", "ms",
         Target("max", 500, text="< 500 ms")),
        ("start_many", f"net-start x{n} in a row, per start (→ DHCP)", "ms", None),
        ("start_growth", f"net-start x{n}: growth, median last 10 / first 10", "x", None),
        # The same growth in milliseconds: a ratio alone makes the same added cost look
        # larger on a shorter start.
        ("start_growth_ms", f"net-start x{n}: growth, median last 10 minus first 10", "ms", None),
        # And from all the starts, not 20 of them: a least-squares line through the series,
        # its rise per 100 running networks (the ends alone are one noisy sample each).
        ("start_slope", f"net-start x{n}: growth, least-squares slope per 100 running", "ms",
         None),
        ("destroy_many", f"net-destroy, {n} running → 0, per network", "ms", None),
        ("list_small", f"net-list --all, {small} defined", "ms", None),
        ("list_large", f"net-list --all, {large} defined, {n} active", "ms",
         Target("ratio", 1 / 3, 80.5, third)),
        ("cold_start", "daemon start → answers, 0 networks", "ms", None),
        ("exit_idle", "daemon SIGTERM → exit, 0 networks", "ms", None),
        ("floor_cold_start", f"{FLOOR}: start → answers", "ms", None),
        ("floor_exit", f"{FLOOR}: SIGTERM → exit", "ms", None),
        ("restart_stop", f"daemon SIGTERM → exit, {n} running", "ms", None),
        ("floor_libs_exit", f"{FLOOR_LIBS}: SIGTERM → exit", "ms", None),
        ("restart_answer", f"daemon start → answers, {n} running", "ms",
         Target("max", 1000, text="< 1000 ms")),
        ("restart_lost", "guest pings lost during the restart (-i 0.01, NAT)", "packets",
         Target("max", 0, text="0")),
        ("restart_active", "networks active after the restart", "count", None),
        ("rpc_list_serial", "ListNetworks, one call at a time", "calls/s", None),
        ("rpc_list_inflight", "ListNetworks, 50 in flight", "calls/s", None),
        ("rpc_xml_serial", "GetXMLDesc, one at a time (libvirt: net-dumpxml, one virsh)",
         "calls/s", None),
        ("rpc_xml_inflight", "GetXMLDesc, 50 in flight", "calls/s", None),
        ("rss_idle", "daemon RSS, idle", "MB", Target("max", 30, text="≤ 30 MB")),
        ("floor_rss", f"{FLOOR}: RSS", "MB", None),
        ("rss_many", f"daemon RSS, {n} running", "MB", None),
        ("floor_libs_rss", f"{FLOOR_LIBS}: RSS", "MB", None),
        ("rss_per_net_idle", f"daemon RSS growth per network, idle → {n} running", "KB",
         None),
        ("rss_per_net", f"daemon RSS growth per network, 10 → {n} running", "KB",
         Target("max", 100, text="≤ 100 KB")),
        ("dnsmasq_pss_per_net", "dnsmasq PSS per network", "KB", None),
        ("dnsmasq_procs_per_net", "dnsmasq processes per network", "count", None),
        ("leftover_dnsmasq", "dnsmasq left after destroy+undefine of all", "count", None),
    ]


def derive(samples: dict[str, list[float]]) -> dict[str, list[float]]:
    out = dict(samples)
    starts = samples.get("start_many", [])
    if len(starts) >= 2:
        k = min(10, len(starts) // 2)
        first = statistics.median(starts[:k])
        last = statistics.median(starts[-k:])
        out["start_growth"] = [last / first]
        out["start_growth_ms"] = [last - first]
        out["start_slope"] = [100 * slope(starts)]
    return out


def slope(values: list[float]) -> float:
    """Least-squares slope of ``values`` against their position (1, 2, ...)."""
    n = len(values)
    mean_x = (n + 1) / 2
    mean_y = sum(values) / n
    spread = sum((x - mean_x) ** 2 for x in range(1, n + 1))
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(range(1, n + 1), values,
                                                             strict=True)) / spread


def table_rows(cfg: BenchConfig, results: dict[str, dict[str, list[float]]]) -> list[TableRow]:
    lv = derive(results.get("libvirt", {}))
    vn = derive(results.get("vnetd", {}))
    rows = []
    for key, label, unit, target in rows_for(cfg):
        a = Summary.of(lv.get(LIBVIRT_FIGURE_FOR.get(key, key), []))
        b = Summary.of(vn.get(key, []))
        rows.append(TableRow(label, unit, a, b, target.text if target else "",
                             target.met(b, a) if target else None))
    return rows


def _first_line(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)
    except OSError:
        return "not installed"
    text = (proc.stdout or proc.stderr).strip()
    return text.splitlines()[0] if text else "?"


def environment(versions: dict[str, str]) -> dict[str, str]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    os_name = "?"
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("PRETTY_NAME="):
            os_name = line.split("=", 1)[1].strip('"')
    env = {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{cpu}, {os.cpu_count()} CPUs, {mem_kb // 1024 // 1024} GiB",
        "os / kernel": f"{os_name} / Linux {platform.release()}",
        "load average at end": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "python": platform.python_version(),
        "dnsmasq": _first_line(["dnsmasq", "--version"]),
        "nftables": _first_line(["nft", "--version"]),
        "iptables": _first_line(["iptables", "--version"]),
        "busybox (udhcpc)": _first_line(["busybox"]),
    }
    env.update(versions)
    return env


def markdown(cfg: BenchConfig, table: str, env: dict[str, str], notes: list[str],
             command: str) -> str:
    lines = [BEGIN, "", f"Command: `{command}`", "", "| item | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in env.items()]
    lines += ["", f"Repetitions: {cfg.reps} (restart: {cfg.restart_reps}); {cfg.many} networks "
              f"in a row; lists at {cfg.list_small} / {cfg.list_large} defined.", "", table, ""]
    notes = [*notes, FLOOR_NOTE]
    lines += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    lines.append(END)
    return "\n".join(lines)


def write_results(path: Path, block: str) -> None:
    """Replace the generated block, keeping the hand-written analysis around it."""
    if path.exists() and BEGIN in path.read_text() and END in path.read_text():
        text = path.read_text()
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        path.write_text(head + block + tail)
    else:
        path.write_text("# vnetd vs libvirt: benchmark results\n\n" + block + "\n")


def render_table(rows: list[TableRow]) -> str:
    return render(rows)
