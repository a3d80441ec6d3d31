"""Make a child process die with its parent (Linux: the kernel's parent-death signal).

Used by every child that can publish into a project (the training worker and its
data-parallel ranks), so that SIGKILL of the command a user started never lets a round appear later.
Elsewhere the callers rely on a pipe watchdog (see ``jobs/training_worker.py``).
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import signal
import sys
from collections.abc import Callable

__all__ = ["die_with_parent", "preexec_die_with_parent"]

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


@functools.cache
def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - exotic libc
        return None


def die_with_parent(parent_pid: int | None = None) -> bool:
    """Ask for SIGKILL when the parent process dies; exit now if it already has.

    Parameters
    ----------
    parent_pid : int, optional
        The expected parent; if the process was already re-parented, it exits at once.

    Returns
    -------
    bool
        Whether the kernel will signal this process (Linux only).
    """
    libc = _libc()
    armed = libc is not None and libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(70)
    return armed


def preexec_die_with_parent() -> Callable[[], None] | None:
    """A ``subprocess.Popen(preexec_fn=...)`` arming the parent-death signal (None off Linux).

    The C library is loaded here, in the parent: the function run between fork and exec only
    makes the one system call.
    """
    libc = _libc()
    if libc is None:
        return None
    signal_number = int(signal.SIGKILL)
    return lambda: libc.prctl(_PR_SET_PDEATHSIG, signal_number, 0, 0, 0)
