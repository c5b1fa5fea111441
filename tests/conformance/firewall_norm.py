"""One comparable form for libvirt's nft/iptables commands and vnetd's nftables JSON.

A rule becomes (family, purpose, matches, verdict): purpose is what the rule is for
(``cross``, ``in`` towards the bridge, ``out`` from the bridge, ``nat``, and the
iptables-only ``host-in``, ``host-out``, ``mangle``); matches is a set of tokens such
as ``iif=virbr0`` or ``daddr!=192.168.122.0/24`` (``iif``/``iifname`` are the same
token: libvirt matched the bridge by index in 10.4-10.8, vnetd by name so that rules
survive a bridge re-creation); counters are dropped. Rules of a purpose keep their
evaluation order (libvirt inserts, so its order is the reverse of its commands).
"""

from __future__ import annotations

import ipaddress
import shlex
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vnetd.firewall.rules import NetworkRules


@dataclass(frozen=True)
class NormRule:
    family: int
    purpose: str
    matches: frozenset[str]
    verdict: str

    @property
    def group(self) -> str | None:
        """The subnet the rule is about, or None for a bridge-wide rule."""
        for field in ("saddr=", "daddr="):  # the source subnet names a nat rule's group
            for token in self.matches:
                if token.startswith(field):
                    return token.split("=", 1)[1]
        return None


Normalized = dict[tuple[int, str], list[NormRule]]


def _net(text: str) -> str:
    return str(ipaddress.ip_network(text.strip("'\""), strict=False))


def _finish(rules: list[NormRule]) -> Normalized:
    out: Normalized = defaultdict(list)
    for rule in rules:
        out[(rule.family, rule.purpose)].append(rule)
    return dict(out)


# --- libvirt's nft command files ------------------------------------------------

NFT_PURPOSE = {"guest_output": "out", "guest_input": "in", "guest_cross": "cross",
               "guest_nat": "nat"}


def read_commands(path: Path) -> list[list[str]]:
    """Commands of a libvirt test file (one argument per line, lines ending in ``\\``)."""
    text = path.read_text().replace("\\\n", " ")
    return [shlex.split(line) for line in text.splitlines() if line.strip()]


def _nft_tokens(words: list[str]) -> tuple[frozenset[str], str]:
    matches: set[str] = set()
    verdict = ""
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("iif", "iifname", "oif", "oifname"):
            matches.add(f"{word[:3]}={words[i + 1]}")
            i += 2
        elif word in ("ip", "ip6") and words[i + 1] in ("saddr", "daddr"):
            if words[i + 2] == "!=":
                matches.add(f"{words[i + 1]}!={_net(words[i + 3])}")
                i += 4
            else:
                matches.add(f"{words[i + 1]}={_net(words[i + 2])}")
                i += 3
        elif word == "meta" and words[i + 1] == "l4proto":
            matches.add(f"l4proto={words[i + 2]}")
            i += 3
        elif word == "ct" and words[i + 1] == "state":
            matches.add("ctstate=" + ",".join(sorted(words[i + 2].split(","))))
            i += 3
        elif word == "counter":
            i += 1
        elif word in ("accept", "reject", "return"):
            verdict = word
            i += 1
        elif word in ("masquerade", "snat"):
            verdict = " ".join(words[i:])
            i = len(words)
        else:
            raise AssertionError(f"unknown nft word {word!r} in {words}")
    return frozenset(matches), verdict


def from_libvirt_nft(path: Path) -> Normalized:
    rules: list[NormRule] = []
    for argv in read_commands(path):
        if "rule" not in argv:
            continue
        at = argv.index("rule")
        family, _table, chain = argv[at + 1:at + 4]
        matches, verdict = _nft_tokens(argv[at + 4:])
        rules.append(NormRule(4 if family == "ip" else 6, NFT_PURPOSE[chain], matches, verdict))
    return _finish(list(reversed(rules)))  # every rule was *inserted*


# --- libvirt 9.0's iptables argument files ----------------------------------------

IPT_PURPOSE = {("filter", "LIBVIRT_FWO"): "out", ("filter", "LIBVIRT_FWI"): "in",
               ("filter", "LIBVIRT_FWX"): "cross", ("nat", "LIBVIRT_PRT"): "nat",
               ("mangle", "LIBVIRT_PRT"): "mangle", ("filter", "LIBVIRT_INP"): "host-in",
               ("filter", "LIBVIRT_OUT"): "host-out"}


def _ipt_rule(argv: list[str]) -> tuple[str, str, frozenset[str], str] | None:
    opts = argv[1:]
    if "--insert" not in opts:
        return None
    table = opts[opts.index("--table") + 1]
    chain = opts[opts.index("--insert") + 1]
    matches: set[str] = set()
    verdict = ""
    negate = False
    i = 0
    while i < len(opts):
        opt = opts[i]
        value = opts[i + 1] if i + 1 < len(opts) else ""
        if opt == "!":
            negate = True
            i += 1
            continue
        if opt in ("--source", "--destination"):
            field = "saddr" if opt == "--source" else "daddr"
            matches.add(f"{field}{'!=' if negate else '='}{_net(value)}")
        elif opt in ("--in-interface", "--out-interface"):
            matches.add(f"{'iif' if opt == '--in-interface' else 'oif'}={value}")
        elif opt in ("-p", "--protocol"):
            matches.add(f"l4proto={value}")
        elif opt == "--destination-port":
            matches.add(f"dport={value}")
        elif opt == "--ctstate":
            matches.add("ctstate=" + ",".join(sorted(value.lower().split(","))))
        elif opt == "--jump":
            verdict = value.lower()
            rest = opts[i + 2:]
            if "--to-ports" in rest:
                verdict += " to :" + rest[rest.index("--to-ports") + 1]
            if "--to-source" in rest:
                verdict = "snat to " + rest[rest.index("--to-source") + 1]
            if "--checksum-fill" in rest:
                verdict += " fill"
            break
        else:
            i += 1
            negate = False
            continue
        negate = False
        i += 2
    return table, chain, frozenset(matches), verdict


