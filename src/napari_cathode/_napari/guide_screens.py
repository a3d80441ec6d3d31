"""``docs/guide.md``, run: one full round on the sample data in the Segmentation loop dock.

:func:`run_guide` does what the guide tells a user to do, in the guide's order, with the
guide's key presses sent to the canvas as real key events (``u``, ``a``, ``t``, ``r``), and
calls ``shoot(name)`` where the guide shows a picture. ``tests/_napari/test_gui_guide.py`` runs it
and asserts that no error notification was raised. Run as a script under Xvfb, it writes the
guide's screenshots at 1366 × 768 and 1920 × 1080 (the screen must be at least that big)::

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1920x1080x24" \
        python -m napari_cathode._napari.guide_screens docs/images
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = [
    "LOOP_DOCK",
    "PLUGIN",
    "SIZES",
    "main",
    "make_screenshots",
    "press",
    "run_guide",
    "stroke",
    "wait_until",
]

log = logging.getLogger(__name__)

PLUGIN = "napari-cathode"
LOOP_DOCK = "Segmentation loop"
#: Window sizes of the screenshots: a laptop and a desktop screen.
SIZES = ((1366, 768), (1920, 1080))


def wait_until(condition, seconds: float = 900) -> None:
    """Let Qt work until ``condition()`` is true."""
    from qtpy.QtWidgets import QApplication

    deadline = time.monotonic() + seconds
    while not condition():
        QApplication.processEvents()
        time.sleep(0.02)
        if time.monotonic() > deadline:
            raise TimeoutError("the guide run did not finish in time")


def press(viewer, key: str, *, shift: bool = False, control: bool = False) -> None:
    """A real key press on the canvas, as the user's keyboard would send it."""
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest
    from qtpy.QtWidgets import QApplication

    modifiers = Qt.KeyboardModifier.NoModifier
    if shift:
        modifiers |= Qt.KeyboardModifier.ShiftModifier
    if control:
        modifiers |= Qt.KeyboardModifier.ControlModifier
    canvas = viewer.window._qt_viewer.canvas.native  # the widget napari reads keys from
    QTest.keyClick(canvas, getattr(Qt.Key, f"Key_{key.upper()}"), modifiers)
    QApplication.processEvents()


def stroke(layer, z: int, y: int, x0: int, x1: int, label: int) -> None:
    """A brush stroke along a row, through the Labels layer's own paint (one undo step)."""
    layer.selected_label = label
    layer.brush_size = 9
    layer.mode = "paint"
    layer.paint((z, y, x0), label, refresh=False)
    for x in range(x0 + 2, x1 + 1, 2):
        layer.paint((z, y, x), label, refresh=False)
    layer.refresh()


def _idle(loop) -> bool:
    return not loop.session.training.running and not loop.session.predictions.running


def run_guide(viewer, work: Path, *, config, shoot: Callable[[str], None] | None = None) -> dict:
    """Follow ``docs/guide.md`` in ``viewer``; returns the project and what was exported.

    Parameters
    ----------
    viewer : napari.Viewer
        A shown viewer (keys go to its canvas).
    work : Path
        Folder for the project and the exports.
    config : ModelConfig
        The rounds' training configuration (small in tests, the guide's in screenshots).
    shoot : callable, optional
        Called with a picture's name where the guide shows one.
    """
    shoot = shoot or (lambda name: None)
    image_layer, reference = viewer.open_sample(PLUGIN, "acquisition_a")
    reference.visible = False
    _, loop = viewer.window.add_plugin_dock_widget(PLUGIN, LOOP_DOCK)
    session = loop.session

    # 1. Project: a project from the image layer
    loop.show_step("1 Project")
    loop.project.create_from_layer(image_layer.name, path=work / "acquisition_a.cathode")
    wait_until(lambda: session.project is not None)
    project, truth = session.project, session.layer("truth")
    loop.show_step("1 Project")
    shoot("loop_1_project")

    # 2. Review: the human labels slice 0 (here: the sample's reference labels), presses r;
    #    the starter model proposes the other slices
    loop.show_step("2 Review")
    loop.review.go_to(0)
    real = np.asarray(reference.data[0])
    ys, xs = np.nonzero(real)
    truth.data_setitem((np.zeros_like(ys), ys, xs), real[ys, xs])
    press(viewer, "r")
    loop.review.predict("volume")
    wait_until(lambda: _idle(loop))

    # 3. Train round 1
    loop.show_step("3 Train")
    loop.train.start_round(config=config)
    wait_until(lambda: len(loop.train.plot.steps) >= config.steps // 2 or not loop.train.running)
    wait_until(lambda: not loop.train.plot.busy and loop.train.plot.renders > 0)
    shoot("loop_3_training")  # while it trains
    wait_until(lambda: _idle(loop))

    # 4. Review: u (most uncertain), a (accept), fix with the brush, t (contours), r
    loop.show_step("2 Review")
    press(viewer, "u")
    z = session.current_z()
    press(viewer, "a")
    stroke(truth, z, 240, 200, 320, 3)
    press(viewer, "t")  # the proposal as contours ...
    press(viewer, "t", shift=True)  # ... and the truth hidden: the grey image shows through
    shoot("loop_2_review")
    press(viewer, "t", shift=True)  # truth shown again
    press(viewer, "t")  # proposal hidden
    press(viewer, "t")  # proposal filled again
    press(viewer, "r")

    # 5. Train round 2 and compare rounds
    loop.show_step("3 Train")
    loop.train.start_round(config=config)
    wait_until(lambda: _idle(loop))
    wait_until(lambda: loop.train.rounds.rowCount() == len(project.rounds()))
    wait_until(lambda: not loop.train.plot.busy)
    shoot("loop_3_rounds")

    # 6. Export
    export = loop.show_step("4 Export")
    export.folder.setText(str(work))
    export.name.setText("acquisition_a_round2")
    export.export_ome_zarr()
    wait_until(lambda: not export.busy)
    model = export.export_model()
    table = export.export_round_table()
    shoot("loop_4_export")
    return {"project": project, "loop": loop, "written": [*export.written], "model": model,
            "round_table": table, "reviewed_slice": z}  # fmt: skip


def make_screenshots(out: Path, *, steps: int = 40) -> list[Path]:
    """Run the guide and save its pictures into ``out`` at every size of :data:`SIZES`."""
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_cathode._napari.demo import save_window_screenshot
    from napari_cathode.ml.config import ModelConfig

    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="napari-cathode-guide-"))
    viewer = napari.Viewer(title="napari-cathode", show=True)
    written: list[Path] = []

    def shoot(name: str) -> None:
        for width, height in SIZES:
            viewer.window.resize(width, height)
            for _ in range(30):  # let the pages relayout at this size
                QApplication.processEvents()
            path = save_window_screenshot(
                viewer, out / f"{name}_{width}x{height}.png", wait_for_workers=False
            )
            written.append(path)
        viewer.window.resize(*SIZES[0])

    viewer.window.resize(*SIZES[0])
    run_guide(viewer, work, config=ModelConfig(steps=steps, validate_every=max(steps // 4, 1)),
              shoot=shoot)  # fmt: skip
    viewer.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the PNGs (docs/images)")
    parser.add_argument("--steps", type=int, default=40, help="optimiser steps per round")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for path in make_screenshots(args.out, steps=args.steps):
        log.info("wrote %s", path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
