"""Screenshots of the time-series walk-through in ``docs/guide.md`` (the Kinetics dock).

Run under Xvfb (the canvas must be drawn)::

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" \
        python -m napari_cathode._napari.kinetics_screens docs/images

It renders a semi-synthetic operando series from the real 3D NMC geometry in
``../shared/data/slicegan-nmc-3phase`` (a crop), saves it as OME-Zarr with a ``t`` axis,
creates a project from time point 0 whose truth is that geometry (standing in for a segmented
reference), then runs the Kinetics dock, picks a curve and a particle, and saves
``guide_kinetics.png`` and ``dock_kinetics.png``.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import numpy as np

from napari_cathode._napari.guide_screens import PLUGIN, _wait

__all__ = ["DATA", "main", "make_screenshots"]

log = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"


def make_screenshots(out: Path) -> list[Path]:
    """Run the dock on a semi-synthetic series and save two screenshots into ``out``."""
    import napari
    import tifffile
    import zarr
    from ome_zarr.writer import write_image

    from napari_cathode._napari.demo import save_window_screenshot
    from napari_cathode._napari.session import session_for
    from napari_cathode.core.project.store import Project
    from napari_cathode.core.timeseries.operando import nmc_classes, render_operando

    work = Path(tempfile.mkdtemp(prefix="napari-cathode-kinetics-"))
    labels = tifffile.imread(DATA / "slicegan-nmc-3phase" / "NMC.tif")[:, :160, :160]
    frames, truth = render_operando(nmc_classes(labels), time_points=24, seed=7)
    root = zarr.open_group(str(work / "operando.ome.zarr"), mode="w")
    write_image(frames, root, axes="tzyx", scale_factors=())
    project = Project.create(work / "cell.cathode", frames[0], truth=truth.classes)

    viewer = napari.Viewer(title="napari-cathode", show=True)
    viewer.window.resize(1600, 1000)
    session_for(viewer).open(project.path)
    for layer in list(viewer.layers):
        layer.visible = False
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, "Kinetics")
    dock.project.value = str(project.path)
    dock.series.value = str(work / "operando.ome.zarr")
    dock.out.value = str(work / "kinetics")
    dock.run()
    _wait(lambda: dock.output is not None and dock.run_button.enabled, 900)
    fits = dock.output.result.particles
    cores = np.flatnonzero(truth.shrinking_core)
    big = fits[fits["particle"].isin(cores) & fits["ok"]].sort_values("reference_voxels")
    particle = int(big["particle"].iloc[-1])
    dock.select_particle(particle)
    viewer.dims.set_current_step(0, round(float(big["onset"].iloc[-1])))
    viewer.camera.zoom = 3.0
    written = [save_window_screenshot(viewer, out / "guide_kinetics.png")]
    other = int(fits.sort_values("reference_voxels")["particle"].iloc[-2])
    dock.layer.selected_label = other  # as if clicked in the viewer: its curve lights up
    dock.select_particle(other)
    viewer.dims.set_current_step(0, 23)
    written.append(save_window_screenshot(viewer, out / "dock_kinetics.png"))
    viewer.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the PNGs (docs/images)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    for path in make_screenshots(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
