"""Writing files so that a crash never leaves half of one, nor anything else behind."""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterator

try:
    import fcntl  # POSIX
except ImportError:  # pragma: no cover
    fcntl = None


def user_mode() -> int:
    """The mode a new file gets from ``open``: ``0o666`` less the process umask."""
    mask = os.umask(0)  # the umask can only be read by setting it; put back at once
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = ".tmp") -> Iterator[str]:
    """Yields a hidden temporary path beside ``path``; renames it over ``path`` if the block succeeds.

    The file gets the mode of any file the user creates (``mkstemp`` makes it ``0600``); on any
    failure the temporary file is removed and ``path`` is left as it was.
    """
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".", suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, user_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str, text: str) -> None:
    """Writes ``text`` to a hidden temporary file beside ``path``, then renames it over ``path``."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)


@contextlib.contextmanager
def locked_directory(path: str) -> Iterator[None]:
    """Holds an exclusive lock on the directory ``path`` itself, so no lock file is left behind.

    Serializes the read-merge-write of commands sharing a folder (a no-op where ``flock`` is missing).
    """
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
