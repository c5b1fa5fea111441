"""Pure rendering of a network's dnsmasq files: conf, DHCP hostsfile and addn-hosts.

``render_config`` emits libvirt's option set in libvirt's line order
(``networkDnsmasqConfContents``, modern forms: bind-dynamic, ``dhcp-range`` with a
netmask and a lease time), so that libvirt's own test corpus can be compared line by
line. What a dnsmasq supervised by vnetd needs on top of that (pid and lease files,
privileges, logging) is appended as a separate, marked section when ``daemon`` is
given; without it the text is exactly the libvirt-compatible part.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidArgument, NotSupported
from ..model import DhcpHost, DnsSrv, IpConfig, NetworkDefinition
from ..paths import Paths
from . import values

#: First line of vnetd's own section; everything above it is libvirt's file.
DAEMON_SECTION_MARKER = "## vnetd: options for a dnsmasq run by vnetd (not in libvirt's file)"

_PRIVATE_NETS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fe80::/10"))


@dataclass(frozen=True)
class DnsmasqFiles:
    """Where one network's dnsmasq files live (all under ``Paths.dnsmasq_dir``)."""

    conf: Path
    hostsfile: Path
    addnhosts: Path
    leases: Path
    pid: Path
    log: Path

    @classmethod
    def for_network(cls, paths: Paths, name: str) -> DnsmasqFiles:
        values.text(name, "network name")
        if "/" in name or name in {"", ".", ".."}:
            raise InvalidArgument(f"network name {name!r}: cannot be used as a file name")
        return cls(
            conf=paths.dnsmasq_file(name, "conf"),
            hostsfile=paths.dnsmasq_file(name, "hostsfile"),
            addnhosts=paths.dnsmasq_file(name, "addnhosts"),
            leases=paths.dnsmasq_file(name, "leases"),
            pid=paths.dnsmasq_file(name, "pid"),
            log=paths.dnsmasq_file(name, "log"),
        )


@dataclass(frozen=True)
class DnsmasqCaps:
    """What the dnsmasq binary can do (libvirt's dnsmasqCaps). vnetd needs bind-dynamic
    (dnsmasq >= 2.67); the restricted form exists to render libvirt's old test cases."""

    bind_dynamic: bool = True


FULL_CAPS = DnsmasqCaps()
RESTRICTED_CAPS = DnsmasqCaps(bind_dynamic=False)


@dataclass(frozen=True)
class DaemonSettings:
    """The extra section of a dnsmasq that vnetd runs itself."""

    user: str
    #: Upstream DNS servers (``upstream.py``) for a dnsmasq that would read resolv.conf.
    servers_file: Path | None = None


def dhcp_ip(definition: NetworkDefinition, version: int) -> IpConfig | None:
    """The one <ip> of a family that serves DHCP (has ranges or hosts), as libvirt picks it;
    two such <ip>s of one family are refused."""
    found: IpConfig | None = None
    for ip in definition.ips_of(version):
        if ip.dhcp is not None and (ip.dhcp.ranges or ip.dhcp.hosts):
            if found is not None:
                raise InvalidArgument(f"ip: for IPv{version}, multiple DHCP definitions "
                                      "cannot be specified")
            found = ip
    return found


