"""vnetd: a D-Bus daemon that owns the virtual networks of a Linux host."""

__version__ = "0.1.0"
