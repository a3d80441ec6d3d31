"""Particle and image states: labels in the project, a tiny classifier, Grad-CAM, CLI contract."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from napari_cathode.cli.main import main
from napari_cathode.core.classes import DEFAULT_CLASSES
from napari_cathode.core.errors import CathodeError
from napari_cathode.core.states.particles import (
    ParticleLabels,
    load_particle_labels,
    save_particle_labels,
)
from particle_state_data import CENTRES, CRACKED, sphere_volume


@pytest.fixture
def project(tmp_path):
    from napari_cathode.core.project.store import Project

    labels, image = sphere_volume()
    return Project.create(
        tmp_path / "s.cathode",
        image,
        truth=labels,
        classes=DEFAULT_CLASSES,
        voxel_size=(1, 1, 1),
        unit="px",
    )


def test_labelling_and_unlabelling_round_trip_through_the_project(project):
    from napari_cathode.jobs.particle_states_job import project_instances

    instances = project_instances(project)
    assert instances.max() == len(CENTRES)
    labels = load_particle_labels(project.path).with_states(["intact", "cracked"])
    labels = labels.with_label((7, 7, 7), "cracked", instances)
    labels = labels.with_label((7, 7, 21), "intact", instances)
    labels = labels.with_label((8, 8, 8), "Intact", instances)  # same particle: replaced
    save_particle_labels(project.path, labels)
    again = load_particle_labels(project.path)
    first, second = int(instances[7, 7, 7]), int(instances[7, 7, 21])
    assert again.resolve(instances) == {first: "intact", second: "intact"}
    again = again.without_particle((7, 6, 7), instances)
    save_particle_labels(project.path, again)
    assert load_particle_labels(project.path).resolve(instances) == {second: "intact"}


def test_label_errors_name_the_problem(project):
    from napari_cathode.jobs.particle_states_job import project_instances

    instances = project_instances(project)
    labels = ParticleLabels(states=("intact", "cracked"))
    with pytest.raises(CathodeError, match="unknown state 'broken'"):
        labels.with_label((7, 7, 7), "broken", instances)
    with pytest.raises(CathodeError, match="no particle at voxel"):
        labels.with_label((0, 0, 0), "intact", instances)
    with pytest.raises(CathodeError, match="at least two state names"):
        labels.with_states(["intact"])
    used = labels.with_label((7, 7, 7), "cracked", instances)
    with pytest.raises(CathodeError, match="still label particles"):
        used.with_states(["intact", "other"])


def _label_all(project, instances, states=("intact", "cracked")):
    labels = ParticleLabels(states=states)
    for index, (cy, cx) in enumerate(CENTRES):
        state = states[1] if index in CRACKED else states[0]
        labels = labels.with_label((7, cy, cx), state, instances)
    save_particle_labels(project.path, labels)


def test_classifier_separates_two_obviously_different_states(project):
    from napari_cathode.core.states.particle_crops import crop_geometries, particle_views
    from napari_cathode.ml.state_classifier import (
        StateModelConfig,
        grad_cam,
        load_state_model,
        predict_probabilities,
        train_state_classifier,
    )

    labels, image = sphere_volume()
    from napari_cathode.core.analysis.particles import separate_particles

    instances = separate_particles(labels == 2)
    truth = np.array([int(instances[7, cy, cx]) for cy, cx in CENTRES])
    cracked = np.array([i in CRACKED for i in range(len(CENTRES))], int)
    views = particle_views(image, instances, crop_geometries(instances, particles=truth))
    train = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    test = np.array([8, 9, 10, 11])
    config = StateModelConfig(steps=60, input_size=16, widths=(4, 8, 16, 32), batch_size=16)
    out = project.path.parent / "model"
    events = list(train_state_classifier(views[train], cracked[train], config, out))
    assert events[-1].report["per_class"]["cracked"]["recall"] is not None
    model = load_state_model(out)
    predicted = predict_probabilities(model.network, views[test]).argmax(1)
    assert predicted.tolist() == cracked[test].tolist()
    heat = grad_cam(model.network, views[test], class_index=1)
    assert heat.shape == (len(test), *views.shape[2:])


def test_grad_cam_is_highest_on_a_planted_bright_feature():
    from napari_cathode.ml.state_classifier import (
        StateModelConfig,
        grad_cam,
        predict_probabilities,
        train_state_classifier,
    )
    from napari_cathode.ml.state_explain import occlusion_map

    rng = np.random.default_rng(0)
    tiles = rng.normal(0.3, 0.05, (48, 1, 32, 32)).astype(np.float32)
    corners = rng.integers(2, 22, size=(24, 2))
    for tile, (y, x) in zip(tiles[24:], corners):
        tile[0, y : y + 8, x : x + 8] += 0.7
    targets = np.repeat([0, 1], 24)
    config = StateModelConfig(
        states=("plain", "spot"), kind="image", spatial_dims=2, in_channels=1, input_size=32,
        steps=60, widths=(4, 8, 16, 32), batch_size=16,
    )  # fmt: skip
    import tempfile

    from napari_cathode.ml.state_classifier import load_state_model

    tile = rng.normal(0.3, 0.05, (1, 1, 32, 32)).astype(np.float32)
    tile[0, 0, 18:26, 4:12] += 0.7
    with tempfile.TemporaryDirectory() as folder:
        list(train_state_classifier(tiles, targets, config, folder))
        model = load_state_model(folder)
    assert predict_probabilities(model.network, tile).argmax() == 1
    heat = grad_cam(model.network, tile)[0]
    assert heat.shape == tile.shape[2:]
    inside = np.zeros(heat.shape, bool)
    inside[18:26, 4:12] = True
    assert heat[inside].mean() > 2 * heat[~inside].mean()
    peak = np.unravel_index(np.argmax(heat), heat.shape)
    assert 14 <= peak[0] < 30 and 0 <= peak[1] < 16  # at the spot (within the CAM's 2-px grid)
    # the default explanation of particles: filling a window of the spot with the tile's median
    # lowers "spot" most, filling plain background does nothing
    occluded = occlusion_map(model.network, tile, class_index=1, mask_channel=None)[0]
    assert occluded.shape == tile.shape[2:] and occluded.max() == 1.0
    assert occluded[inside].mean() > 5 * occluded[~inside].mean()
    peak = np.unravel_index(np.argmax(occluded), occluded.shape)
    assert 17 <= peak[0] < 27 and 3 <= peak[1] < 13  # on the spot or its 1-px rim


def test_crops_are_centred_on_the_particle_core():
    """An L-shaped particle: its bounding box's centre lies outside it, its core inside."""
    from napari_cathode.core.states.particle_crops import crop_geometries

    instances = np.zeros((9, 30, 30), np.int32)
    instances[:, 2:28, 2:10] = 1
    instances[:, 20:28, 2:28] = 1
    (core,) = crop_geometries(instances)
    (box,) = crop_geometries(instances, centre="box")
    assert instances[tuple(round(c) for c in core.center)] == 1
    assert instances[tuple(round(c) for c in box.center)] == 0
    assert core.half == box.half
    with pytest.raises(CathodeError, match="'core' or 'box'"):
        crop_geometries(instances, centre="middle")


