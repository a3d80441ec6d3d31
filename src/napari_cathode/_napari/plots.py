"""A live plot of a training round: smoothed loss per step and validation Dice per class.

Drawing a matplotlib figure takes 30-150 ms of CPU (more on a busy machine), far too long for
the Qt thread while steps stream in. So the figure is drawn off the Qt thread with the Agg
backend (one figure, only ever touched by one render at a time) and the Qt thread only shows
the finished picture in a label. While a render runs, newer data waits for the next one.

The plot takes napari's theme colours; before the first step it shows a line of text, not
empty axes. The loss is drawn faint as it comes and bold as an exponential moving average
(the smoothing TensorBoard uses); each class's Dice line has the class's colour.
"""

from __future__ import annotations

import time

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from napari.qt.threading import thread_worker
from qtpy.QtCore import Qt
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import QLabel, QSizePolicy

__all__ = ["DARK", "EMPTY_TEXT", "REDRAW_SECONDS", "SMOOTHING", "TrainingPlot", "smoothed"]

#: Redraw at most this often while steps stream in (validations and the end always redraw).
REDRAW_SECONDS = 0.5
#: Weight of the past in the loss's moving average.
SMOOTHING = 0.9
EMPTY_TEXT = "No round trained yet.\nPress Train a round: the loss and validation Dice appear here."
#: napari's dark theme, used when no viewer theme is given.
DARK = {"background": "#23242b", "foreground": "#2e333e", "text": "#f0f1f2", "current": "#4560c4"}


def smoothed(values, weight: float = SMOOTHING) -> np.ndarray:
    """Exponential moving average with bias correction (the first points are not pulled to 0)."""
    values = np.asarray(values, dtype=float)
    out = np.empty_like(values)
    average = 0.0
    for i, value in enumerate(values):
        average = weight * average + (1 - weight) * value
        out[i] = average / (1 - weight ** (i + 1))
    return out


class _Figure:
    """The matplotlib side: a figure with a loss panel and a Dice panel (no Qt)."""

    def __init__(self, theme: dict) -> None:
        self.theme = theme
        self.figure = Figure(figsize=(4, 2.4), dpi=100, facecolor=theme["background"])
        self.canvas = FigureCanvasAgg(self.figure)
        self.figure.subplots_adjust(left=0.12, right=0.98, bottom=0.2, top=0.88, wspace=0.35)
        self.loss_axes = self.figure.add_subplot(1, 2, 1)
        self.dice_axes = self.figure.add_subplot(1, 2, 2)
        text = theme["text"]
        for axes, title in ((self.loss_axes, "loss"), (self.dice_axes, "validation Dice")):
            axes.set_facecolor(theme["foreground"])
            axes.set_title(title, fontsize=9, color=text)
            axes.set_xlabel("step", fontsize=8, color=text)
            axes.tick_params(labelsize=7, colors=text)
            for spine in axes.spines.values():
                spine.set_color(text)
        accent = theme["current"]
        (self.raw_line,) = self.loss_axes.plot([], [], lw=0.8, alpha=0.3, color=accent)
        (self.loss_line,) = self.loss_axes.plot([], [], lw=1.6, color=accent)
        self.dice_lines: dict = {}

    def render(self, steps, losses, dice, colors) -> tuple[bytes, int, int]:
        """Draw the data; returns RGBA bytes, width, height."""
        for name in [n for n in self.dice_lines if n not in dice]:
            self.dice_lines.pop(name).remove()
        for name, points in dice.items():
            if name not in self.dice_lines:
                (line,) = self.dice_axes.plot([], [], marker="o", ms=3, lw=1.2)
                line.set_label(name)
                self.dice_lines[name] = line
            if name in colors:
                self.dice_lines[name].set_color(colors[name])
            self.dice_lines[name].set_data(*zip(*points))
        legend = self.dice_axes.get_legend()
        if legend is not None:
            legend.remove()
        if self.dice_lines:
            legend = self.dice_axes.legend(fontsize=7, loc="lower right", framealpha=0.6)
            legend.get_frame().set_facecolor(self.theme["background"])
            for label in legend.get_texts():
                label.set_color(self.theme["text"])
        self.raw_line.set_data(steps, losses)
        self.loss_line.set_data(steps, smoothed(losses) if losses else [])
        for axes in (self.loss_axes, self.dice_axes):
            axes.relim()
            axes.autoscale_view()
        self.dice_axes.set_ylim(0, 1)
        self.canvas.draw()
        width, height = self.canvas.get_width_height()
        return bytes(self.canvas.buffer_rgba()), width, height


class TrainingPlot(QLabel):
    """Qt widget showing the round's loss and validation Dice, rendered in a worker thread."""

    def __init__(self, theme: dict | None = None) -> None:
        super().__init__()
        self.setMinimumHeight(120)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self._figure = _Figure({**DARK, **(theme or {})})
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.dice: dict[str, list[tuple[int, float]]] = {}
        #: Class name → colour of its Dice line (the project's class colours).
        self.colors: dict[str, str] = {}
        self._last_draw = 0.0
        self._worker = None
        self._dirty = False
        self.renders = 0
        self.clear()

    @property
    def busy(self) -> bool:
        """True while a picture is being rendered or waits to be."""
        return self._worker is not None or self._dirty

    @property
    def empty(self) -> bool:
        """True while the plot shows its empty-state text."""
        return not self.steps and not self.dice

    def clear(self) -> None:
        """Start an empty plot for a new round (shows the empty-state text)."""
        self.steps, self.losses, self.dice = [], [], {}
        self.setPixmap(QPixmap())
        self.setText(EMPTY_TEXT)

    def add_loss(self, step: int, loss: float) -> None:
        """Append one optimiser step's loss."""
        self.steps.append(int(step))
        self.losses.append(float(loss))
        self._redraw(force=len(self.steps) == 1)

    def add_dice(self, step: int, dice: dict[str, float | None]) -> None:
        """Append a validation's Dice per class (None = class absent from validation truth)."""
        for name, value in dice.items():
            if value is not None:
                self.dice.setdefault(name, []).append((int(step), float(value)))
        self._redraw(force=True)

    def finish(self) -> None:
        """Draw whatever is pending (at the end of a round)."""
        if not self.empty:
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
        snapshot = (
            list(self.steps),
            list(self.losses),
            {k: list(v) for k, v in self.dice.items()},
            dict(self.colors),
        )
        worker = thread_worker(self._figure.render, start_thread=False, ignore_errors=True)(
            *snapshot
        )
        worker.returned.connect(self._show)
        worker.finished.connect(self._rendered)
        self._worker = worker
        worker.start()

    def _show(self, picture: tuple[bytes, int, int]) -> None:
        if self.empty:  # cleared for a new round while this picture was drawn
            return
        data, width, height = picture
        image = QImage(data, width, height, QImage.Format.Format_RGBA8888).copy()
        pixmap = QPixmap.fromImage(image)
        if self.width() > 50 and pixmap.width() > self.width():  # a narrow dock: fit it
            pixmap = pixmap.scaledToWidth(self.width(), Qt.TransformationMode.SmoothTransformation)
        self.setText("")
        if self.minimumHeight() != pixmap.height():  # the whole picture, never cut
            self.setMinimumHeight(pixmap.height())
        self.setPixmap(pixmap)
        self.renders += 1

    def _rendered(self) -> None:
        self._worker = None
        if self._dirty:
            self._redraw(force=True)
