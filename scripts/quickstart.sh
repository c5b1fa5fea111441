#!/bin/sh
# Debian 12, as root: install what vnetd needs, then run vnetd in the foreground.
# On a fresh install vnetd defines and starts the "default" network (virbr0,
# 192.168.122.1/24, NAT, DHCP), as libvirt's package does.
#
#   sudo ./scripts/quickstart.sh [vnetd options, e.g. --log-level debug]
#
# Set VNETD_SKIP_SETUP=1 when scripts/setup.sh has already run.
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "quickstart: run as root: sudo $0" >&2
  exit 1
fi

[ "${VNETD_SKIP_SETUP:-}" = 1 ] || ./scripts/setup.sh

# Bus policy (only root may own org.vnetd1) and the polkit action for non-root users.
install -D -m 0644 dbus-policy/org.vnetd1.conf /etc/dbus-1/system.d/org.vnetd1.conf
install -D -m 0644 dbus-policy/org.vnetd1.policy /usr/share/polkit-1/actions/org.vnetd1.policy

SOCKET=/run/dbus/system_bus_socket
if [ -S "$SOCKET" ]; then
  # dbus-daemon watches its policy directories, but a reload makes the new policy certain.
  busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
    ReloadConfig >/dev/null 2>&1 || true
else
  echo "quickstart: no system bus running; starting dbus-daemon --system"
  mkdir -p /run/dbus
  rm -f /run/dbus/pid   # a stale pid file from a bus that is gone would stop it
  dbus-daemon --system --fork
  i=0
  while [ ! -S "$SOCKET" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
fi

cat <<MSG
quickstart: starting vnetd in the foreground (Ctrl-C stops the daemon; networks keep running).
In another shell:   .venv/bin/vnetctl net-list --all
MSG
exec .venv/bin/vnetd "$@"
