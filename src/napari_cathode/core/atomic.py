"""Crash-safe file writes: temp file + ``os.replace``, a zarr store built on them, a folder lock.

Every file of a project that is replaced in place (``project.json``, each zarr chunk, each
``zarr.json``, a round's ``model.json``) is written here: the bytes go to a hidden temporary
name in the same folder, are flushed and fsynced, and the temporary file is renamed over the
target with ``os.replace`` (atomic on POSIX and Windows), then the folder is fsynced so the new
name survives a power cut. A reader — or a process restarted after a SIGKILL — sees either the
old file or the new one, never a truncated mix.

Temporary names are ``.<name>.<pid>.<random>.partial``: the process id lets
:func:`remove_stale_temporaries` delete what a killed writer left behind without touching the
files a live writer is still filling.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from zarr.storage import LocalStore

logger = logging.getLogger(__name__)

#: Suffix of every temporary file or folder this module creates.
TEMPORARY_SUFFIX = ".partial"


def temporary_sibling(path: Path) -> Path:
    """A hidden, unique temporary name beside ``path`` that records this process id."""
    return path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}{TEMPORARY_SUFFIX}"


def is_temporary(name: str) -> bool:
    """Whether a file or folder name is a temporary name made by :func:`temporary_sibling`."""
    return name.startswith(".") and name.endswith(TEMPORARY_SUFFIX)


def _owner_pid(name: str) -> int | None:
    parts = name[: -len(TEMPORARY_SUFFIX)].split(".")
    try:
        return int(parts[-2])
    except (IndexError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but is not ours, or we cannot tell: keep its files
    return True


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries to disk (POSIX; a no-op where folders cannot be opened)."""
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(
    path: Path | str, data: bytes | memoryview, *, exclusive: bool = False
) -> int:
    """Write ``data`` to ``path`` so that ``path`` is always either the old or the new content.

    Parameters
    ----------
    path : Path or str
        Target file; its folder is created if missing.
    data : bytes-like
        The whole new content.
    exclusive : bool
        Fail with ``FileExistsError`` instead of replacing an existing file.

    Returns
    -------
    int
        Number of bytes written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    try:
        with open(tmp, "wb") as f:
            written = f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            os.link(tmp, path)  # raises FileExistsError, never overwrites
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
    return written


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} {value!r} cannot be written as JSON")


def atomic_write_json(path: Path | str, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically (numpy scalars/arrays and paths are converted)."""
    text = json.dumps(obj, indent=2, default=_json_default, allow_nan=True)
    atomic_write_bytes(path, (text + "\n").encode("utf-8"))


def fsync_tree(root: Path) -> None:
    """fsync every file and folder below ``root`` (before a folder is renamed into place)."""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                os.fsync(f.fileno())
        fsync_dir(Path(folder))


def _remove_if_stale(target: Path) -> bool:
    """Delete a temporary file/folder whose writing process is gone; True if removed."""
    if not is_temporary(target.name):
        return False
    pid = _owner_pid(target.name)
    if pid is None or _pid_alive(pid):
        return False
    try:
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
    except OSError:
        return False
    return True


def remove_stale_temporaries(root: Path) -> int:
    """Delete temporary files/folders below ``root`` whose writing process no longer exists.

    Returns
    -------
    int
        How many were removed.
    """
    removed = 0
    for folder, dirs, files in os.walk(root):
        for name in [*files, *dirs]:
            if _remove_if_stale(Path(folder) / name):
                removed += 1
                if name in dirs:
                    dirs.remove(name)
    if removed:
        logger.info("removed %d temporary file(s) left by a killed writer in %s", removed, root)
    return removed


def remove_stale_siblings(path: Path) -> int:
    """Delete temporaries of ``path`` itself (``.<name>.<pid>...``) left by a killed writer."""
    if not path.parent.is_dir():
        return 0
    prefix = f".{path.name}."
    return sum(
        _remove_if_stale(entry) for entry in path.parent.iterdir() if entry.name.startswith(prefix)
    )


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``folder/.lock`` (between processes and threads).

    Used around read-modify-write of small shared files (per-slice review state,
    ``project.json``, round numbering) that the viewer and a job process may update together.
    """
    lock_path = Path(folder) / ".lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if os.name == "nt":  # pragma: no cover - exercised on Windows only
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


class AtomicLocalStore(LocalStore):
    """A zarr ``LocalStore`` whose every key (chunk or metadata) is replaced atomically and fsynced.

    zarr-python only renames chunk files into place since 3.1.3 (zarr-python PR #3412) and
    never fsyncs; the project allows zarr>=3.0, and painting writes ground truth through to
    disk stroke by stroke, so a kill or power cut mid-write must not leave a truncated chunk
    that fails to decode. Overriding the three public write entry points is enough: zarr
    writes nothing through any other path of a local store.
    """

    async def set(self, key: str, value) -> None:
        await self._atomic_set(key, value, exclusive=False)

    async def set_if_not_exists(self, key: str, value) -> None:
        with contextlib.suppress(FileExistsError):
            await self._atomic_set(key, value, exclusive=True)

    def set_sync(self, key: str, value) -> None:
        self._ensure_open_sync()
        self._check_writable()
        atomic_write_bytes(self.root / key, _buffer_bytes(value))

    async def _atomic_set(self, key: str, value, *, exclusive: bool) -> None:
        import asyncio

        if not self._is_open:
            await self._open()
        self._check_writable()
        await asyncio.to_thread(
            atomic_write_bytes, self.root / key, _buffer_bytes(value), exclusive=exclusive
        )


def _buffer_bytes(value):
    # zarr >= 3.1 exposes a zero-copy view; older 3.0.x only ``to_bytes``.
    as_buffer_like = getattr(value, "as_buffer_like", None)
    return as_buffer_like() if as_buffer_like is not None else value.to_bytes()
