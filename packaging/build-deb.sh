#!/bin/sh
# Build vnetd_<version>_all.deb with dpkg-deb from a staged tree (no debhelper needed).
#
#   packaging/build-deb.sh [OUTPUT_DIR]          (default: dist/)
#
# Layout of the package:
#   /usr/bin/vnetd, /usr/bin/vnetctl          small Python launchers
#   /usr/lib/vnetd/                           vnetd and vnetctl packages, plus vendored
#                                             dbus-fast and pyroute2 (pure Python)
#   /lib/systemd/system/vnetd.service
#   /usr/share/dbus-1/system.d/org.vnetd1.conf          bus policy
#   /usr/share/dbus-1/system-services/org.vnetd1.service D-Bus activation
#   /usr/share/polkit-1/actions/org.vnetd1.policy
#   /usr/share/vnetd/networks/default.xml     libvirt's default network
#   /usr/share/bash-completion/completions/vnetctl
#
# Why vendor: Debian 12 ships pyroute2 0.7 (no asyncio API) and no dbus-fast. Both are
# copied from the project's virtual environment (scripts/setup.sh makes it; another
# site-packages directory can be given in VNETD_VENDOR_SITE). dbus-fast's compiled
# speed-ups are left out: its pure-Python modules are the same API, and they keep the
# package architecture-independent. lxml, nftables and systemd come from Debian.
set -eu
cd "$(dirname "$0")/.."
REPO=$(pwd)
OUT=${1:-dist}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

VERSION=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
SITE=${VNETD_VENDOR_SITE:-$(ls -d "$REPO"/.venv/lib/python3*/site-packages 2>/dev/null | head -n 1)}
VENDORED="dbus_fast pyroute2"
for pkg in $VENDORED; do
  [ -d "$SITE/$pkg" ] || { echo "build-deb: $pkg not found in '$SITE' (run scripts/setup.sh or set VNETD_VENDOR_SITE)" >&2; exit 1; }
done

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
ROOT=$STAGE/vnetd
LIB=$ROOT/usr/lib/vnetd
DOC=$ROOT/usr/share/doc/vnetd

install -d "$ROOT/DEBIAN" "$ROOT/usr/bin" "$LIB" "$DOC" \
  "$ROOT/lib/systemd/system" "$ROOT/usr/share/dbus-1/system.d" \
  "$ROOT/usr/share/dbus-1/system-services" "$ROOT/usr/share/polkit-1/actions" \
  "$ROOT/usr/share/vnetd/networks" "$ROOT/usr/share/bash-completion/completions"

# --- Python code -------------------------------------------------------------------
cp -r daemon/vnetd client/vnetctl "$LIB/"
for pkg in $VENDORED; do
  cp -r "$SITE/$pkg" "$LIB/"
  dist=$(ls -d "$SITE/$pkg"-*.dist-info | head -n 1)
  install -d "$DOC/vendor/$pkg"
  cp "$dist/METADATA" "$DOC/vendor/$pkg/"
  find "$dist" -path '*licenses*' -type f -exec cp {} "$DOC/vendor/$pkg/" \;