def render_config(definition: NetworkDefinition, files: DnsmasqFiles, *,
                  caps: DnsmasqCaps = FULL_CAPS, daemon: DaemonSettings | None = None,
                  guarded: bool = False) -> str:
    """The dnsmasq conf of a network; raises ``InvalidArgument`` on any unsafe value.

    ``guarded``: a firewall drops DNS and TFTP to the bridge's addresses from other
    interfaces (``vnetd.listeners``), and dnsmasq binds with ``bind-interfaces``. The
    conf is otherwise libvirt's, which says ``bind-dynamic``."""
    d = definition
    name = values.text(d.name, "network name")
    bridge = d.bridge_name
    if not bridge:
        raise InvalidArgument(f"network {name!r}: bridge name missing (allocate it first)")
    values.word(bridge, "bridge name")
    for ip in d.ips:
        _ip_address(ip)  # every address is checked, used in a line or not
    dns = d.dns
    want_dns = dns is None or dns.enabled
    lines = [
        "##WARNING:  THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE",
        "##OVERWRITTEN AND LOST.  Changes to this configuration should be made using:",
        f"##    virsh net-edit {name}",
        "## or other application using the libvirt API.",
        "##",
        "## dnsmasq conf file created by libvirt",
        "strict-order",
    ]
    if not want_dns:
        lines.append("port=0")
    if want_dns and dns is not None and dns.forwarders:
        no_resolv = False
        for fwd in dns.forwarders:
            domain = ""
            if fwd.domain is not None:
                domain = f"/{_domain(fwd.domain, 'dns forwarder domain')}/"
            if fwd.addr is not None:
                lines.append(f"server={domain}{values.address(fwd.addr, 'dns forwarder addr')}")
                no_resolv = no_resolv or fwd.domain is None
            else:
                # A domain without an address: answer locally, never forward.
                lines.append(f"server={domain}#")
        if no_resolv:
            lines.append("no-resolv")
    if d.domain is not None:
        domain = _domain(d.domain.name, "domain name")
        if d.domain.local_only:
            lines.append(f"local=/{domain}/")
        lines += [f"domain={domain}", "expand-hosts"]
    if want_dns:
        for ip in d.ips:
            if ip.local_ptr:
                lines.append(f"local=/{values.ptr_domain(_ip_address(ip), ip.prefix_length)}/")
    if want_dns and dns is not None and dns.forward_plain_names is False:
        lines += ["domain-needed", "local=//"]
    lines.append("except-interface=lo")
    if guarded:
        # The firewall drops DNS and TFTP that reach the bridge's addresses from another
        # interface (CVE-2012-3411), so dnsmasq need not watch every address change on
        # the host as bind-dynamic does (see vnetd.listeners).
        lines += ["bind-interfaces", f"interface={bridge}"]
    elif caps.bind_dynamic:
        # bind-dynamic with only interface= answers only on the bridge (CVE-2012-3411).
        lines += ["bind-dynamic", f"interface={bridge}"]
    else:
        lines.append("bind-interfaces")
        for ip in d.ips:
            addr = _ip_address(ip)
            if not any(addr in net for net in _PRIVATE_NETS):
                raise NotSupported(f"ip {addr}: publicly routable address needs dnsmasq with "
                                   "bind-dynamic (CVE-2012-3411)")
            lines.append(f"listen-address={addr}")
    if d.forward is None:
        # Isolated: no default route, no upstream DNS, RA router lifetime 0.
        lines += ["dhcp-option=3", "no-resolv", "ra-param=*,0,0"]
    if want_dns and dns is not None:
        for txt in dns.txts:
            lines.append(f"txt-record={values.field(txt.name, 'dns txt name')},"
                         f"{values.field(txt.value, 'dns txt value')}")
        lines += [_srv_line(srv) for srv in dns.srvs]
    lines += _dhcp_lines(d)
    # Written even when empty, so that hosts added at run time need only a SIGHUP.
    if dhcp_ip(d, 4) is not None or dhcp_ip(d, 6) is not None:
        lines.append(f"dhcp-hostsfile={values.path(str(files.hostsfile), 'hostsfile path')}")
    if want_dns:
        lines.append(f"addn-hosts={values.path(str(files.addnhosts), 'addn-hosts path')}")
    if d.mtu:
        lines.append(f"dhcp-option=option:mtu,{int(d.mtu)}")
    if dhcp_ip(d, 6) is not None:
        lines.append("enable-ra")
    else:
        lines += [f"dhcp-range={_ip_address(ip)},ra-only" for ip in d.ips_of(6)]
    lines += [values.text(opt, "dnsmasq:option value") for opt in d.dnsmasq_options]
    if daemon is not None:
        # Whether this dnsmasq would read resolv.conf: it forwards (port not 0) and no
        # line, libvirt's or the definition's own dnsmasq:options, said otherwise.
        reads_resolv = want_dns and not any(line == "no-resolv" or line.startswith(
            "resolv-file=") for line in lines)
        lines += _daemon_lines(files, daemon, reads_resolv=reads_resolv)
    return "\n".join(lines) + "\n"


