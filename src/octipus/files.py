"""Octipus's files hold secrets, so they are private to its user: the data dir 0700, the
database (and its -wal, -shm), the admin token and the secret key 0600."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from octipus.config import Settings

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077  # files this process creates: 0600; folders: 0700


def use_private_umask() -> None:
    """Every file and folder this process (and the processes it starts) creates is private."""
    os.umask(PRIVATE_UMASK)


def _private_files(settings: Settings) -> list[Path]:
    files = [settings.data_dir / "admin-token", settings.secret_key_file]
    if settings.sqlite_file:
        files.extend(Path(settings.sqlite_file + suffix) for suffix in ("", "-wal", "-shm"))
    return files


def _restrict(path: Path, mode: int) -> None:
    try:
        if path.exists() and path.stat().st_mode & 0o777 != mode:
            os.chmod(path, mode)
    except OSError as exc:
        log.warning("cannot restrict a file's mode", extra={"path": str(path), "error": str(exc)})


def make_data_private(settings: Settings) -> None:
    """Create the data dir 0700 and restrict what an earlier version left readable to others."""
    use_private_umask()
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    _restrict(settings.data_dir, 0o700)
    for path in _private_files(settings):
        _restrict(path, 0o600)
