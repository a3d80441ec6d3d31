"""Look-ups the Train dock runs in worker threads (they import torch) and its plot colours."""

from __future__ import annotations

from pathlib import Path

from napari_cathode.core.errors import ModelError

__all__ = ["count_gpus", "find_starter_model", "theme_colors"]


def find_starter_model() -> Path | None:
    """The shipped starter model folder, or None (run in a worker thread: it imports torch)."""
    try:
        from napari_cathode.ml.starter import starter_model_dir
    except ImportError:
        return None
    try:
        return starter_model_dir()
    except ModelError:
        return None


def count_gpus() -> int:
    """CUDA GPUs torch sees (run in a worker thread: it imports torch)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def theme_colors(viewer) -> dict:
    """napari's theme colours (background, foreground, text, current) as ``#rrggbb``."""
    from napari.utils.theme import get_theme

    try:
        theme = get_theme(viewer.theme)
    except (KeyError, ValueError):  # a theme napari no longer knows: the plot's default
        return {}
    return {
        key: str(getattr(theme, key)) for key in ("background", "foreground", "text", "current")
    }
