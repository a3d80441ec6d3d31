"""Screenshots of the "Particle states" dock for ``docs/guide.md``: label, train, predict, explain.

Run under Xvfb (the canvas must be drawn)::

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" \
        python -m napari_cathode._napari.states_guide_screens docs/images

Data: the synthetic phantom (``core/synthetic/phantom.py``) with cracks in 40 % of its particles, as
a project whose truth is the phantom's segmentation. The script labels particles the way a user
does, through the dock's click handler, picking cracked ones from the phantom's crack voxels.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["DOCK", "PLUGIN", "main", "make_screenshots"]

log = logging.getLogger(__name__)

PLUGIN, DOCK = "napari-cathode", "Particle states"


def _wait(condition, seconds: float = 1200) -> None:
    from qtpy.QtWidgets import QApplication

    deadline = time.monotonic() + seconds
    while not condition():
        QApplication.processEvents()
        time.sleep(0.05)
        if time.monotonic() > deadline:
            raise TimeoutError("the states guide run did not finish in time")


class _Click:
    def __init__(self, position, modifiers=()):
        self.position, self.modifiers = position, modifiers


def make_screenshots(out: Path, *, steps: int = 200, per_state: int = 10) -> list[Path]:
    """Label, train, predict and explain through the dock; save three screenshots."""
    import napari

    from napari_cathode._napari.demo import save_window_screenshot
    from napari_cathode.core.analysis.fragmentation import crack_labels
    from napari_cathode.core.classes import DEFAULT_CLASSES
    from napari_cathode.core.project.store import Project
    from napari_cathode.core.synthetic.phantom import make_phantom

    phantom = make_phantom((40, 160, 160), seed=3, crack_fraction=0.4)
    work = Path(tempfile.mkdtemp(prefix="napari-cathode-states-"))
    project = Project.create(
        work / "phantom.cathode",
        phantom.image,
        truth=phantom.truth,
        classes=DEFAULT_CLASSES,
        voxel_size=phantom.voxel_size,
        unit=phantom.unit,
    )
    viewer = napari.Viewer(title="napari-cathode", show=True)
    viewer.window.resize(1600, 1000)
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, DOCK)
    dock.session.open(project.path)
    for role in ("truth", "proposal"):
        layer = dock.session.layer(role)
        if layer is not None:
            layer.visible = False
    dock.find_particles()
    instances = dock.instances
    cracks = crack_labels(instances, phantom.truth == 2)
    cracked = set(np.unique(cracks[cracks > 0]).tolist())
    rng = np.random.default_rng(0)
    shown = 20  # the slice on screen: a user clicks the particles they see there
    ids = rng.permutation(np.unique(instances[shown][instances[shown] > 0]))
    chosen = {"cracked": [i for i in ids if i in cracked][:per_state]}
    chosen["intact"] = [i for i in ids if i not in cracked][:per_state]
    dock.click_to_label.setChecked(True)
    scale = np.asarray(project.voxel_size)
    for state, particles in chosen.items():
        dock.state.setCurrentText(state)
        for particle in particles:
            pixels = np.argwhere(instances[shown] == particle)
            y, x = pixels[np.argmin(((pixels - pixels.mean(0)) ** 2).sum(1))]  # near its centre
            dock._on_click(viewer, _Click(tuple(np.array([shown, y, x]) * scale)))
    written = [out / "states_label.png"]
    viewer.dims.set_point(0, shown * scale[0])
    save_window_screenshot(viewer, written[-1])

    dock.train(steps=steps)
    _wait(lambda: not dock.running)
    dock.predict()
    _wait(lambda: "state" in viewer.layers)
    viewer.layers["particles"].visible = False
    written.append(out / "states_predict.png")
    save_window_screenshot(viewer, written[-1])

    every = np.arange(1, int(instances.max()) + 1)
    table_ids = [i for i in every if i in cracked and i not in chosen["cracked"]]
    particle = int(table_ids[0]) if table_ids else int(chosen["cracked"][0])
    dock.particle.setValue(particle)
    dock.explain()
    _wait(lambda: "heat map" in viewer.layers)
    viewer.layers["state"].visible = False
    viewer.layers["state labels"].visible = False
    heat, box = dock.explanation["heat"], dock.explanation["box"]
    plane = box[0].start + int(np.argmax(heat.sum((1, 2))))  # the particle's central yx plane
    centre = np.array([plane, *[(s.start + s.stop) / 2 for s in box[1:]]])
    viewer.dims.set_point(0, plane * scale[0])
    viewer.camera.center = tuple(centre * scale)
    viewer.camera.zoom = viewer.camera.zoom * 2.5
    written.append(out / "states_gradcam.png")
    save_window_screenshot(viewer, written[-1])
    viewer.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the PNGs (docs/images)")
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for path in make_screenshots(args.out, steps=args.steps):
        log.info("wrote %s", path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
