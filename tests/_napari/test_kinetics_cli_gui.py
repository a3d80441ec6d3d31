"""The kinetics job through the CLI and the napari dock, on a small semi-synthetic series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile
from matplotlib.backend_bases import MouseEvent

from napari_cathode.cli.main import main
from napari_cathode.core.project.store import Project
from napari_cathode.core.timeseries.operando import nmc_classes, render_operando


@pytest.fixture(scope="module")
def operando(shared_data, tmp_path_factory):
    """A 12-frame series of real NMC geometry (30 x 64 x 64), as .npy, and its truth."""
    labels = tifffile.imread(shared_data / "slicegan-nmc-3phase" / "NMC.tif")
    frames, truth = render_operando(nmc_classes(labels[:, :64, :64]), time_points=12, seed=5)
    folder = tmp_path_factory.mktemp("operando")
    np.save(folder / "series.npy", frames)
    return folder / "series.npy", frames, truth


def _project(tmp_path, frames, truth, name="cell.cathode") -> Project:
    return Project.create(tmp_path / name, frames[0], truth=truth.classes)


def test_cli_kinetics_writes_tables(tmp_path, operando, capsys):
    series, frames, truth = operando
    project = _project(tmp_path, frames, truth)
    out = tmp_path / "kinetics"
    args = ["kinetics", str(project.path), "--out", str(out)]
    assert main([*args, "--series", str(series), "--reference", "0"]) == 0
    assert "particles over 12 time points" in capsys.readouterr().out
    particles = pd.read_csv(out / "particles.csv")
    assert {"particle", "onset", "rate", "start", "ok", "split_at"} <= set(particles.columns)
    assert len(particles) == truth.particles.max()
    trajectories = pd.read_csv(out / "trajectories.csv")
    assert len(trajectories) == 12 * len(particles)
    frames_table = pd.read_csv(out / "frames.csv")
    drift = frames_table[["drift_z", "drift_y", "drift_x"]].to_numpy()
    assert np.abs(drift - truth.drift).mean() < 0.6  # a 64 x 64 crop: few edges to align
    assert main(args) == 0  # the attached series is reused


def test_cli_kinetics_without_time_axis_says_what_to_do(tmp_path, operando, capsys):
    _, frames, truth = operando
    project = _project(tmp_path, frames, truth, "plain.cathode")
    assert main(["kinetics", str(project.path), "--out", str(tmp_path / "o")]) == 2
    assert "has no time axis; attach a series" in capsys.readouterr().err


def test_kinetics_dock_links_curves_and_particles(make_napari_viewer, qtbot, tmp_path, operando):
    from napari_cathode._napari.kinetics_dock import PARTICLES_LAYER, KineticsDock

    series, frames, truth = operando
    project = _project(tmp_path, frames, truth)
    viewer = make_napari_viewer()
    dock = KineticsDock(viewer)
    dock.project.value = str(project.path)
    dock.series.value = str(series)
    dock.run()
    qtbot.waitUntil(lambda: dock.output is not None, timeout=120_000)
    qtbot.waitUntil(lambda: dock.run_button.enabled, timeout=10_000)
    assert {"registration", "statistics"} <= dock.stages_seen
    layer = viewer.layers[PARTICLES_LAYER]
    assert layer.data.shape == frames.shape
    assert len(dock.plot.lines) == truth.particles.max()
    # click on a curve where no other curve is near: that particle gets selected
    values = dock.output.result.trajectories.pivot(index="time", columns="particle", values="mean")
    gaps = np.abs(values.to_numpy()[:, :, None] - values.to_numpy()[:, None, :])
    gaps[:, np.arange(gaps.shape[1]), np.arange(gaps.shape[1])] = np.inf
    t_index, column = np.unravel_index(np.argmax(gaps.min(axis=2)), gaps.shape[:2])
    particle = int(values.columns[column])
    dock.plot.canvas.draw()  # settle the autoscaled limits before mapping data to pixels
    x, y = dock.plot.axes.transData.transform((values.index[t_index], values.iloc[t_index, column]))
    event = MouseEvent("button_press_event", dock.plot.canvas, x, y, button=1)
    dock.plot.canvas.callbacks.process("button_press_event", event)
    assert layer.selected_label == particle and layer.show_selected_label
    assert dock.plot.selected == particle
    # the reverse: a particle chosen in the viewer highlights its curve
    other = next(p for p in dock.plot.lines if p != particle)
    layer.selected_label = other
    assert dock.plot.selected == other
    assert dock.plot.lines[other].get_linewidth() == 3.0
    assert f"particle {other}: onset" in dock.details.text()


def test_cli_kinetics_predict_mode_matches_per_time_point(tmp_path, operando):
    """--mode predict: the project model segments every time point; instances are matched."""
    from napari_cathode.jobs.training_runs import set_project_start

    _, frames, truth = operando
    project = _project(tmp_path, frames[:, :8], truth_crop := _crop(truth))
    np.save(tmp_path / "short.npy", frames[:6, :8])
    set_project_start(project.path, "starter")
    out = tmp_path / "k"
    args = ["kinetics", str(project.path), "--out", str(out), "--mode", "predict"]
    assert main([*args, "--series", str(tmp_path / "short.npy"), "--reference", "0"]) == 0
    frames_table = pd.read_csv(out / "frames.csv")
    assert {"split", "appeared", "disappeared"} <= set(frames_table.columns)
    particles = pd.read_csv(out / "particles.csv")
    assert particles["particle"].max() >= truth_crop.particles.max()
    assert {"split_at", "merged_at", "disappeared_at", "appeared"} <= set(particles.columns)


def _crop(truth):
    """The truth of the first 8 slices (classes only are used by the project)."""
    from types import SimpleNamespace

    from napari_cathode.core.analysis.particles import separate_particles

    classes = truth.classes[:8]
    return SimpleNamespace(
        classes=classes, particles=separate_particles(classes == 2, h_max=2.0, min_voxels=20)
    )
