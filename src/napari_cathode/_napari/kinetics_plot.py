"""The trajectory plot of the kinetics dock: one curve per particle, coloured like its label.

Matplotlib on a Qt canvas; a click on a curve calls ``on_pick(particle)``; :meth:`highlight`
draws one particle's curve thick and the others faint (the reverse direction: a particle
selected in the viewer).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

__all__ = ["PICK_POINTS", "TrajectoryPlot"]

#: Pick tolerance in screen points around a curve.
PICK_POINTS = 4


class TrajectoryPlot:
    """Mean grey value per time point of every particle; click a curve to pick its particle."""

    def __init__(self, on_pick: Callable[[int], None]) -> None:
        self.figure = Figure(figsize=(4, 3), dpi=100)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(240)
        self.axes = self.figure.add_subplot(1, 1, 1)
        self.figure.subplots_adjust(left=0.16, right=0.97, bottom=0.16, top=0.9)
        self.lines: dict[int, object] = {}
        self.selected: int | None = None
        self._on_pick = on_pick
        self._last_click, self._last_distance = None, np.inf
        self.canvas.mpl_connect("pick_event", self._picked)

    def show(self, trajectories: pd.DataFrame, colour_of: Callable[[int], tuple]) -> None:
        """Draw one curve per particle (``mean`` against ``time``)."""
        self.axes.clear()
        self.lines.clear()
        for particle, group in trajectories.groupby("particle", sort=True):
            (line,) = self.axes.plot(
                group["time"].to_numpy(),
                group["mean"].to_numpy(),
                color=colour_of(int(particle)),
                lw=1.0,
                alpha=0.8,
                picker=PICK_POINTS,
            )
            line.particle = int(particle)
            self.lines[int(particle)] = line
        self.axes.set_xlabel("time point", fontsize=8)
        self.axes.set_ylabel("mean grey value (normalised)", fontsize=8)
        self.axes.set_title(f"{len(self.lines)} particles — click a curve", fontsize=9)
        self.axes.tick_params(labelsize=7)
        self.selected = None
        self.canvas.draw_idle()

    def _picked(self, event) -> None:
        """Matplotlib sends one pick event per curve near the click: keep the nearest."""
        particle = getattr(event.artist, "particle", None)
        if particle is None:
            return
        mouse = event.mouseevent
        points = event.artist.get_transform().transform(event.artist.get_xydata())
        distance = float(np.min(np.hypot(points[:, 0] - mouse.x, points[:, 1] - mouse.y)))
        if self._last_click is mouse and distance >= self._last_distance:
            return
        self._last_click, self._last_distance = mouse, distance
        self._on_pick(int(particle))

    def highlight(self, particle: int | None) -> None:
        """Draw ``particle`` thick on top and the others faint (None: all normal)."""
        if particle == self.selected:
            return
        self.selected = particle if particle in self.lines else None
        for pid, line in self.lines.items():
            chosen = pid == self.selected
            line.set_linewidth(3.0 if chosen else 1.0)
            line.set_alpha(1.0 if chosen or self.selected is None else 0.15)
            line.set_zorder(3 if chosen else 1)
        if self.selected is not None:
            self.axes.set_title(f"particle {self.selected}", fontsize=9)
        self.canvas.draw_idle()

    def curve(self, particle: int) -> np.ndarray:
        """(time, value) points of a particle's curve."""
        return np.asarray(self.lines[particle].get_xydata())