def _run(capsys, argv) -> tuple[int, dict | None, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if code == 0 else None), captured.err


def test_cli_particles_label_train_predict_explain(project, capsys, tmp_path):
    path = str(project.path)
    code, out, err = _run(capsys, ["classify", "train", "--project", path, "--steps", "5"])
    assert code == 2 and "no labelled particles" in err
    code, out, _ = _run(
        capsys, ["classify", "label", "--project", path, "--at", "7", "7", "7", "--state",
                 "intact"]
    )  # fmt: skip
    assert code == 0 and out["labels"] == [{"point": [7, 7, 7], "state": "intact"}]
    code, out, err = _run(capsys, ["classify", "train", "--project", path, "--steps", "5"])
    assert code == 2 and "only state 'intact'" in err
    code, out, err = _run(
        capsys, ["classify", "label", "--project", path, "--at", "7", "7", "21", "--state", "x"]
    )
    assert code == 2 and "unknown state 'x'" in err
    from napari_cathode.jobs.particle_states_job import project_instances

    _label_all(project, project_instances(project))
    code, out, _ = _run(capsys, ["classify", "train", "--project", path, "--steps", "10"])
    assert code == 0
    assert set(out["report"]["per_class"]) == {"intact", "cracked"}
    assert {"precision", "recall"} <= set(out["report"]["per_class"]["cracked"])
    code, out, _ = _run(capsys, ["classify", "predict", "--project", path])
    assert code == 0 and out["particles"] == len(CENTRES)
    table = (project.path / "states" / "particles.csv").read_text().splitlines()
    assert table[0].startswith("particle,centroid_z,centroid_y,centroid_x,voxels,volume,state")
    png = tmp_path / "p1.png"
    code, out, _ = _run(
        capsys, ["classify", "explain", "--project", path, "--particle", "1", "--out", str(png)]
    )
    assert code == 0 and png.stat().st_size > 0 and out["explained"] in ("intact", "cracked")
    assert out["method"] == "occlusion"
    tif = tmp_path / "p1.tif"
    code, out, _ = _run(
        capsys, ["classify", "explain", "--project", path, "--particle", "1", "--method",
                 "gradcam", "--out", str(tif)]
    )  # fmt: skip
    assert code == 0 and out["method"] == "gradcam"
    assert tifffile.imread(tif).shape == tuple(b - a for a, b in out["box"])


