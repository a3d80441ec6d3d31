"""A live plot of a training round: loss per step and validation Dice per class.

Drawing a matplotlib figure takes 30-150 ms of CPU (more on a busy machine), far too long for
the Qt thread while steps stream in. So the figure is drawn off the Qt thread with the Agg
backend (one figure, only ever touched by one render at a time) and the Qt thread only shows
the finished picture in a label. While a render runs, newer data waits for the next one.
"""

from __future__ import annotations

import time

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from napari.qt.threading import thread_worker
from qtpy.QtCore import Qt
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import QLabel

#: Redraw at most this often while steps stream in (validations and the end always redraw).
REDRAW_SECONDS = 0.5


class _Figure:
    """The matplotlib side: a figure with a loss panel and a Dice panel (no Qt)."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(4, 2.4), dpi=100)
        self.canvas = FigureCanvasAgg(self.figure)
        self.figure.subplots_adjust(left=0.12, right=0.98, bottom=0.2, top=0.88, wspace=0.35)
        self.loss_axes = self.figure.add_subplot(1, 2, 1)
        self.dice_axes = self.figure.add_subplot(1, 2, 2)
        for axes, title in ((self.loss_axes, "loss"), (self.dice_axes, "validation Dice")):
            axes.set_title(title, fontsize=9)
            axes.set_xlabel("step", fontsize=8)
            axes.tick_params(labelsize=7)
        (self.loss_line,) = self.loss_axes.plot([], [], lw=1)
        self.dice_lines: dict = {}

    def render(self, steps, losses, dice) -> tuple[bytes, int, int]:
        """Draw the data; returns RGBA bytes, width, height."""
        for name in [n for n in self.dice_lines if n not in dice]:
            self.dice_lines.pop(name).remove()
        for name, points in dice.items():
            if name not in self.dice_lines:
                (self.dice_lines[name],) = self.dice_axes.plot([], [], marker="o", ms=3, lw=1)
                self.dice_lines[name].set_label(name)
            self.dice_lines[name].set_data(*zip(*points))
        legend = self.dice_axes.get_legend()
        if legend is not None:
            legend.remove()
        if self.dice_lines:
            self.dice_axes.legend(fontsize=7, loc="lower right")
        self.loss_line.set_data(steps, losses)
        for axes in (self.loss_axes, self.dice_axes):
            axes.relim()
            axes.autoscale_view()
        self.dice_axes.set_ylim(0, 1)
        self.canvas.draw()
        width, height = self.canvas.get_width_height()
        return bytes(self.canvas.buffer_rgba()), width, height


class TrainingPlot(QLabel):
    """Qt widget showing the round's loss and validation Dice, rendered in a worker thread."""

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumHeight(200)
        self.setAlignment(Qt.AlignCenter)
        self._figure = _Figure()
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.dice: dict[str, list[tuple[int, float]]] = {}
        self._last_draw = 0.0
        self._worker = None
        self._dirty = False
        self.renders = 0
        self.clear()

    @property
    def busy(self) -> bool:
        """True while a picture is being rendered or waits to be."""
        return self._worker is not None or self._dirty

    def clear(self) -> None:
        """Start an empty plot for a new round."""
        self.steps, self.losses, self.dice = [], [], {}
        self._redraw(force=True)

    def add_loss(self, step: int, loss: float) -> None:
        """Append one optimiser step's loss."""
        self.steps.append(int(step))
        self.losses.append(float(loss))
        self._redraw()

    def add_dice(self, step: int, dice: dict[str, float | None]) -> None:
        """Append a validation's Dice per class (None = class absent from validation truth)."""
        for name, value in dice.items():
            if value is not None:
                self.dice.setdefault(name, []).append((int(step), float(value)))
        self._redraw(force=True)

    def finish(self) -> None:
        """Draw whatever is pending (at the end of a round)."""
        self._redraw(force=True)

    def _redraw(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < REDRAW_SECONDS:
            return
        if self._worker is not None:
            self._dirty = True  # drawn when the running render ends
            return
        self._last_draw = now
        self._dirty = False
        snapshot = (list(self.steps), list(self.losses), {k: list(v) for k, v in self.dice.items()})
        worker = thread_worker(self._figure.render, start_thread=False, ignore_errors=True)(
            *snapshot
        )
        worker.returned.connect(self._show)
        worker.finished.connect(self._rendered)
        self._worker = worker
        worker.start()

    def _show(self, picture: tuple[bytes, int, int]) -> None:
        data, width, height = picture
        image = QImage(data, width, height, QImage.Format_RGBA8888).copy()
        self.setPixmap(QPixmap.fromImage(image))
        self.renders += 1

    def _rendered(self) -> None:
        self._worker = None
        if self._dirty:
            self._redraw(force=True)
