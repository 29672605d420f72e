"""The project's one atomic-write helper: a file appears whole or not at all.

Every output is written to a temporary file in the destination's folder,
flushed to disk (fsync), then renamed over the destination (``os.replace``,
atomic on POSIX and Windows). A run that fails half-way leaves no partial
file, and an earlier good file at the destination stays as it was.
"""
from __future__ import annotations

import os
import stat
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_open", "atomic_write", "atomic_write_bytes", "atomic_write_text"]


def _temp_name(path: Path, tag: str) -> Path:
    return path.with_name(f".{path.name}.{tag}.tmp")


def remove_stale_temps(path: str | os.PathLike) -> int:
    """Delete the temp files an interrupted atomic write of `path` left (a run killed
    mid-write, even by SIGKILL, leaves one); returns how many. Only call it when no
    other process is writing `path`. `path` may be a glob, e.g. ``folder / "step-*.pt"``."""
    path = Path(path)
    stale = list(path.parent.glob(_temp_name(path, "*").name)) if path.parent.is_dir() else []
    for temp in stale:
        temp.unlink(missing_ok=True)
    return len(stale)


def _new_temp(path: Path) -> tuple[int, Path]:
    """Create an empty, uniquely named temp file next to `path`: (fd, its path).

    Created with mode 0o666 minus the umask, as `open` would make `path` itself
    (``tempfile.mkstemp`` makes 0o600, which other users could not read).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = _temp_name(path, secrets.token_hex(4))
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue


def _commit(tmp: Path, path: Path) -> None:
    """fsync `tmp`, rename it over `path`, then fsync the folder (best effort) so the rename lasts."""
    fd = os.open(tmp, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # e.g. Windows: folders cannot be opened
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def atomic_write(path: str | os.PathLike, write: Callable[[str], Any]) -> Path:
    """Call ``write(tmp)`` with the path of a temp file next to `path`, fsync it, rename it over `path`.

    ``write`` must write the whole file at the path it is given (e.g.
    ``lambda tmp: torch.save(obj, tmp)``). Folders are created. If ``write``
    raises, the temp file is removed, `path` is untouched, and the error propagates.

    Returns `path` as a Path.
    """
    path = Path(path)
    fd, tmp = _new_temp(path)
    os.close(fd)
    mode = stat.S_IMODE(os.stat(tmp).st_mode)
    try:
        write(str(tmp))
        if stat.S_IMODE(os.stat(tmp).st_mode) != mode:  # a writer that recreated the file (safetensors: 0o600)
            os.chmod(tmp, mode)
        _commit(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = None,
                newline: str | None = None) -> Iterator[IO]:
    """``with atomic_open(path, "w") as f:`` -- a file object on a temp file that replaces `path`
    when the block ends without an error (and is removed, `path` untouched, when it raises).

    Args:
        mode: "w" (text; `encoding` defaults to UTF-8) or "wb".
        newline: as for `open`, text mode only.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open: mode must be 'w' or 'wb', not {mode!r}")
    path = Path(path)
    fd, tmp = _new_temp(path)
    try:
        if mode == "wb":
            f = os.fdopen(fd, "wb")
        else:
            f = os.fdopen(fd, "w", encoding=encoding or "utf-8", newline=newline)
        with f:
            yield f
        _commit(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically (UTF-8 by default, whatever the locale)."""
    with atomic_open(path, "w", encoding=encoding, newline="") as f:
        f.write(text)
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically."""
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)
