"""One writer job per project: an OS file lock that dies with the process holding it.

Training, prediction and every other job that writes into a project hold
:func:`project_lock` for as long as they run, whichever front end started them (the
command line, a napari dock, a script). The lock is ``fcntl.flock`` (``msvcrt.locking`` on
Windows) on ``PROJECT/.job.lock``: the operating system releases it when the holder's process
ends, even by SIGKILL or a power cut, so a stale lock can never block a project. Two
acquisitions from one process conflict too (each opens its own file description), so two
docks of one viewer cannot run two trainings on one project either.

The holder writes who it is (process id, command, host, start time) into the lock file, so
a refused job can say who holds the project. Messages name no front-end option: a front end
adds its own hint.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from napari_cathode.core.errors import ProjectError

__all__ = [
    "LOCK_NAME",
    "LockHolder",
    "ProjectBusyError",
    "is_locked",
    "project_lock",
    "read_holder",
]

log = logging.getLogger(__name__)

#: The lock file inside a project folder.
LOCK_NAME = ".job.lock"


class ProjectBusyError(ProjectError):
    """Another job (this process or another one) is writing into the project."""

    def __init__(self, message: str, holder: dict | None = None) -> None:
        super().__init__(message)
        self.holder = holder or {}


@dataclass(frozen=True)
class LockHolder:
    """Who holds a project lock, as written into the lock file."""

    pid: int
    command: str
    host: str
    since: str

    def describe(self) -> str:
        return f"'{self.command}' (process {self.pid} on {self.host}, since {self.since})"


def _try_lock(fd: int) -> bool:
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def read_holder(project_path: str | Path) -> LockHolder | None:
    """The last recorded holder of a project's lock (None if unknown or unreadable)."""
    try:
        data = json.loads((Path(project_path) / LOCK_NAME).read_text())
        return LockHolder(int(data["pid"]), str(data["command"]), str(data["host"]), data["since"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _busy_message(path: Path, command: str, holder: LockHolder | None) -> str:
    who = holder.describe() if holder else "another job (holder unknown)"
    return (
        f"cannot {command}: {path} is in use by {who}; wait for that job to finish or stop it, "
        "then try again (the lock is released as soon as that process ends)"
    )


@contextlib.contextmanager
def project_lock(project_path: str | Path, command: str) -> Iterator[LockHolder]:
    """Hold the project's writer lock for the duration of the block.

    Parameters
    ----------
    project_path : path
        The project folder (must exist).
    command : str
        What the holder does, shown to anyone refused (e.g. ``"train"``, ``"predict"``).

    Yields
    ------
    LockHolder
        The record written for this holder.

    Raises
    ------
    ProjectBusyError
        If another job holds the lock; the message names it.
    ProjectError
        If the lock file cannot be created (missing or read-only project folder).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as project:
    ...     with project_lock(project, "train"):
    ...         print("the round runs here; a second job would be refused")
    the round runs here; a second job would be refused
    """
    path = Path(project_path).expanduser().absolute()
    if not path.is_dir():
        raise ProjectError(f"cannot {command}: {path} is not a project folder")
    lock_path = path / LOCK_NAME
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ProjectError(
            f"cannot {command}: cannot lock {path} ({exc.strerror or exc}); "
            "the project folder must be writable"
        ) from exc
    try:
        if not _try_lock(fd):
            holder = read_holder(path)
            raise ProjectBusyError(
                _busy_message(path, command, holder),
                holder=None if holder is None else holder.__dict__,
            )
        me = LockHolder(
            pid=os.getpid(),
            command=command,
            host=socket.gethostname(),
            since=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        )
        with contextlib.suppress(OSError):  # the record is informative; the lock is what counts
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, json.dumps(me.__dict__).encode())
        log.debug("locked %s for %s", path, command)
        yield me
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def is_locked(project_path: str | Path) -> LockHolder | None:
    """The holder if a job holds the project's lock right now, else None (never blocks)."""
    lock_path = Path(project_path) / LOCK_NAME
    try:
        fd = os.open(lock_path, os.O_RDWR)
    except OSError:
        return None
    try:
        if _try_lock(fd):
            return None
        return read_holder(project_path) or LockHolder(-1, "unknown", "unknown", "unknown")
    finally:
        os.close(fd)
