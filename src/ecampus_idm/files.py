"""Files the library writes that may hold personal data or secrets: owner-only, whole.

A listing of default passwords, a plan (names, addresses), a test server's private key:
each is written by :func:`write_private`, readable by its owner only (0600) whatever the
umask and whatever the mode of a file it replaces, and atomically (a reader sees the old
file or the new one, never half of it). :func:`others_may_read` is the check behind the
warnings for files the library did not create.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

__all__ = ["PRIVATE_MODE", "others_may_read", "write_private"]

PRIVATE_MODE = 0o600
"""Read and write for the owner, nothing for group and others."""


def write_private(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` owner-only (0600), replacing any file atomically.

    The data goes to a temporary file of the same folder (created 0600 by
    :func:`tempfile.mkstemp`), is synced, then renamed over ``path``: an existing file
    readable by others is replaced by one that is not, rather than truncated in place
    with its old mode.

    Args:
        path: The file to write; its folder must exist.
        content: The whole content.

    Raises:
        OSError: If the folder is missing or not writable (the temporary file is removed).
    """
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), PRIVATE_MODE)
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def others_may_read(path: Path) -> int | None:
    """The permission bits of ``path`` if its group or others have any right, else ``None``.

    Returns:
        The mode (e.g. ``0o644``) when a bit of ``0o077`` is set; ``None`` when the file
        is owner-only or cannot be examined.
    """
    try:
        bits = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    return bits if bits & 0o077 else None
