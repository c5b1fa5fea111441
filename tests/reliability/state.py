"""What is really there: kernel, processes and files of a daemon under test, read
independently of the daemon (``ip``, ``nft``, ``/proc``, the file system)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.daemon_harness import Daemon
from tests.integration.netns import Namespace
from vnetd.firewall.rules import chain_ids


@dataclass(frozen=True)
class NetState:
    """One network's parts as found in the kernel and on disk."""

    name: str
    bridge: bool
    bridge_addresses: tuple[str, ...]
    chains: frozenset[str]
    guard: int  # members of the input chain's sets commented with the network's name
    dnsmasq_pid: int | None  # live dnsmasq from the pid file
    dnsmasq_conf: bool
    status: str | None  # phase in the status file, or None without one

    @property
    def parts(self) -> dict[str, bool]:
        return {"bridge": self.bridge, "firewall": bool(self.chains or self.guard),
                "dnsmasq": self.dnsmasq_pid is not None, "status": self.status is not None}


def nft_table(ns: Namespace) -> dict[str, Any]:
    proc = ns.run("nft", "-j", "list", "table", "inet", "vnetd", check=False)
    if proc.returncode != 0:
        return {"nftables": []}
    return dict(json.loads(proc.stdout))


def table_chains(ns: Namespace) -> set[str]:
    return {item["chain"]["name"] for item in nft_table(ns)["nftables"] if "chain" in item}


def guard_members(ns: Namespace) -> dict[str, int]:
    """Set members per owning network (the name in each member's comment)."""
    counts: dict[str, int] = {}
    for item in nft_table(ns)["nftables"]:
        for elem in item.get("set", {}).get("elem", []):
            owner = elem.get("elem", {}).get("comment") if isinstance(elem, dict) else None
            if owner:
                counts[owner] = counts.get(owner, 0) + 1
    return counts


def links(ns: Namespace) -> dict[str, dict[str, Any]]:
    data = ns.ip_json("addr", "show")
    assert isinstance(data, list)
    return {link["ifname"]: link for link in data}


def process_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def dnsmasq_processes(ns: Namespace) -> dict[int, str]:
    """Every live dnsmasq in the namespace: pid -> conf file it was started with."""
    found = {}
    for pid in ns.pids():
        argv = cmdline(pid)
        if argv and os.path.basename(argv[0]) == "dnsmasq" and process_alive(pid):
            conf = next((a.split("=", 1)[1] for a in argv if a.startswith("--conf-file=")), "")
            found[pid] = conf
    return found


def daemon_pid(daemon: Daemon) -> int:
    """The vnetd Python process (``ip netns exec`` execs it in place)."""
    assert daemon.process is not None
    pid = daemon.process.pid
    assert "vnetd" in cmdline(pid), cmdline(pid)
    return pid


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def network_state(daemon: Daemon, ns: Namespace, name: str, bridge: str, *,
                  chains: set[str] | None = None,
                  link_map: dict[str, dict[str, Any]] | None = None,
                  members: dict[str, int] | None = None) -> NetState:
    link_map = links(ns) if link_map is None else link_map
    chains = table_chains(ns) if chains is None else chains
    members = guard_members(ns) if members is None else members
    link = link_map.get(bridge)
    addresses = tuple(a["local"] for a in link.get("addr_info", [])
                      if a.get("family") == "inet") if link else ()
    ids = set(chain_ids(name).all())
    pidfile = daemon.state_dir / "dnsmasq" / f"{name}.pid"
    pid = None
    try:
        candidate = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        candidate = None
    if candidate is not None and process_alive(candidate) and \
            any(os.path.basename(a) == "dnsmasq" for a in cmdline(candidate)[:1]):
        pid = candidate
    status_file = daemon.run_dir / "networks" / f"{name}.json"
    status = None
    if status_file.exists():
        status = str(json.loads(status_file.read_text()).get("phase", "running"))
    return NetState(name=name, bridge=link is not None, bridge_addresses=addresses,
                    chains=frozenset(ids & chains), guard=members.get(name, 0),
                    dnsmasq_pid=pid,
                    dnsmasq_conf=(daemon.state_dir / "dnsmasq" / f"{name}.conf").exists(),
                    status=status)


def verdict(state: NetState, *, address: str, nat: bool = True, dnsmasq: bool = True) -> str:
    """``running``, ``stopped``, or a description of what is half there."""
    wanted_chains = set(chain_ids(state.name).all())
    if not nat:
        wanted_chains.discard(chain_ids(state.name).nat)
    running = (state.bridge and address in state.bridge_addresses
               and state.chains == wanted_chains
               and (state.dnsmasq_pid is not None) == dnsmasq
               and (state.guard > 0) == dnsmasq  # DNS on: dnsmasq's guard in place
               and state.status == "running")
    if running:
        return "running"
    stopped = (not state.bridge and not state.chains and not state.guard
               and state.dnsmasq_pid is None and state.status is None)
    if stopped:
        return "stopped"
    return f"inconsistent: {state}"


def temporaries(daemon: Daemon) -> list[Path]:
    return [p for p in daemon.root.rglob(".tmp-*")]


def tree(daemon: Daemon) -> dict[str, str]:
    """Every file and directory under the daemon's three directories with its content
    hash (symlinks by target), for "nothing changed on disk" checks."""
    out: dict[str, str] = {}
    for top in (daemon.config_dir, daemon.run_dir, daemon.state_dir):
        if not top.exists():
            continue
        for path in sorted([top, *top.rglob("*")]):
            rel = str(path.relative_to(daemon.root))
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                out[rel] = f"-> {os.readlink(path)}"
            elif stat.S_ISDIR(mode):
                out[rel] = f"dir {stat.filemode(mode)}"
            elif path.suffix == ".log" or path.name.endswith(".leases"):
                # dnsmasq appends to its own log and lease files on its own schedule.
                out[rel] = "file"
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _scrub(value: Any) -> Any:
    """Drop what changes without anyone changing the configuration (counters, stats)."""
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()
                if k not in ("counter", "stats64", "stats", "handle", "valid_life_time",
                             "preferred_life_time", "operstate")}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _link_facts(link: dict[str, Any]) -> dict[str, Any]:
    """The configured facts of a link; carrier flags and IPv6 link-local addresses come
    and go on their own (DAD, a port's carrier) and are left out."""
    return {
        "ifname": link.get("ifname"), "master": link.get("master"), "mtu": link.get("mtu"),
        "address": link.get("address"), "kind": link.get("link_type"),
        "up": "UP" in link.get("flags", []),
        "addresses": sorted(f"{a.get('local')}/{a.get('prefixlen')}"
                            for a in link.get("addr_info", [])
                            if not str(a.get("local", "")).startswith("fe80:")),
    }


def kernel(ns: Namespace) -> dict[str, Any]:
    """Links with addresses and the whole nft ruleset of a namespace, scrubbed."""
    ruleset = json.loads(ns.run("nft", "-j", "list", "ruleset").stdout or "{}")
    ruleset["nftables"] = [x for x in ruleset.get("nftables", []) if "metainfo" not in x]
    data = ns.ip_json("addr", "show")
    assert isinstance(data, list)
    links = sorted((_link_facts(link) for link in data), key=lambda x: str(x["ifname"]))
    return {"links": links, "nft": _scrub(ruleset)}
