"""Contiguous slices: detected and stored in project.json, a 2.5D round, a 2D model inflated."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import torch

from napari_cathode.cli.main import main as cli
from napari_cathode.core.project.contiguity import detect_contiguous
from napari_cathode.core.project.store import Project, ReviewStatus
from napari_cathode.core.synthetic.imaging_model import render_fib_sem
from napari_cathode.jobs.prediction_job import predict_array
from napari_cathode.jobs.training_runs import ProjectTrainingRequest, plan_round, run_training
from napari_cathode.ml import events as ev
from napari_cathode.ml.checkpoint import LoadedModel, load_model
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.context import inflate_network
from napari_cathode.ml.starter import starter_model_dir

torch.set_num_threads(2)
TINY = ModelConfig(
    channels=(8, 16, 32),
    patch_size=(64, 64),
    batch_size=2,
    steps=3,
    validate_every=3,
    device="cpu",
    seed=1,
)


@pytest.fixture(scope="module")
def fib_sem_crop(shared_data) -> tuple[np.ndarray, np.ndarray]:
    """A contiguous crop: real 3D NMC geometry (SliceGAN) rendered FIB-SEM-like (semi-synthetic)."""
    raw = tifffile.imread(shared_data / "slicegan-nmc-3phase" / "NMC.tif")[:8, :96, :96]
    labels = np.select([raw == 0, raw == 128, raw == 255], [1, 2, 3]).astype(np.uint8)
    return render_fib_sem(labels, rng=np.random.default_rng(0)), labels


def test_contiguity_is_measured_from_the_image(acquisition_a, fib_sem_crop):
    separate, why = detect_contiguous(acquisition_a[0])  # SegmentPy: slices far apart
    assert separate is False and "correlate" in why
    assert detect_contiguous(fib_sem_crop[0])[0] is True
    assert detect_contiguous(acquisition_a[0][:1])[0] is False  # one slice


def test_contiguity_is_stored_in_project_json_and_round_trips(acquisition_a_crop, tmp_path):
    image, _ = acquisition_a_crop
    measured = Project.create(tmp_path / "m.cathode", image)
    assert measured.contiguous is False and "correlate" in measured.contiguity

    chosen = Project.create(tmp_path / "c.cathode", image, contiguous=True)
    stored = json.loads((chosen.path / "project.json").read_text())
    assert stored["contiguous"] is True and stored["contiguity"] == "chosen by the user"
    assert Project.open(chosen.path).contiguous is True
    chosen.set_contiguous(False)
    assert Project.open(chosen.path).contiguous is False
    chosen.set_contiguous(None)
    assert Project.open(chosen.path).contiguous is None

    # a project written before the field existed reads as unknown
    del stored["contiguous"], stored["contiguity"]
    (chosen.path / "project.json").write_text(json.dumps(stored))
    assert Project.open(chosen.path).contiguous is None


def test_cli_new_takes_the_choice(tmp_path, capsys, acquisition_a_crop):
    file = tmp_path / "a.tif"
    tifffile.imwrite(file, acquisition_a_crop[0])
    args = ["new", str(tmp_path / "yes.cathode"), "--image", str(file), "--init-model", "none"]
    assert cli([*args, "--contiguous"]) == 0
    assert "contiguous (2.5D model)" in capsys.readouterr().out
    assert Project.open(tmp_path / "yes.cathode").contiguous is True
    args[1] = str(tmp_path / "no.cathode")
    assert cli([*args, "--no-contiguous"]) == 0
    assert Project.open(tmp_path / "no.cathode").contiguous is False


def test_a_2d_model_warm_starts_a_2_5d_one_computing_the_same(fib_sem_crop):
    image, labels = fib_sem_crop
    flat = load_model(starter_model_dir())
    assert flat.config.context_slices == 1
    config, network = inflate_network(flat.network, flat.config, 3)
    assert config.context_slices == 3 and config.in_channels == 3
    inflated = LoadedModel(network, config, flat.metadata)

    # neighbours equal to the centre slice: exactly the 2D network's output
    plane = torch.as_tensor(image[3:4][None])
    flat.network.eval(), network.eval()
    with torch.no_grad():
        expected = flat.network(plane)
        assert torch.allclose(network(plane.repeat(1, 3, 1, 1)), expected, atol=1e-4)

    # on the contiguous crop it proposes (nearly) what the 2D model proposes, and as well
    slices = list(range(1, 7))
    before, _ = predict_array(flat, image, slices=slices, device="cpu")
    after, _ = predict_array(inflated, image, slices=slices, device="cpu")
    assert (before[1:7] == after[1:7]).mean() > 0.9
    accuracy = [float((p[1:7] == labels[1:7]).mean()) for p in (before, after)]
    assert abs(accuracy[0] - accuracy[1]) < 0.02


def test_a_contiguous_project_trains_a_2_5d_round_from_the_2d_starter(fib_sem_crop, tmp_path):
    image, labels = fib_sem_crop
    truth = np.zeros_like(labels)
    truth[4] = labels[4]
    project = Project.create(tmp_path / "fib.cathode", image, truth=truth)
    assert project.contiguous is True  # measured: neighbouring slices correlate
    project.set_review([4], ReviewStatus.REVIEWED, round=1)
    request = ProjectTrainingRequest(str(project.path), config=TINY, init_model="starter")
    assert plan_round(request).config.context_slices == 3
    events = list(run_training(request))
    assert isinstance(events[-1], ev.DoneEvent)
    model = project.latest_round().metadata
    assert model["config"]["context_slices"] == 3 and model["warm_start"]
    assert model["config"]["channels"] == list(load_model(starter_model_dir()).config.channels)

    project.set_contiguous(False)  # separate slices: a 2D round
    assert plan_round(
        ProjectTrainingRequest(str(project.path), config=TINY)
    ).config == TINY.replace(classes=project.classes)