def _dhcp_lines(d: NetworkDefinition) -> list[str]:
    lines: list[str] = []
    tftp_enabled = False
    for tftp_ip in d.ips_of(4):
        if tftp_ip.tftp_root is not None:
            if not tftp_enabled:
                lines.append("enable-tftp")
                tftp_enabled = True
            lines.append(f"tftp-root={values.path(tftp_ip.tftp_root, 'ip tftp root')}")
    leases = 0
    for version in (4, 6):
        ip = dhcp_ip(d, version)
        if ip is None or ip.dhcp is None:
            continue
        addr = _ip_address(ip)
        prefix = ip.prefix_length
        for rng in ip.dhcp.ranges:
            start = values.address(rng.start, "dhcp range start")
            end = values.address(rng.end, "dhcp range end")
            if start.version != version or end.version != version:
                raise InvalidArgument(f"dhcp range {start}-{end}: not in the ip's family")
            if int(end) < int(start):
                raise InvalidArgument(f"dhcp range {start}-{end}: start is after end")
            mask = str(prefix) if version == 6 else str(ipaddress.IPv4Network(
                f"0.0.0.0/{prefix}").netmask)
            lease = values.lease_time(rng.lease)
            lines.append(f"dhcp-range={start},{end},{mask}" + (f",{lease}" if lease else ""))
            leases += int(end) - int(start) + 1
        if not ip.dhcp.ranges and ip.dhcp.hosts:
            lines.append(f"dhcp-range={addr},static" + (f",{prefix}" if version == 6 else ""))
        if version == 4:
            lines += ["dhcp-no-override", "dhcp-authoritative"]
            bootp = ip.dhcp.bootp
            if bootp is not None:
                file = values.field(bootp.file, "dhcp bootp file")
                if bootp.server is not None:
                    lines.append(f"dhcp-boot={file},,"
                                 f"{values.address(bootp.server, 'dhcp bootp server')}")
                else:
                    lines.append(f"dhcp-boot={file}")
    if leases > 0:
        lines.append(f"dhcp-lease-max={leases}")
    return lines


def _srv_line(srv: DnsSrv) -> str:
    line = (f"srv-host=_{values.word(srv.service, 'dns srv service')}"
            f"._{values.word(srv.protocol, 'dns srv protocol')}")
    if srv.domain is not None:
        line += f".{_domain(srv.domain, 'dns srv domain')}"
    # An empty or "." target means "no such service here" (RFC 2782): nothing follows.
    if srv.target and srv.target != ".":
        line += f",{values.word(srv.target, 'dns srv target')}"
        port, priority, weight = srv.port or 0, srv.priority or 0, srv.weight or 0
        # Positional fields: a later one given forces the earlier ones (port defaults to 1).
        if port or priority or weight:
            line += f",{int(port) or 1}"
        if priority or weight:
            line += f",{int(priority)}"
        if weight:
            line += f",{int(weight)}"
    return line


