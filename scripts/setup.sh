#!/bin/sh
# Set up a Debian 12 machine for vnetd: system packages, then .venv/ with the project.
# Run as root from the checkout. Idempotent: re-running only installs what is missing.
set -eu
cd "$(dirname "$0")/.."

APT_PACKAGES="dnsmasq-base nftables python3-nftables libnftables1 python3-venv python3-dev \
  dbus dbus-daemon polkitd busybox bind9-dnsutils isc-dhcp-client ndisc6 iproute2 \
  libsystemd-dev pkg-config gcc procps util-linux iputils-ping socat systemd \
  dpkg-dev lintian"

missing=""
for p in $APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing
fi

# The official nftables binding ships only as a Debian package, so the venv is built on the
# system Python with --system-site-packages; our own pins installed inside take precedence.
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import nftables' 2>/dev/null; then
  rm -rf .venv
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
if [ "${1:-}" = "--test" ]; then
  .venv/bin/python -m pip install -q -e '.[test]'
else
  .venv/bin/python -m pip install -q -e .
fi
# Replace setuptools' editable import hook (it imports pathlib, re and more at every
# interpreter start: ~19 ms on each vnetctl call) by a plain path file naming the two
# package roots; the code is still used in place.
.venv/bin/python -m pip install -q --no-deps -e . --config-settings editable_mode=compat
SITE=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
printf '%s\n%s\n' "$PWD/daemon" "$PWD/client" > "$SITE/vnetd-src.pth"
.venv/bin/python -c 'import vnetd, vnetctl'
# vnetctl starts without site-packages (see packaging/vnetctl-launcher); pip's entry
# script would scan them on every command.
sed -e "s|@PYTHON@|$PWD/.venv/bin/python|" -e "s|@LIBDIR@|$PWD/client|" \
  packaging/vnetctl-launcher > .venv/bin/vnetctl
chmod 0755 .venv/bin/vnetctl