def from_libvirt_iptables(path: Path) -> Normalized:
    rules: list[NormRule] = []
    for argv in read_commands(path):
        if not argv or argv[0] not in ("iptables", "ip6tables"):
            continue
        parsed = _ipt_rule(argv)
        if parsed is None:
            continue
        table, chain, matches, verdict = parsed
        rules.append(NormRule(4 if argv[0] == "iptables" else 6, IPT_PURPOSE[(table, chain)],
                              matches, verdict))
    return _finish(list(reversed(rules)))


# --- vnetd's builder output --------------------------------------------------------

def _value(right: Any) -> str:
    if isinstance(right, dict) and "prefix" in right:
        return _net(f"{right['prefix']['addr']}/{right['prefix']['len']}")
    return _net(str(right))


def _vnetd_tokens(expr: tuple[dict[str, Any], ...]) -> tuple[set[int], set[str], str]:
    families = {4, 6}
    matches: set[str] = set()
    verdict = ""
    for item in expr:
        if "match" in item:
            left, right, op = item["match"]["left"], item["match"]["right"], item["match"]["op"]
            if "meta" in left:
                key = left["meta"]["key"]
                if key == "nfproto":
                    families = {4 if right == "ipv4" else 6}
                elif key in ("iifname", "oifname"):
                    matches.add(f"{key[:3]}={right}")
                else:
                    matches.add(f"{key}={right}")
            elif "payload" in left:
                payload = left["payload"]
                families = {4 if payload["protocol"] == "ip" else 6}
                matches.add(f"{payload['field']}{'!=' if op == '!=' else '='}{_value(right)}")
            elif "ct" in left:
                matches.add("ctstate=" + ",".join(sorted(right)))
        elif "counter" in item:
            continue
        elif "masquerade" in item:
            port = (item["masquerade"] or {}).get("port")
            verdict = "masquerade" + (f" to :{port['range'][0]}-{port['range'][1]}"
                                      if port else "")
        elif "snat" in item:
            snat = item["snat"]
            addr = snat["addr"]
            text = "-".join(addr["range"]) if isinstance(addr, dict) else addr
            if "port" in snat:
                text += f":{snat['port']['range'][0]}-{snat['port']['range'][1]}"
            verdict = f"snat to {text}"
        else:
            verdict = next(iter(item))
    return families, matches, verdict


def from_vnetd(rules: NetworkRules, bridge: str) -> Normalized:
    out: list[NormRule] = []
    for chain, chain_rules in rules.chains:
        kind = chain.rsplit("-", 1)[1]
        for rule in chain_rules:
            families, matches, verdict = _vnetd_tokens(rule.expr)
            if kind == "in":  # reached through the oifname dispatch map
                matches.add(f"oif={bridge}")
            elif kind == "out":  # reached through the iifname dispatch map
                matches.add(f"iif={bridge}")
            purpose = "nat" if kind == "nat" else kind
            if kind == "in" and f"iif={bridge}" in matches:
                purpose = "cross"
            out.extend(NormRule(family, purpose, frozenset(matches), verdict)
                       for family in sorted(families))
    return _finish(out)


# --- comparison ----------------------------------------------------------------------

def _shape(rules: list[NormRule]) -> tuple[Counter[NormRule], dict[str | None, list[NormRule]],
                                           list[bool]]:
    """Multiset, per-subnet order, and where the bridge-wide rules sit (e.g. the reject
    after every accept); order between different subnets does not matter."""
    groups: dict[str | None, list[NormRule]] = defaultdict(list)
    for rule in rules:
        groups[rule.group].append(rule)
    pattern: list[bool] = []
    for rule in rules:
        generic = rule.group is None
        if not pattern or pattern[-1] != generic:
            pattern.append(generic)
    return Counter(rules), dict(groups), pattern


def differing_purposes(expected: Normalized, actual: Normalized) -> dict[str, str]:
    """Purpose -> what differs; empty when equivalent."""
    found: dict[str, str] = {}
    for key in sorted(set(expected) | set(actual)):
        want, have = expected.get(key, []), actual.get(key, [])
        if _shape(want) != _shape(have):
            missing = list((Counter(want) - Counter(have)).elements())
            extra = list((Counter(have) - Counter(want)).elements())
            text = (f"ipv{key[0]}: libvirt only {[_show(r) for r in missing]}, "
                    f"vnetd only {[_show(r) for r in extra]}"
                    + ("" if missing or extra else " (order differs)"))
            found[key[1]] = f"{found[key[1]]}; {text}" if key[1] in found else text
    return found


def _show(rule: NormRule) -> str:
    return " ".join(sorted(rule.matches)) + " -> " + rule.verdict
