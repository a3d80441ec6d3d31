"""The "Particle states" dock under Xvfb: find, click-label, unlabel, predict, explain, export."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from particle_state_data import CENTRES, CRACKED, sphere_volume

pytestmark = pytest.mark.gui


def test_dock_labels_by_click_predicts_and_explains(make_napari_viewer, qtbot, tmp_path):
    from napari_cathode._napari.session import session_for
    from napari_cathode._napari.states_dock import StatesDock
    from napari_cathode.core.classes import DEFAULT_CLASSES
    from napari_cathode.core.project.store import Project
    from napari_cathode.core.states.particle_crops import crop_geometries, particle_views
    from napari_cathode.core.states.particles import load_particle_labels
    from napari_cathode.ml.state_classifier import StateModelConfig, train_state_classifier

    labels, image = sphere_volume()
    project = Project.create(
        tmp_path / "s.cathode", image, truth=labels, classes=DEFAULT_CLASSES, unit="px"
    )
    viewer = make_napari_viewer()
    session_for(viewer).open(project.path)
    _, dock = viewer.window.add_plugin_dock_widget("napari-cathode", "Particle states")
    assert isinstance(dock, StatesDock)
    dock.find_particles()
    assert viewer.layers["particles"].data.max() == len(CENTRES)

    # a click on a particle with "label by clicking" on, then an Alt-click on it
    class Click:
        def __init__(self, position, modifiers=()):
            self.position, self.modifiers = position, modifiers

    dock.click_to_label.setChecked(True)
    dock.state.setCurrentText("cracked")
    dock._on_click(viewer, Click((7, 7, 21)))
    instances = dock.instances
    particle = int(instances[7, 7, 21])
    assert load_particle_labels(project.path).resolve(instances) == {particle: "cracked"}
    assert dock.particle.value() == particle
    assert len(viewer.layers["state labels"].data) == 1
    dock._on_click(viewer, Click((7, 8, 21), ("Alt",)))
    assert load_particle_labels(project.path).resolve(instances) == {}

    # a tiny model (trained in-process here; the Train button runs the same in a subprocess)
    ids = [int(instances[7, cy, cx]) for cy, cx in CENTRES]
    views = particle_views(image, instances, crop_geometries(instances, particles=ids))
    targets = np.array([i in CRACKED for i in range(len(ids))], int)
    config = StateModelConfig(steps=20, input_size=24, widths=(4, 8, 16, 32), batch_size=8)
    list(train_state_classifier(views, targets, config, project.path / "states" / "model"))
    worker = dock.predict()
    qtbot.waitUntil(lambda: "state" in viewer.layers, timeout=60_000)
    del worker
    state = viewer.layers["state"].data
    assert set(np.unique(state[instances > 0])) <= {1, 2} and (state[instances == 0] == 0).all()
    assert (project.path / "states" / "particles.csv").is_file()

    dock.particle.setValue(particle)
    dock.explain()
    qtbot.waitUntil(lambda: "heat map" in viewer.layers, timeout=60_000)
    heat = viewer.layers["heat map"]
    assert heat.data.shape == dock.explanation["image"].shape
    dock.export_path.setText(str(tmp_path / "heat.tif"))
    assert dock.export_heat_map() is not None
    assert tifffile.imread(tmp_path / "heat.tif").shape == heat.data.shape
