"""The contract commands on a small real crop: new, train, predict, status, evaluate, simulate."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import torch

from napari_cathode.cli.main import main
from napari_cathode.core.classes import DEFAULT_CLASSES
from napari_cathode.core.metrics import dice_scores, mean_dice
from napari_cathode.core.project.store import Project

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def files(acquisition_a_crop, tmp_path_factory):
    image, labels = acquisition_a_crop
    folder = tmp_path_factory.mktemp("cli")
    # 16-bit image and a smaller-than-the-patch crop: the contract must take any size and dtype.
    scaled = (image - image.min()) / np.ptp(image) * 60000
    tifffile.imwrite(folder / "image.tif", scaled.astype(np.uint16))
    tifffile.imwrite(folder / "labels.tif", labels)
    sparse = np.zeros_like(labels)
    sparse[[1, 3]] = labels[[1, 3]]
    tifffile.imwrite(folder / "sparse.tif", sparse)
    return folder


@pytest.fixture(scope="module")
def model(files):
    out = files / "model"
    assert (
        main(
            [
                "train",
                "--image",
                str(files / "image.tif"),
                "--labels",
                str(files / "labels.tif"),
                "--out",
                str(out),
                "--steps",
                "3",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    return out


def test_train_from_files_writes_a_model_folder(model):
    meta = json.loads((model / "model.json").read_text())
    assert meta["config"]["steps"] == 3 and meta["device"].startswith("cpu")
    assert (model / "model.safetensors").is_file()
    assert [p.name for p in model.parent.iterdir() if p.name.startswith(".model")] == []


def test_evaluate_prints_the_json_contract_and_saves_the_prediction(files, model, capsys):
    capsys.readouterr()
    prediction = files / "prediction.tif"
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(model),
                "--image",
                str(files / "image.tif"),
                "--labels",
                str(files / "labels.tif"),
                "--save-prediction",
                str(prediction),
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"dice", "mean_dice"}
    assert list(result["dice"]) == [c.name for c in DEFAULT_CLASSES]
    # Anyone can recompute the numbers from the saved labels.
    labels = tifffile.imread(files / "labels.tif")
    saved = tifffile.imread(prediction)
    assert saved.shape == labels.shape and set(np.unique(saved)) <= {1, 2, 3}
    expected = dice_scores(labels, saved, DEFAULT_CLASSES)
    assert result["dice"] == pytest.approx(expected)
    assert result["mean_dice"] == pytest.approx(mean_dice(expected))


def test_project_commands_new_train_predict_status(files, model, tmp_path, capsys):
    project_path = tmp_path / "a.cathode"
    assert (
        main(
            [
                "new",
                str(project_path),
                "--image",
                str(files / "image.tif"),
                "--labels",
                str(files / "sparse.tif"),
                "--classes",
                "pore,active,binder",
            ]
        )
        == 0
    )
    project = Project.open(project_path)
    assert [c.name for c in project.classes] == ["pore", "active", "binder"]
    assert list(project.truth_slices()) == [1, 3]
    assert main(["train", str(project_path), "--steps", "2", "--device", "cpu"]) == 0
    assert main(["predict", str(project_path), "--slices", "0,2-4"]) == 0
    project = Project.open(project_path)
    assert project.latest_round().index == 1
    assert project.proposal[[0, 2, 3, 4]].all() and not project.proposal[1].any()
    capsys.readouterr()
    assert main(["status", str(project_path), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert [r["round"] for r in status["rounds"]] == [1]
    assert status["rounds"][0]["truth_slices"] == 2 and status["review"]["reviewed"] == 2
    assert main(["status", str(project_path)]) == 0
    assert "round" in capsys.readouterr().out


def test_simulate_writes_the_rounds_json_contract(files, tmp_path):
    out = tmp_path / "sim"
    assert (
        main(
            [
                "simulate",
                "--image",
                str(files / "image.tif"),
                "--labels",
                str(files / "labels.tif"),
                "--out",
                str(out),
                "--initial",
                "1",
                "--per-round",
                "2",
                "--rounds",
                "2",
                "--steps",
                "2",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    document = json.loads((out / "rounds.json").read_text())
    assert set(document) == {"config", "device", "rounds"}
    assert document["config"]["initial"] == 1 and document["config"]["model"]["steps"] == 2
    first, second = document["rounds"]
    assert first["round"] == 0 and len(first["reviewed_slices"]) == 1
    assert len(second["reviewed_slices"]) == 3
    assert set(first["dice"]) == {c.name for c in DEFAULT_CLASSES}
    assert isinstance(first["mean_dice"], float)


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            [
                "evaluate",
                "--model",
                "{tmp}/nope",
                "--image",
                "{files}/image.tif",
                "--labels",
                "{files}/labels.tif",
            ],
            "not a model folder",
        ),
        (
            [
                "train",
                "--image",
                "{files}/image.tif",
                "--labels",
                "{files}/bad.tif",
                "--out",
                "{tmp}/m",
            ],
            "hold values 1..9",
        ),
        (
            [
                "train",
                "--image",
                "{files}/image.tif",
                "--labels",
                "{files}/small.tif",
                "--out",
                "{tmp}/m",
            ],
            "shape",
        ),
        (
            [
                "simulate",
                "--image",
                "{files}/image.tif",
                "--labels",
                "{files}/labels.tif",
                "--out",
                "{tmp}/s",
                "--initial",
                "0",
            ],
            "--initial",
        ),
        (["predict", "{tmp}/none.cathode"], "none.cathode"),
    ],
)
def test_bad_input_exits_non_zero_with_a_one_line_message(files, tmp_path, capsys, argv, message):
    labels = tifffile.imread(files / "labels.tif")
    tifffile.imwrite(files / "bad.tif", np.where(labels == 3, 9, labels).astype(np.uint8))
    tifffile.imwrite(files / "small.tif", labels[:, :10])
    argv = [a.format(tmp=tmp_path, files=files) for a in argv]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err[-1:]) == 1 and message in err[-1] and err[-1].startswith("napari-cathode ")
