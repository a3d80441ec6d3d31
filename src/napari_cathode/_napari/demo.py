"""Open napari with the plugin and the real sample data: ``python -m napari_cathode._napari.demo``.

``make demo`` runs this when a display is available. ``--screenshot PATH`` saves a picture of
the whole window once the canvas has drawn and then quits (used for the docs, under Xvfb).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

__all__ = [
    "LOOP_DOCK",
    "PLUGIN",
    "build_viewer",
    "main",
    "plugin_dock_names",
    "save_window_screenshot",
]

log = logging.getLogger(__name__)

PLUGIN = "napari-cathode"
LOOP_DOCK = "Segmentation loop"


def build_viewer(*, sample: str = "acquisition_a", show: bool = True):
    """A viewer showing ``sample`` from this plugin's sample data, in the middle slice."""
    import napari

    viewer = napari.Viewer(title="napari-cathode demo", show=show)
    viewer.open_sample(PLUGIN, sample)
    if viewer.dims.ndim >= 3:
        nz = viewer.dims.range[0]
        viewer.dims.set_point(0, nz.start + (nz.stop - nz.start) // 2)
    viewer.window.add_plugin_dock_widget(PLUGIN, LOOP_DOCK)  # the loop in one dock
    return viewer


def plugin_dock_names() -> list[str]:
    """Display names of every dock this plugin contributes, in manifest order."""
    from npe2 import PluginManager

    manifest = PluginManager.instance().get_manifest(PLUGIN)
    return [w.display_name for w in manifest.contributions.widgets or ()]


def save_window_screenshot(viewer, path: Path, *, wait_for_workers: bool = True) -> Path:
    """Save the whole window (canvas included) after letting Qt draw it.

    ``wait_for_workers=False`` takes the picture while jobs run (a round in training).
    """
    from qtpy.QtCore import QThreadPool
    from qtpy.QtWidgets import QApplication

    # The docks draw their first plots in worker threads: let them finish (and their results
    # reach the window) before the picture is taken and before the viewer may be closed.
    if wait_for_workers:
        QThreadPool.globalInstance().waitForDone(30_000)
    for _ in range(20):
        QApplication.processEvents()
    path.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(path), canvas_only=False, flash=False)
    log.info("screenshot written to %s", path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sample", default="acquisition_a", choices=["acquisition_a", "phantom"])
    parser.add_argument("--screenshot", type=Path, help="save the window to this PNG and quit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    import napari

    viewer = build_viewer(sample=args.sample)
    if args.screenshot:
        viewer.window.resize(1366, 768)
        save_window_screenshot(viewer, args.screenshot)
        viewer.close()
        return 0
    napari.run()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
