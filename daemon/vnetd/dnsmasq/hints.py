"""What to do about a dnsmasq start failure whose cause lies outside the network's XML.

dnsmasq's own words stay first in the error; a hint is appended only for failures an
admin cannot act on from them alone.
"""

from __future__ import annotations

from pathlib import Path

INOTIFY_INSTANCES = Path("/proc/sys/fs/inotify/max_user_instances")


def explain(words: str, *, instances_limit: Path = INOTIFY_INSTANCES) -> str:
    """``words`` (dnsmasq's last log lines), with a hint appended when one is known."""
    if "failed to create inotify" in words:
        # Every dnsmasq that reads resolv.conf watches it with an inotify instance, and
        # all of them run as one user: with the kernel's default of 128 instances per
        # user, about 126 networks with DNS can run (measured on Debian 12).
        try:
            limit = f" (now {int(instances_limit.read_text())})"
        except (OSError, ValueError):
            limit = ""
        return (f"{words}; each running dnsmasq holds one inotify instance and they all "
                f"run as one user, so the sysctl fs.inotify.max_user_instances{limit} "
                f"caps how many networks with DNS can run: raise it to run more")
    return words
