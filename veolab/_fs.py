"""Small file-system helpers: nothing half-written is ever presented as a finished file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    # read once at import (single-threaded then): os.umask can only be read by setting it
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The file gets the mode a plain ``open(path, "wb")`` would give it (mkstemp's are 0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
            os.fchmod(fh.fileno(), _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path | str, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def check_writable(path: Path | str) -> list[Path]:
    """Raise OSError unless a file could be created at ``path`` (its folder is made if absent).

    Called before paid work, so that a bad output path fails before any money is spent. Returns
    the folders it created (deepest last), so a caller whose work then fails can remove them.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(21, "is a directory", str(path))
    created = [d for d in reversed(path.parent.absolute().parents) if not d.exists()]
    if not path.parent.exists():
        created.append(path.parent.absolute())
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=path.parent)
    except OSError:
        remove_empty_dirs(created)
        raise
    os.close(fd)
    os.unlink(tmp)
    return created


def remove_empty_dirs(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest first) where they are still empty."""
    for d in reversed(folders):
        try:
            d.rmdir()
        except OSError:
            return


def veolab_home() -> Path:
    """``$VEOLAB_HOME`` or ``./.veolab``; a ConfigError when that path is a file."""
    from veolab.errors import ConfigError

    raw = os.environ.get("VEOLAB_HOME")
    home = Path(raw or ".veolab").resolve()
    if home.exists() and not home.is_dir():
        name = f"VEOLAB_HOME={raw}" if raw else f"VEOLAB_HOME is not set and {home}"
        raise ConfigError(f"{name} is a file, not a folder: point it at a folder")
    return home
