"""How many torch threads a training process uses: every core, unless the user says fewer."""

from __future__ import annotations

import logging
import os

__all__ = ["THREADS_ENV", "training_threads"]

log = logging.getLogger(__name__)

#: Environment variable that caps the training process's torch threads (default: all cores).
THREADS_ENV = "NAPARI_CATHODE_THREADS"


def training_threads(requested: int | None = None) -> int:
    """Torch threads of a training process (all cores unless the user says fewer).

    ``requested`` if given, else ``$NAPARI_CATHODE_THREADS``, else every core this process may
    run on. The viewer's Qt thread is idle while a round trains (the job is another process and its
    events are read off the Qt thread), so the round gets all cores unless the user says less.
    """
    if requested:
        return max(1, int(requested))
    value = os.environ.get(THREADS_ENV, "").strip()
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            log.warning("%s=%r is not a whole number; using all cores", THREADS_ENV, value)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
