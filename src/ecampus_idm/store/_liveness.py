"""Who holds a run lock: the process, so that a crashed holder is recognised at once.

A lock row records its owner as ``host/pid-namespace/pid``. A later start on the *same*
host and PID namespace can tell that the holder's process is gone (killed, out of
memory, the machine's cron job ended) and take its run for crashed without waiting for
the stale horizon. Everything uncertain counts as alive: another host or container
(another namespace), the same process (another thread may be running it), a PID that
exists (even reused by another program), no ``/proc`` (not Linux). The stale horizon
remains the only rule there.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

__all__ = ["current_owner", "owner_gone"]

_FIELDS = ("host", "namespace", "pid")


def current_owner() -> str | None:
    """This process as a lock owner (``host/namespace/pid``), or ``None`` when unknowable."""
    try:
        namespace = Path("/proc/self/ns/pid").stat().st_ino
    except OSError:
        return None
    return f"{socket.gethostname()}/{namespace}/{os.getpid()}"


def owner_gone(owner: str | None) -> bool:
    """Whether ``owner``'s process is certainly gone (same host and namespace, no process)."""
    mine = current_owner()
    parts = (owner or "").rsplit("/", 2)
    if mine is None or len(parts) != len(_FIELDS):
        return False
    host, namespace, pid = parts
    my_host, my_namespace, my_pid = mine.rsplit("/", 2)
    if (host, namespace) != (my_host, my_namespace) or pid == my_pid or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):
        return False  # EPERM: it exists, under another user
    return False