def test_cli_particles_without_particles_is_a_clear_error(tmp_path, capsys):
    from napari_cathode.core.project.store import Project

    project = Project.create(
        tmp_path / "empty.cathode", np.zeros((4, 16, 16), np.float32), classes=DEFAULT_CLASSES
    )
    code, _, err = _run(capsys, ["classify", "train", "--project", str(project.path)])
    assert code == 2 and "no 'active material' voxels" in err


def test_cli_images_train_predict_explain_prints_precision_recall(tmp_path, capsys):
    rng = np.random.default_rng(1)
    for state, spots in (("plain", 0), ("spotted", 6)):
        folder = tmp_path / "images" / state
        folder.mkdir(parents=True)
        for k in range(3):
            image = rng.normal(100, 5, (64, 64)).astype(np.float32)
            for y, x in rng.integers(0, 56, size=(spots, 2)):
                image[y : y + 6, x : x + 6] += 80
            tifffile.imwrite(folder / f"{k}.tif", image)
    model = str(tmp_path / "model")
    images = str(tmp_path / "images")
    code, out, _ = _run(
        capsys, ["classify", "train", "--images", images, "--model", model, "--tile", "32",
                 "--steps", "10"]
    )  # fmt: skip
    assert code == 0 and set(out["report"]["per_class"]["spotted"]) >= {"precision", "recall"}
    code, out, _ = _run(capsys, ["classify", "predict", "--images", images, "--model", model])
    assert code == 0 and len(out["images"]) == 6
    matrix = out["report"]["confusion_matrix"]
    assert matrix["states"] == ["plain", "spotted"]
    assert np.sum(matrix["rows_truth_columns_predicted"]) == 6
    tif = tmp_path / "heat.tif"
    code, out, _ = _run(
        capsys, ["classify", "explain", "--image", f"{images}/spotted/0.tif", "--model", model,
                 "--out", str(tif)]
    )  # fmt: skip
    assert code == 0 and tifffile.imread(tif).shape == (64, 64)
    one = tmp_path / "one_state"
    (one / "plain").mkdir(parents=True)
    tifffile.imwrite(one / "plain" / "a.tif", np.zeros((64, 64), np.float32))
    code, _, err = _run(capsys, ["classify", "train", "--images", str(one), "--model", model])
    assert code == 2 and "at least two states" in err


def test_cli_image_explain_refuses_occlusion(tmp_path, capsys):
    code, _, err = _run(
        capsys, ["classify", "explain", "--image", str(tmp_path / "a.tif"), "--model",
                 str(tmp_path / "m"), "--method", "occlusion"]
    )  # fmt: skip
    assert code == 2 and "occlusion maps are for particles" in err and "--method gradcam" in err
