"""Errors as napari notifications that say what to do; never a frozen or crashed viewer."""

from __future__ import annotations

import logging

from napari.utils.notifications import show_error, show_info, show_warning

from napari_cathode.core.errors import CathodeError

__all__ = [
    "GPU_OUT_OF_MEMORY",
    "NO_PROJECT",
    "NO_TRUTH",
    "TRAINING_RUNS",
    "is_out_of_memory",
    "notify_error",
    "notify_info",
    "notify_warning",
    "status_label",
]

log = logging.getLogger(__name__)

#: Substrings of torch / CUDA messages that mean the GPU ran out of memory.
_OOM_MARKERS = ("out of memory", "outofmemoryerror", "cuda error: out of memory")

NO_PROJECT = "open or create a project first (Project and classes dock)"
NO_TRUTH = (
    "the project has no ground truth yet: accept a proposal or paint at least one slice on the "
    "truth layer, mark it reviewed, then train"
)
TRAINING_RUNS = (
    "a training round is already running; wait for it to finish or press Stop before starting "
    "another"
)
GPU_OUT_OF_MEMORY = (
    "the GPU ran out of memory while training; retrying on the CPU. For the GPU, lower the patch "
    "size or batch size, or close other programs using it"
)


def status_label(lines: int = 2):
    """A word-wrapped status line whose size never changes with its text.

    A label whose size follows its text makes Qt lay the whole window out again on every
    update, and napari's canvas is redrawn with it (~100 ms per update under software
    OpenGL); a fixed height of ``lines`` lines and an ignored width keep updates local.
    """
    from qtpy.QtWidgets import QLabel, QSizePolicy

    label = QLabel("")
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
    label.setFixedHeight(lines * label.fontMetrics().lineSpacing() + 4)
    return label


def is_out_of_memory(message: str) -> bool:
    """True when an error message means the GPU (or the machine) ran out of memory."""
    text = message.casefold()
    return any(marker in text for marker in _OOM_MARKERS)


def notify_error(error: BaseException | str, *, doing: str = "") -> str:
    """Show ``error`` as a napari error notification and return the text shown.

    A :class:`CathodeError` already names the file or value and what to do; anything else is
    an unexpected failure, logged with its traceback and shown with its type.
    """
    if isinstance(error, CathodeError) or isinstance(error, str):
        text = str(error)
    elif isinstance(error, PermissionError | OSError):
        text = (
            f"{error.strerror or error} ({getattr(error, 'filename', '') or 'file'}): check that "
            "the folder is writable and the disk has space, or choose another folder"
        )
    else:
        log.error("unexpected error while %s", doing or "working", exc_info=error)
        text = f"{type(error).__name__}: {error}"
    if doing:
        text = f"{doing} failed: {text}"
    show_error(text)
    return text


def notify_warning(text: str) -> str:
    """Show a warning notification and return its text."""
    show_warning(text)
    return text


def notify_info(text: str) -> str:
    """Show an information notification and return its text."""
    show_info(text)
    return text
