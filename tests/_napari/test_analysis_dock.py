"""The analysis dock under Xvfb: analyse a real crop, plot, table, layers, measurements, CSVs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tifffile

from napari_cathode.core.analysis.class_mapping import parse_class_map
from napari_cathode.core.analysis.summary import AnalysisConfig, analyze_labels
from napari_cathode.core.classes import DEFAULT_CLASSES

pytestmark = pytest.mark.gui


@pytest.fixture
def nmc_crop(shared_data) -> np.ndarray:
    """A 30 x 96 x 96 crop of the real SliceGAN NMC segmentation (values 0/128/255)."""
    labels = tifffile.imread(shared_data / "slicegan-nmc-3phase" / "NMC.tif")
    return labels[:, :96, :96].copy()


def test_dock_analyses_plots_and_exports(make_napari_viewer, qtbot, nmc_crop, tmp_path):
    from napari_cathode._napari.analysis_dock import AnalysisDock

    viewer = make_napari_viewer()
    layer = viewer.add_labels(nmc_crop, name="nmc", scale=(0.5, 0.5, 0.5), units="µm")
    # opened the way a user opens it: from the plugin menu, through napari.yaml
    _, dock = viewer.window.add_plugin_dock_widget("napari-cathode", "Analyse and measure")
    assert isinstance(dock, AnalysisDock)
    assert dock.labels.value is layer
    assert dock.particle_class.value == "active material"

    dock.class_map.value = "0=pore,128=active,255=binder"
    dock.run_button.clicked.emit()
    qtbot.waitUntil(lambda: dock.result is not None and dock._worker is None, timeout=60_000)

    expected = analyze_labels(
        nmc_crop,
        class_map=parse_class_map("0=pore,128=active,255=binder", DEFAULT_CLASSES),
        voxel_size=(0.5, 0.5, 0.5),
        unit="µm",
        config=AnalysisConfig(),
    )
    count = expected.distribution.count
    assert count > 5 and dock.result.distribution == expected.distribution
    rows = {
        dock.table.item(i, 0).text(): dock.table.item(i, 1).text()
        for i in range(dock.table.rowCount())
    }
    assert rows["particles"] == str(count)
    assert rows["volume fraction: pore"] == f"{np.mean(nmc_crop == 0):.4f}"
    assert "d50 (µm)" in rows
    bars = dock.figure.axes[0].patches
    assert sum(bar.get_height() for bar in bars) == count  # the PSD histogram
    particles = viewer.layers["nmc particles"]
    assert particles.data.max() == count and tuple(particles.scale) == (0.5, 0.5, 0.5)

    # defects and a ruler, in the layers the dock adds (data coordinates = voxels)
    points = dock.add_defect_points()
    pore_voxel = np.argwhere(nmc_crop == 0)[0]
    points.add([pore_voxel])
    rulers = dock.add_ruler()
    rulers.add_lines(np.array([[10, 10, 10], [10, 13, 14]]))
    written = dock.export(tmp_path)
    assert {"summary", "particles", "psd", "defects", "rulers"} <= set(written)
    defects = pd.read_csv(tmp_path / "defects.csv")
    assert defects["class"].tolist() == ["pore"]
    assert defects["x"].item() == pytest.approx(pore_voxel[2] * 0.5)
    assert pd.read_csv(tmp_path / "rulers.csv")["length"].item() == pytest.approx(2.5)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["particles"]["count"] == count


def test_corrected_particles_are_remeasured(make_napari_viewer, qtbot, nmc_crop):
    from napari_cathode._napari.analysis_dock import AnalysisDock

    viewer = make_napari_viewer()
    viewer.add_labels(nmc_crop, name="nmc")
    dock = AnalysisDock(viewer)
    dock.class_map.value = "0=pore,128=active,255=binder"
    dock.run()
    qtbot.waitUntil(lambda: dock.result is not None and dock._worker is None, timeout=60_000)
    before = dock.result.distribution.count
    layer = viewer.layers["nmc particles"]
    layer.data = np.where(layer.data == 2, 1, layer.data)  # the user merges particle 2 into 1
    dock.remeasure_button.clicked.emit()
    qtbot.waitUntil(lambda: dock.result.distribution.count == before - 1, timeout=60_000)
    assert 2 not in dock.result.particles.table["particle"].tolist()
