#!/bin/sh
# Side-by-side benchmark of vnetd against libvirt's network driver (tests/bench/run.py).
#   sudo scripts/bench.sh            full run (~15 min), updates tests/bench/RESULTS.md
#   sudo scripts/bench.sh --quick    fewer repetitions
#   sudo scripts/bench.sh --only vnetd
# Installs libvirt for the comparison here, not in the project's setup: the daemon
# (libvirtd, network driver only) runs inside the benchmark's namespaces, never on the host.
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "run as root (network namespaces, bridges, nftables)" >&2
  exit 1
fi
need_libvirt=1
for a in "$@"; do
  [ "$a" = "vnetd" ] && need_libvirt=0
done
# Debian 12 ships libvirt 9.0 with the network driver inside libvirt-daemon;
# libvirt-daemon-system is left out on purpose (it would start libvirtd on the host).
# iptables: libvirt 9 installs its rules by exec'ing it (iptables-nft on Debian 12).
pkgs="busybox dnsmasq-base nftables iproute2 iputils-ping dbus-daemon"
[ "$need_libvirt" -eq 1 ] && pkgs="$pkgs libvirt-daemon libvirt-clients iptables"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing
fi
[ -x .venv/bin/python ] || sh scripts/setup.sh
# Byte-compile as an installed package is (the .deb compiles at install): the editable
# install does not, and with PYTHONDONTWRITEBYTECODE in the environment every daemon
# start would compile each changed module again (~40 ms of a 250 ms cold start).
.venv/bin/python -m compileall -q daemon client tests >/dev/null
exec .venv/bin/python -m tests.bench.run "$@"
