"""Scripted brush strokes on a napari Labels layer through its own mouse callbacks.

Shared by the GUI tests and the SIGKILL child process: a stroke is exactly what a user's
press-drag-release does (napari's paint mode, brush size, one undo step per stroke).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class MouseEvent:
    """The fields napari's Labels mouse callbacks read (as napari's own tests build them)."""

    type: str
    position: tuple
    is_dragging: bool = False
    dims_displayed: tuple = (1, 2)
    dims_point: list = field(default_factory=list)
    view_direction: list | None = None
    pos: tuple = (0, 0)
    button: int | None = None
    handled: bool = False
    modifiers: tuple = ()


def brush_stroke(layer, z: int, points, *, label: int, size: int = 7) -> None:
    """Paint ``label`` along ``points`` [(y, x), ...] on slice ``z`` (data = world coordinates)."""
    from napari.utils._proxies import ReadOnlyWrapper
    from napari.utils.interactions import (
        mouse_move_callbacks,
        mouse_press_callbacks,
        mouse_release_callbacks,
    )

    layer.mode = "paint"
    layer.selected_label = label
    layer.brush_size = size
    point = [float(z), 0.0, 0.0]

    def event(kind: str, y: float, x: float, dragging: bool):
        return ReadOnlyWrapper(
            MouseEvent(kind, (float(z), float(y), float(x)), dragging, (1, 2), point)
        )

    (y0, x0), *rest = points
    mouse_press_callbacks(layer, event("mouse_press", y0, x0, False))
    for y, x in rest:
        mouse_move_callbacks(layer, event("mouse_move", y, x, True))
    y1, x1 = points[-1]
    mouse_release_callbacks(layer, event("mouse_release", y1, x1, False))
