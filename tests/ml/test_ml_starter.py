"""The shipped NMC nano-CT starter model and the choice of a project's starting model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import torch

from napari_cathode.cli.main import main
from napari_cathode.core.classes import DEFAULT_CLASSES
from napari_cathode.core.errors import ModelError
from napari_cathode.core.metrics import dice_scores, mean_dice
from napari_cathode.core.project.store import Project
from napari_cathode.jobs.prediction_job import predict_array
from napari_cathode.jobs.training_runs import project_start
from napari_cathode.ml.checkpoint import load_model
from napari_cathode.ml.starter import resolve_init_model, starter_model_dir

torch.set_num_threads(2)


def test_starter_model_ships_as_safe_weights_and_loads_without_code(tmp_path):
    folder = starter_model_dir()
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == [
        "model.json",
        "model.safetensors",
    ]
    assert (folder / "model.safetensors").stat().st_size < 8_000_000  # "a few MB"
    model = load_model(folder)
    # No forest in the starter (it lowered transfer Dice, benchmarks/loao.py); rounds fit their own.
    assert model.forest is None and model.config.forest_weight == 0
    assert [c.name for c in model.config.classes] == [c.name for c in DEFAULT_CLASSES]
    assert model.metadata["trained_by"] == "scripts/train_starter_model.py"
    assert resolve_init_model("starter") == folder and resolve_init_model("none") is None
    with pytest.raises(ModelError, match="not a model folder"):
        resolve_init_model(tmp_path / "missing")


def test_starter_model_segments_a_real_crop_far_above_chance(acquisition_a_crop):
    # A is one of the starter's training acquisitions: this checks the shipped weights work
    # (chance is ~0.33), not how well they transfer (that is benchmarks/loao.py).
    image, labels = acquisition_a_crop
    proposal, _ = predict_array(starter_model_dir(), image, device="cpu")
    dice = dice_scores(labels, proposal, DEFAULT_CLASSES)
    assert mean_dice(dice) > 0.65 and min(dice.values()) > 0.5  # multi-Otsu: 0.46


@pytest.fixture(scope="module")
def files(acquisition_a_crop, tmp_path_factory):
    image, labels = acquisition_a_crop
    folder = tmp_path_factory.mktemp("starter")
    tifffile.imwrite(folder / "image.tif", image)
    sparse = np.zeros_like(labels)
    sparse[[1, 3]] = labels[[1, 3]]
    tifffile.imwrite(folder / "sparse.tif", sparse)
    return folder


def _new(files, project_path, *extra):
    argv = ["new", str(project_path), "--image", str(files / "image.tif")]
    return main([*argv, "--labels", str(files / "sparse.tif"), *extra])


def _round_metadata(project_path):
    return json.loads((Project.open(project_path).latest_round().path / "model.json").read_text())


def test_new_project_warm_starts_its_first_round_from_the_starter_by_default(files, tmp_path):
    project_path = tmp_path / "a.cathode"
    assert _new(files, project_path) == 0
    assert project_start(project_path)["choice"] == "starter"
    assert (project_path / "start_model" / "model.safetensors").is_file()
    assert main(["train", str(project_path), "--steps", "2", "--device", "cpu"]) == 0
    meta = _round_metadata(project_path)
    assert meta["start"]["choice"] == "starter"
    assert meta["warm_start"] == str(project_path / "start_model")
    starter = json.loads((starter_model_dir() / "model.json").read_text())["config"]
    assert meta["config"]["channels"] == starter["channels"]
    # the round keeps the starter's quality after 2 steps: a scratch model could not
    image, labels = tifffile.imread(files / "image.tif"), tifffile.imread(files / "sparse.tif")
    proposal, _ = predict_array(Project.open(project_path).latest_round().path, image)
    assert mean_dice(dice_scores(labels, proposal, DEFAULT_CLASSES)) > 0.6

    # an explicit --from-scratch round ignores both the previous round and the starter
    assert main(["train", str(project_path), "--steps", "2", "--from-scratch"]) == 0
    meta = _round_metadata(project_path)
    assert meta["start"]["choice"] == "none" and meta["warm_start"] is None


def test_new_project_from_scratch_does_not_use_the_starter(files, tmp_path):
    project_path = tmp_path / "b.cathode"
    assert _new(files, project_path, "--init-model", "none") == 0
    assert project_start(project_path)["choice"] == "none"
    assert not (project_path / "start_model").exists()
    assert main(["train", str(project_path), "--steps", "2", "--device", "cpu"]) == 0
    meta = _round_metadata(project_path)
    assert meta["start"]["choice"] == "none" and meta["warm_start"] is None


def test_starter_cannot_start_a_project_with_other_classes(files, tmp_path, capsys):
    project_path = tmp_path / "c.cathode"
    argv = ["--classes", "pore,solid", "--init-model", "starter"]
    code = main(["new", str(project_path), "--image", str(files / "image.tif"), *argv[:2]])
    assert code == 0 and project_start(project_path)["choice"] == "none"  # default falls back
    refused = tmp_path / "d.cathode"
    code = main(["new", str(refused), "--image", str(files / "image.tif"), *argv])
    assert code != 0 and "predicts 3 classes" in capsys.readouterr().err
    assert not refused.exists()


def test_new_project_proposes_labels_before_its_first_round(files, tmp_path, capsys):
    project_path = tmp_path / "e.cathode"
    assert _new(files, project_path) == 0
    assert main(["predict", str(project_path), "--device", "cpu"]) == 0
    project = Project.open(project_path)
    assert project.latest_round() is None
    truth = tifffile.imread(files / "sparse.tif")
    assert mean_dice(dice_scores(truth, project.proposal[:], DEFAULT_CLASSES)) > 0.6

    # a project started from scratch has nothing to propose with, and says what to do
    scratch = tmp_path / "f.cathode"
    assert _new(files, scratch, "--init-model", "none") == 0
    capsys.readouterr()
    assert main(["predict", str(scratch), "--device", "cpu"]) == 2
    assert "no trained round and no starting model" in capsys.readouterr().err
