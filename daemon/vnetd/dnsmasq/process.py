"""Low-level process helpers for dnsmasq: spawn detached, identify, read its last words.

Kept apart from the supervisor's policy so that each piece reads on its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import os
import pwd
import signal
import stat
from pathlib import Path

from ..errors import Failed

DEFAULT_BINARY_DIRS = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")
_CHILD_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
# Python ignores SIGPIPE and SIGXFSZ, and ignored dispositions survive exec(): a dnsmasq
# that inherited them would behave unlike one started by anything else.
_RESET_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGHUP, signal.SIGINT,
                  signal.SIGTERM, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
                  signal.SIGCHLD, signal.SIGALRM)
LOG_TRIM_BYTES = 1 << 20


def find_binary() -> str:
    # Here, not at the top: shutil brings bz2, lzma and zlib (~1.8 ms of a daemon's
    # start), and only a network's start looks for dnsmasq (each start, so that one
    # installed after the daemon started is found; shutil is imported once).
    import shutil

    found = shutil.which("dnsmasq")
    if found:
        return found
    for directory in DEFAULT_BINARY_DIRS:
        candidate = Path(directory) / "dnsmasq"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    raise Failed("dnsmasq: program not found (install dnsmasq-base)")


def default_user() -> str:
    """The unprivileged account dnsmasq drops to: ``dnsmasq`` where it exists."""
    try:
        pwd.getpwnam("dnsmasq")
    except KeyError:
        return "nobody"
    return "dnsmasq"


def check_reachable(path: Path, user: str) -> None:
    """dnsmasq re-reads the hosts files after dropping to ``user`` (at start and on SIGHUP):
    every directory above them must let that user through, or it silently serves no hosts."""
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        raise Failed(f"dnsmasq user {user!r} does not exist") from None
    groups = {account.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    for directory in [path.parent, *path.parent.parents]:
        st = directory.stat()
        if st.st_uid == account.pw_uid:
            ok = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid in groups:
            ok = bool(st.st_mode & stat.S_IXGRP)
        else:
            ok = bool(st.st_mode & stat.S_IXOTH)
        if not ok and account.pw_uid != 0:
            raise Failed(f"dnsmasq runs as user {user!r}, which cannot enter {directory} "
                         f"(mode {stat.filemode(st.st_mode)}); make it searchable (o+x)")


def _inherited_fds() -> list[int]:
    """Descriptors that would leak into an exec'd child (not close-on-exec)."""
    leaking = []
    for entry in os.listdir("/proc/self/fd"):
        fd = int(entry)
        if fd <= 2:
            continue
        try:
            if not fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
                leaking.append(fd)
        except OSError:
            continue  # the descriptor listdir itself used
    return leaking


def spawn_detached(argv: list[str], log_path: Path) -> int:
    """Start a program in its own session, stdin from /dev/null, stdout and stderr
    appended to ``log_path`` (a file, never a pipe: the program must outlive us)."""
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
    try:
        if os.fstat(log_fd).st_size > LOG_TRIM_BYTES:
            os.ftruncate(log_fd, 0)
        actions: list[tuple[int, ...] | tuple[int, int, str, int, int]] = [
            (os.POSIX_SPAWN_CLOSE, fd) for fd in _inherited_fds() if fd != log_fd]
        actions += [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, log_fd, 1),
            (os.POSIX_SPAWN_DUP2, log_fd, 2),
        ]
        try:
            return os.posix_spawn(argv[0], argv, _CHILD_ENV, file_actions=actions,
                                  setsid=True, setsigdef=_RESET_SIGNALS, setsigmask=())
        except OSError as exc:
            raise Failed(f"cannot run {argv[0]}: {exc.strerror}") from None
    finally:
        os.close(log_fd)


def log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def log_tail(path: Path, offset: int, *, max_lines: int = 5) -> str:
    """What dnsmasq wrote since ``offset``, its ``dnsmasq:`` prefixes removed."""
    try:
        with path.open("rb") as f:
            f.seek(offset if offset <= path.stat().st_size else 0)
            data = f.read(64 * 1024).decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line.strip() for line in data.splitlines() if line.strip()]
    lines = [line.split(": ", 1)[1] if line.startswith("dnsmasq") and ": " in line else line
             for line in lines]
    return "; ".join(lines[-max_lines:])


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]


def is_dnsmasq_for(pid: int, conf: Path) -> bool:
    """True when ``pid`` is a live dnsmasq started with exactly this conf file."""
    argv = cmdline(pid)
    return bool(argv) and Path(argv[0]).name == "dnsmasq" and f"--conf-file={conf}" in argv


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def reap(pid: int) -> int | None:
    """Collect a child's exit status without blocking; None when it is not our child
    or has not ended."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return os.waitstatus_to_exitcode(status) if done else None


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Replace ``path`` so that a reader (dnsmasq on SIGHUP) never sees a partial file.
    No fsync: dnsmasq's files are rebuilt from the definition at every start and reload,
    and after a power loss nothing runs that could read a stale one (three fsyncs were
    ~2 ms of every network start here: 0.7 ms each on the reference disk)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fchmod(fd, mode)
    os.replace(tmp, path)


def remove_quietly(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
