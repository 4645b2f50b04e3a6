"""Failed writes in a user's words: "the disk is full (N MB free in ...)" or "the folder ...
cannot be written (...)", for the run store, its checkpoints and the CLI alike.

torch.save does not raise OSError on a full disk: its zip writer fails with a RuntimeError such
as "[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534", which is recognised
by its text. SQLite says "database or disk is full" (SQLITE_FULL).
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from pathlib import Path

FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # no space, over quota, file too large
IN_THE_WAY_ERRNOS = (errno.ENOTDIR, errno.EEXIST)  # a plain file where a folder should be
UNWRITABLE_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR)
TORCH_FULL_TEXTS = ("No space left on device", "file write failed", "inline_container")
# SQLite's primary result codes (the low byte of sqlite_errorcode)
SQLITE_FULL, SQLITE_IOERR, SQLITE_READONLY, SQLITE_CANTOPEN = 13, 10, 8, 14
NEARLY_FULL_MB = 1  # an SQLite I/O error with less free space than this is a full disk


def free_mb(folder: str | Path) -> int:
    """Free megabytes on the disk holding folder (or its nearest existing parent)."""
    path = Path(folder).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free >> 20
    except OSError:
        return 0


def describe(error: BaseException, folder: str | Path) -> str | None:
    """What a failed write into folder means, in words; None if it is no disk problem.

    An OSError naming its file is described for that file's folder instead."""
    if isinstance(error, OSError) and error.filename:
        name = Path(os.fsdecode(error.filename))
        folder = name if error.errno == errno.EEXIST else name.parent
    full = f"the disk is full ({free_mb(folder)} MB free in {folder})"
    if isinstance(error, sqlite3.Error):
        code = (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF
        if code == SQLITE_FULL or (code == SQLITE_IOERR and free_mb(folder) < NEARLY_FULL_MB):
            return full
        if code in (SQLITE_IOERR, SQLITE_READONLY, SQLITE_CANTOPEN):
            return f"the folder {folder} cannot be written ({error})"
        return None
    if isinstance(error, OSError):
        if error.errno in FULL_ERRNOS:
            return full
        if error.errno in IN_THE_WAY_ERRNOS:
            return f"the folder {folder} cannot be written (a file of that name is in the way)"
        if error.errno in UNWRITABLE_ERRNOS:
            return f"the folder {folder} cannot be written ({error.strerror})"
        return None
    if isinstance(error, RuntimeError) and any(t in str(error) for t in TORCH_FULL_TEXTS):
        return full
    return None
