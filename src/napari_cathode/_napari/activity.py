"""Long jobs in napari's activity panel, without napari's spinner starving the viewer.

Every job (prediction, training, export, analysis) gets a ``napari.utils.progress`` bar, so it
shows in napari's activity panel even when no dock is visible. napari also starts an animated
"in progress" GIF (a ``QMovie``, one frame every 30 ms) while any bar exists. Each frame
repaints the main window, and with software OpenGL (Mesa llvmpipe: remote desktops, VMs,
Xvfb) that repaint re-composites the whole window: measured with a 10 ms heartbeat on the
2-core build VM, the event loop's median stall went from 0.6 ms to 58 ms with the GIF running
and back to 0.6 ms with it paused (``docs/benchmarks.d/gui.md``). So, by default, the GIF is
paused (its first frame stays visible) while our bars run; the bars themselves still update.
Set :data:`ANIMATE_INDICATOR` to True (or the environment variable
``NAPARI_CATHODE_ANIMATE_ACTIVITY=1``) to leave napari's animation alone.
"""

from __future__ import annotations

import os

from napari.utils import progress
from qtpy.QtGui import QMovie
from qtpy.QtWidgets import QApplication, QLabel

__all__ = ["ANIMATE_INDICATOR", "job_progress", "pause_activity_animation"]

#: Leave napari's animated "in progress" indicator running while our jobs run.
ANIMATE_INDICATOR = os.environ.get("NAPARI_CATHODE_ANIMATE_ACTIVITY", "") == "1"


def job_progress(total: int, desc: str) -> progress:
    """A progress bar in napari's activity panel (``total=0``: busy, no count)."""
    bar = progress(total=total, desc=desc)
    if not ANIMATE_INDICATOR:
        pause_activity_animation()
    return bar


def pause_activity_animation() -> int:
    """Pause napari's animated activity indicator(s); returns how many were paused."""
    app = QApplication.instance()
    paused = 0
    for window in app.topLevelWidgets() if app is not None else ():
        for label in window.findChildren(QLabel):
            movie = label.movie()
            if movie is not None and movie.state() == QMovie.MovieState.Running:
                movie.setPaused(True)
                paused += 1
    return paused