done
# Compiled extensions and their sources stay out (architecture independence); byte code
# is compiled on the target by postinst.
find "$LIB" \( -name '__pycache__' -o -name '*.egg-info' \) -type d -prune -exec rm -rf {} +
find "$LIB" \( -name '*.so' -o -name '*.c' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.pyc' \) \
  -type f -delete
rm -f "$LIB/vnetctl/completion.bash"
# Vendored modules are imported, never run: drop their "#!/usr/bin/env python" lines.
grep -rlZ '^#!' "$LIB" --include='*.py' | xargs -0 -r sed -i '1{/^#!/d}'

cat > "$ROOT/usr/bin/vnetd" <<EOF
#!/usr/bin/python3 -I
"""vnetd launcher: the code lives in a private directory beside this script's prefix."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "lib", "vnetd"))
from vnetd.main import main  # noqa: E402

sys.exit(main())
EOF
sed -e "s|@PYTHON@|/usr/bin/python3|" -e "s|@LIBDIR@|../lib/vnetd|" packaging/vnetctl-launcher \
  > "$ROOT/usr/bin/vnetctl"
chmod 0755 "$ROOT/usr/bin/vnetd" "$ROOT/usr/bin/vnetctl"

# --- system integration files ----------------------------------------------------
install -m 0644 systemd/vnetd.service "$ROOT/lib/systemd/system/vnetd.service"
install -m 0644 systemd/org.vnetd1.service "$ROOT/usr/share/dbus-1/system-services/org.vnetd1.service"
install -m 0644 dbus-policy/org.vnetd1.conf "$ROOT/usr/share/dbus-1/system.d/org.vnetd1.conf"
install -m 0644 dbus-policy/org.vnetd1.policy "$ROOT/usr/share/polkit-1/actions/org.vnetd1.policy"
install -m 0644 packaging/default.xml "$ROOT/usr/share/vnetd/networks/default.xml"
install -m 0644 client/vnetctl/completion.bash "$ROOT/usr/share/bash-completion/completions/vnetctl"

# --- documentation -----------------------------------------------------------------
install -m 0644 README.md "$DOC/README.md"
cat > "$DOC/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: vnetd
Source: https://github.com/vnetd/vnetd

Files: *
Copyright: 2026 vnetd authors
License: GPL-2+

Files: usr/lib/vnetd/dbus_fast/*
Copyright: 2019-2026 dbus-next and dbus-fast authors
License: Expat
Comment: vendored from PyPI dbus-fast; see /usr/share/doc/vnetd/vendor/dbus_fast/

Files: usr/lib/vnetd/pyroute2/*
Copyright: 2012-2026 Peter Saveliev and pyroute2 contributors
License: GPL-2+ or Apache-2.0
Comment: vendored from PyPI pyroute2; see /usr/share/doc/vnetd/vendor/pyroute2/

License: GPL-2+
 On Debian systems, the full text of the GNU General Public License version 2
 can be found in /usr/share/common-licenses/GPL-2.

License: Apache-2.0
 On Debian systems, the full text of the Apache License version 2.0 can be
 found in /usr/share/common-licenses/Apache-2.0.

License: Expat
 The full text is in /usr/share/doc/vnetd/vendor/dbus_fast/LICENSE.
EOF
DATE=$(date -R -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")
cat > "$STAGE/changelog" <<EOF
vnetd ($VERSION) unstable; urgency=medium

  * Package built from the vnetd source tree.

 -- vnetd maintainers <vnetd@example.org>  $DATE
EOF
gzip -9n -c "$STAGE/changelog" > "$DOC/changelog.gz"
chmod 0644 "$DOC/changelog.gz"

# --- control data ------------------------------------------------------------------
SIZE=$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
cat > "$ROOT/DEBIAN/control" <<EOF
Package: vnetd
Version: $VERSION
Architecture: all
Maintainer: vnetd maintainers <vnetd@example.org>
Installed-Size: $SIZE
Depends: python3 (>= 3.11), python3-lxml, python3-nftables, python3-systemd, dnsmasq-base, nftables, dbus
Recommends: polkitd
Section: net
Priority: optional
Homepage: https://github.com/vnetd/vnetd
Description: virtual network daemon with libvirt-compatible networks over D-Bus
 vnetd owns the virtual networks of a host the way libvirt's network driver
 does: a network is libvirt network XML; starting it builds a Linux bridge,
 installs nftables NAT or routing rules in vnetd's own table and runs a
 supervised dnsmasq for DHCP and DNS. It is driven over D-Bus (org.vnetd1)
 and by vnetctl, which speaks virsh's net-* commands.
EOF

cat > "$ROOT/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = "configure" ]; then
	python3 -m compileall -q /usr/lib/vnetd >/dev/null 2>&1 || true
fi
if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ] || [ "$1" = "abort-deconfigure" ] || [ "$1" = "abort-remove" ]; then
	deb-systemd-helper unmask 'vnetd.service' >/dev/null || true
	if deb-systemd-helper --quiet was-enabled 'vnetd.service'; then
		deb-systemd-helper enable 'vnetd.service' >/dev/null || true
	else
		deb-systemd-helper update-state 'vnetd.service' >/dev/null || true
	fi
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		# A restart keeps running networks: the unit uses KillMode=process.
		if [ -n "$2" ]; then action=restart; else action=start; fi
		deb-systemd-invoke "$action" 'vnetd.service' >/dev/null || true
	fi
fi
exit 0
EOF
cat > "$ROOT/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
	deb-systemd-invoke stop 'vnetd.service' >/dev/null || true
fi
find /usr/lib/vnetd -name __pycache__ -type d -prune -exec rm -rf {} + 2>/dev/null || true
exit 0
EOF
cat > "$ROOT/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = "remove" ]; then
	deb-systemd-helper mask 'vnetd.service' >/dev/null || true
fi
if [ "$1" = "purge" ]; then
	deb-systemd-helper purge 'vnetd.service' >/dev/null || true
	deb-systemd-helper unmask 'vnetd.service' >/dev/null || true
	rm -rf /var/lib/vnetd /etc/vnetd
fi
exit 0
EOF
chmod 0755 "$ROOT/DEBIAN/postinst" "$ROOT/DEBIAN/prerm" "$ROOT/DEBIAN/postrm"

find "$ROOT" -type d -exec chmod 0755 {} +
find "$ROOT/usr/lib/vnetd" "$ROOT/usr/share" "$ROOT/lib" -type f -exec chmod 0644 {} +

DEB="$OUT/vnetd_${VERSION}_all.deb"
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$DEB" >/dev/null
echo "$DEB"
