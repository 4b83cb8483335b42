"""Files and folders that hold the index (and, for `vaultauth dev`, OpenBao's data): private.

The data dir is created 0700 and the SQLite index 0600 (SQLite gives its -wal and -shm files the
index file's mode), whatever the process umask. An existing folder is left as it is (it may be
one the operator chose, such as a mounted volume); an existing index file is tightened to 0600.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("vaultauth.files")


def private_dir(path: Path) -> None:
    """Create `path` (and its parents) with mode 0700 when it does not exist yet."""
    if path.is_dir():
        if path.stat().st_mode & 0o077:
            log.warning("the data dir can be read by other users; chmod 700 it")
        return
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)  # mkdir's mode is filtered by the umask


def private_file(path: Path) -> None:
    """Make sure `path` exists with mode 0600 before anything writes to it."""
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(0o600)
        return
    os.close(descriptor)
    path.chmod(0o600)  # os.open's mode is filtered by the umask