def _daemon_lines(files: DnsmasqFiles, daemon: DaemonSettings, *,
                  reads_resolv: bool) -> list[str]:
    upstream: list[str] = []
    if reads_resolv and daemon.servers_file is not None:
        # resolv.conf's nameservers from vnetd's file instead of from resolv.conf:
        # a dnsmasq that reads resolv.conf itself holds an inotify instance, and the
        # per-user limit on those capped a host at ~126 networks (upstream.py).
        upstream = ["no-resolv",
                    f"servers-file={values.path(str(daemon.servers_file), 'servers file')}"]
    return [
        DAEMON_SECTION_MARKER,
        *upstream,
        f"pid-file={values.path(str(files.pid), 'pid file path')}",
        # dnsmasq keeps the leases itself (no libvirt leaseshelper); the file is ours and
        # is kept across dnsmasq and daemon restarts, so guests keep their addresses.
        f"dhcp-leasefile={values.path(str(files.leases), 'lease file path')}",
        # Guests see the names this network defines, never the host's /etc/hosts.
        "no-hosts",
        # Drop root once the sockets are bound; bind-dynamic keeps the capabilities it needs.
        f"user={values.word(daemon.user, 'dnsmasq user')}",
        # stderr goes to the per-network log file the supervisor opened.
        "log-facility=-",
        "quiet-dhcp",
        "quiet-dhcp6",
        "quiet-ra",
        # dnsmasq pings an address before offering it, which delays every first OFFER by
        # about 3 s. On a bridge that only this authoritative dnsmasq numbers, nothing else
        # can hold a range address, so the check buys nothing and costs the first lease
        # (measured: 3.1 s with the ping, 0.08 s without).
        "no-ping",
    ]


def render_hostsfile(definition: NetworkDefinition) -> str:
    """``dhcp-hostsfile`` contents: the static hosts of the DHCP <ip> of each family."""
    lines: list[str] = []
    for version in (4, 6):
        ip = dhcp_ip(definition, version)
        if ip is None or ip.dhcp is None:
            continue
        lines += [line for host in ip.dhcp.hosts if (line := _host_line(host, version))]
    return "".join(f"{line}\n" for line in lines)


def _host_line(host: DhcpHost, version: int) -> str | None:
    if host.ip is None:
        return None  # libvirt writes only hosts with an address
    addr = values.address(host.ip, "dhcp host ip")
    mac = values.field(host.mac, "dhcp host mac") if host.mac is not None else None
    hid = values.field(host.id, "dhcp host id") if host.id is not None else None
    name = values.field(host.name, "dhcp host name") if host.name is not None else None
    if version == 6:
        fields = [f"id:{hid}"] if hid else []
        fields += [name] if name else []
        if not fields:
            raise InvalidArgument(f"dhcp host {addr}: IPv6 host needs an id or a name")
        fields.append(f"[{addr}]")
    elif mac:
        fields = [mac, str(addr)] + ([name] if name else [])
    elif name:
        fields = [name, str(addr)]
    elif hid:
        fields = [f"id:{hid}", str(addr)]
    else:
        raise InvalidArgument(f"dhcp host {addr}: IPv4 host needs a mac, id or name")
    lease = values.lease_time(host.lease)
    if lease:
        fields.append(lease)
    return ",".join(fields)


def render_addnhosts(definition: NetworkDefinition) -> str:
    """``addn-hosts`` contents: one line per address, names in order, as libvirt merges
    <dns><host> elements with the same address."""
    merged: dict[str, list[str]] = {}
    dns = definition.dns
    for host in dns.hosts if dns is not None else ():
        addr = str(values.address(host.ip, "dns host ip"))
        names = merged.setdefault(addr, [])
        names += [values.word(h, "dns host hostname") for h in host.hostnames]
    return "".join(f"{addr}\t{chr(9).join(names)}\n" for addr, names in merged.items() if names)


def _ip_address(ip: IpConfig) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if ip.address is None:
        raise InvalidArgument("ip: address missing")
    return values.address(ip.address, "ip address")


def _domain(value: str, what: str) -> str:
    # Domains sit between slashes (local=/D/, server=/D/addr) and after commas: neither
    # may appear inside one.
    values.word(value, what)
    if "/" in value:
        raise InvalidArgument(f"{what}: {value!r} contains '/'")
    return value
