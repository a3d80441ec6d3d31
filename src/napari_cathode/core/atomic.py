"""Crash-safe file writes: temp file + ``os.replace``, a zarr store built on them, a folder lock.

Every file of a project that is replaced in place (``project.json``, each zarr chunk, each
``zarr.json``, a round's ``model.json``) is written here: the bytes go to a hidden temporary
name in the same folder, are flushed and fsynced, and the temporary file is renamed over the
target with ``os.replace`` (atomic on POSIX and Windows), then the folder is fsynced so the new
name survives a power cut. A reader — or a process restarted after a SIGKILL — sees either the
old file or the new one, never a truncated mix.

Temporary names are ``.<name>.<pid>.<random>.partial``: the process id lets
:func:`remove_stale_temporaries` delete what a killed writer left behind without touching the
files a live writer is still filling. This is the one temp-name scheme of the package: every
file or folder that is renamed into place (a project, a round, an export, a model folder, a
CSV/TIFF written by a library) is staged under it and published by :func:`publish_dir`, so
the stale cleanup knows every kind of leftover.
"""

from __future__ import annotations

import contextlib
import errno
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

__all__ = [
    "TEMPORARY_SUFFIX",
    "AtomicLocalStore",
    "atomic_write_bytes",
    "atomic_write_json",
    "folder_lock",
    "fsync_dir",
    "fsync_tree",
    "is_temporary",
    "publish_dir",
    "remove_stale_siblings",
    "remove_stale_temporaries",
    "staged",
    "temporary_sibling",
]

logger = logging.getLogger(__name__)

#: Suffix of every temporary file or folder this module creates.
TEMPORARY_SUFFIX = ".partial"


#: Marks the temporary name of an old output moved aside while its replacement is published.
_SET_ASIDE = "old-"


def temporary_sibling(path: Path, *, pid: int | None = None, set_aside: bool = False) -> Path:
    """A hidden, unique temporary name beside ``path`` that records the writer's process id.

    ``pid`` defaults to this process (tests pass a dead one to fake a killed writer).
    ``set_aside`` names the old ``path`` moved out of the way by :func:`publish_dir`.
    """
    pid = os.getpid() if pid is None else int(pid)
    unique = (_SET_ASIDE if set_aside else "") + uuid.uuid4().hex[:12]
    return path.parent / f".{path.name}.{pid}.{unique}{TEMPORARY_SUFFIX}"


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
    path: Path | str, data: bytes | memoryview, *, exclusive: bool = False, parents: bool = True
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
    parents : bool
        Create missing folders above ``path``; with False a missing folder is an error.

    Returns
    -------
    int
        Number of bytes written.
    """
    path = Path(path)
    if parents:
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
    if Path(root).is_file():
        with open(root, "rb") as f:
            os.fsync(f.fileno())
        return
    for folder, _dirs, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                os.fsync(f.fileno())
        fsync_dir(Path(folder))


def publish_dir(staging: Path, target: Path, *, replace: bool = False) -> Path:
    """Rename a finished ``staging`` folder (or file) to ``target`` in one step, fsynced.

    The one rename-into-place of the package. ``staging`` must be a :func:`temporary_sibling`
    of ``target`` (same folder, so the rename is atomic). With ``replace``, an existing
    ``target`` is first moved aside under a temporary name and deleted only after the new one
    is in place (restored if the rename fails); without, an existing ``target`` raises
    ``FileExistsError`` and nothing changes. A file replacing a file is one ``os.replace``; a
    file never replaces a folder nor a folder a file (``IsADirectoryError`` /
    ``NotADirectoryError``, as ``os.replace``).

    Returns
    -------
    Path
        ``target``.
    """
    staging, target = Path(staging), Path(target)
    if staging.parent != target.parent or not is_temporary(staging.name):
        raise ValueError(f"{staging} is not a temporary sibling of {target}")
    fsync_tree(staging)
    old = None
    if target.exists() or target.is_symlink():
        if not replace:
            raise FileExistsError(errno.EEXIST, "already exists", str(target))
        if staging.is_dir() != (target.is_dir() and not target.is_symlink()):
            # as os.replace: a folder never replaces a file, nor a file a folder
            kind = IsADirectoryError if target.is_dir() else NotADirectoryError
            raise kind(
                errno.EISDIR if target.is_dir() else errno.ENOTDIR, "kind differs", str(target)
            )
        if staging.is_file():
            os.replace(staging, target)  # a file replaces a file in one atomic step
            fsync_dir(target.parent)
            return target
        old = temporary_sibling(target, set_aside=True)
        os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        if old is not None:
            os.rename(old, target)
        raise
    fsync_dir(target.parent)
    if old is not None:
        _remove_path(old)
    return target


@contextlib.contextmanager
def staged(target: Path, *, folder: bool = True, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``target`` to fill; publish it on a clean exit.

    Temporaries of ``target`` that a killed writer left are removed first. ``folder=True``
    creates the temporary folder; for a file the caller creates it. On an exception the
    temporary is removed and the exception propagates; ``target`` is then unchanged.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(target)
    temporary = temporary_sibling(target)
    if folder:
        temporary.mkdir()
    try:
        yield temporary
        publish_dir(temporary, target, replace=replace)
    except BaseException:
        _remove_path(temporary)
        raise


def _remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def _remove_if_stale(target: Path) -> bool:
    """Delete a temporary file/folder whose writing process is gone; True if removed.

    An old output that :func:`publish_dir` had moved aside when its writer was killed, before
    the replacement was renamed in, is put back instead: the output stays the old one.
    """
    if not is_temporary(target.name):
        return False
    pid = _owner_pid(target.name)
    if pid is None or _pid_alive(pid):
        return False
    name, _pid, unique = target.name[1 : -len(TEMPORARY_SUFFIX)].rsplit(".", 2)
    original = target.parent / name
    if unique.startswith(_SET_ASIDE) and not (original.exists() or original.is_symlink()):
        with contextlib.suppress(OSError):
            os.rename(target, original)
            logger.warning("put back %s, set aside by a writer that was killed", original)
            return True
    try:
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
    except OSError:
        return False
    return True


def remove_stale_temporaries(root: Path, *, recursive: bool = True) -> int:
    """Delete temporary files/folders below ``root`` whose writing process no longer exists.

    ``recursive=False`` looks at the entries of ``root`` itself only.

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
        if not recursive:
            break
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
        _write_key(self.root, key, _buffer_bytes(value))

    async def _atomic_set(self, key: str, value, *, exclusive: bool) -> None:
        import asyncio

        if not self._is_open:
            await self._open()
        self._check_writable()
        await asyncio.to_thread(_write_key, self.root, key, _buffer_bytes(value), exclusive)


def _write_key(root: Path, key: str, data, exclusive: bool = False) -> None:
    """Write one store key atomically, creating its folders below ``root`` but never ``root``.

    zarr writes the chunks of one assignment concurrently and raises on the first failure
    while the others still run; when the caller then removes the half-written store (a
    failed project creation cleaning up), a late write must fail, not recreate the folder.
    """
    folder = Path(root)
    for part in Path(key).parent.parts:
        folder = folder / part
        with contextlib.suppress(FileExistsError):
            folder.mkdir()  # FileNotFoundError once root is gone
    atomic_write_bytes(Path(root) / key, data, exclusive=exclusive, parents=False)


def _buffer_bytes(value):
    # zarr >= 3.1 exposes a zero-copy view; older 3.0.x only ``to_bytes``.
    as_buffer_like = getattr(value, "as_buffer_like", None)
    return as_buffer_like() if as_buffer_like is not None else value.to_bytes()
