"""Screenshots for ``docs/guide.md``: one full round on the sample data, driven through the docks.

Run under Xvfb (the canvas must be drawn)::

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" \
        python -m napari_cathode._napari.guide_screens docs/images

It opens the real acquisition A sample, creates a project from its image, labels slice 0 with
the sample's truth, trains round 1, accepts and corrects the most uncertain slice, trains round
2 and exports; each dock is photographed in use (``dock_*.png``, ``guide_*.png``).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

PLUGIN = "napari-cathode"
DOCKS = ("Project and classes", "Propose and review", "Train", "Export")


def _wait(condition, seconds: float = 900) -> None:
    from qtpy.QtWidgets import QApplication

    deadline = time.monotonic() + seconds
    while not condition():
        QApplication.processEvents()
        time.sleep(0.02)
        if time.monotonic() > deadline:
            raise TimeoutError("the guide run did not finish in time")


def _only(wrappers: dict, name: str) -> None:
    for other, wrapper in wrappers.items():
        wrapper.setVisible(other == name)


def _shot(viewer, wrappers, dock: str, path: Path) -> None:
    from napari_cathode._napari.demo import save_window_screenshot

    _only(wrappers, dock)
    save_window_screenshot(viewer, path)


def _stroke(layer, z: int, y: int, x0: int, x1: int, label: int) -> None:
    """A brush stroke along a row, through the Labels layer's own paint (one undo step)."""
    layer.selected_label = label
    layer.brush_size = 9
    layer.mode = "paint"
    layer.paint((z, y, x0), label, refresh=False)
    for x in range(x0 + 2, x1 + 1, 2):
        layer.paint((z, y, x), label, refresh=False)
    layer.refresh()


def make_screenshots(out: Path, *, steps: int = 40) -> list[Path]:
    """Run one full round through the docks and save the guide's screenshots into ``out``."""
    import napari

    from napari_cathode.ml.config import ModelConfig

    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="napari-cathode-guide-"))
    viewer = napari.Viewer(title="napari-cathode", show=True)
    viewer.window.resize(1600, 1000)
    image_layer, truth_sample = viewer.open_sample(PLUGIN, "acquisition_a")
    truth_sample.visible = False
    docks, wrappers = {}, {}
    for name in DOCKS:
        wrappers[name], docks[name] = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    project_dock, review = docks["Project and classes"], docks["Propose and review"]
    train = docks["Train"]
    session = project_dock.session
    written = []

    project_dock.create_from_layer(image_layer.name, path=work / "acquisition_a.cathode")
    _wait(lambda: session.project is not None)
    project = session.project
    truth = session.layer("truth")
    review.go_to(0)
    real = np.asarray(truth_sample.data[0])
    ys, xs = np.nonzero(real)
    truth.data_setitem((np.zeros_like(ys), ys, xs), real[ys, xs])  # the human's first slice
    review.mark_reviewed()
    _shot(viewer, wrappers, "Project and classes", out / "dock_project.png")
    written.append(out / "dock_project.png")

    config = ModelConfig(steps=steps, validate_every=max(steps // 4, 1))
    train.start_round(config=config)
    _wait(lambda: len(train.plot.steps) >= steps // 2)
    _shot(viewer, wrappers, "Train", out / "guide_training.png")
    written.append(out / "guide_training.png")
    _wait(lambda: not train.running and not train.runner.running)

    z = review.go_to_most_uncertain()
    review.accept()
    _stroke(truth, z, 240, 200, 320, 3)
    review.mark_reviewed()
    session.layer("proposal").visible = True
    _shot(viewer, wrappers, "Propose and review", out / "dock_review.png")
    written.append(out / "dock_review.png")

    train.start_round(config=config)
    _wait(lambda: not train.running and not train.runner.running)
    _wait(lambda: train.rounds.rowCount() == len(project.rounds()))
    _shot(viewer, wrappers, "Train", out / "dock_train.png")
    written.append(out / "dock_train.png")

    export = docks["Export"]
    export.folder.setText(str(work))
    export.export_ome_zarr()
    _wait(lambda: not export.busy)
    export.export_model()
    export.export_round_table()
    _shot(viewer, wrappers, "Export", out / "dock_export.png")
    written.append(out / "dock_export.png")
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
