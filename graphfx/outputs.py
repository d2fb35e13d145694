"""Checks that an output path can be written, made before a command starts its work.

A command that renders, trains or estimates for minutes must not fail at the
end because its output folder is missing or read-only; these checks turn such
paths into one :class:`OutputError` up front. They test the folder by creating
(and removing) a hidden file in it, which also catches read-only file systems.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Optional

from graphfx.errors import GraphFXError


class OutputError(GraphFXError):
    """An output path that cannot be written."""


def check_output_file(path: Optional[str], option: str = "-o") -> None:
    """Raises :class:`OutputError` unless ``path`` can be created or replaced (``None`` passes).

    The folder must exist already: a typo in it should not create a tree of folders.
    """
    if path is None:
        return
    full = os.path.abspath(os.path.expanduser(str(path)))
    if os.path.isdir(full):
        raise OutputError(f"{option} {path} is a folder; give a file name")
    folder = os.path.dirname(full)
    if not os.path.exists(folder):
        raise OutputError(f"cannot write {option} {path}: folder {_shown(folder)} does not exist")
    if not os.path.isdir(folder):
        raise OutputError(f"cannot write {option} {path}: {_shown(folder)} is a file, not a folder")
    _check_writable(folder, f"cannot write {option} {path}")


def check_output_dir(path: Optional[str], option: str = "--out") -> None:
    """Raises :class:`OutputError` unless ``path`` is a writable folder or can be created as one.

    Missing folders are fine (the command creates them, with their parents) as long as the
    nearest existing one is a writable folder; a file anywhere on the way is not.
    """
    if path is None:
        return
    full = os.path.abspath(os.path.expanduser(str(path)))
    existing = full
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        what = "is a file" if existing == full else f"cannot be created: {_shown(existing)} is a file"
        raise OutputError(f"{option} {path} {what}, not a folder")
    _check_writable(existing, f"cannot write to {option} {path}")


def _check_writable(folder: str, message: str) -> None:
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".graphfx-probe-")
    except OSError as err:
        reason = "permission denied" if isinstance(err, PermissionError) else (err.strerror or str(err))
        raise OutputError(f"{message}: {_shown(folder)} is not writable ({reason})") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def _shown(folder: str) -> str:
    """A folder as the user would type it: relative to the working directory when inside it."""
    relative = os.path.relpath(folder)
    return folder if relative.startswith("..") else relative
