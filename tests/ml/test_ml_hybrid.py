"""The hybrid learner: a round fits the network and a small forest; prediction averages them."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from napari_cathode.core.errors import ModelError
from napari_cathode.jobs.prediction_job import make_predictor, predict_array
from napari_cathode.ml.checkpoint import load_model
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.forest_store import FOREST_FILE
from napari_cathode.ml.training import TrainingVolume, train

FAST = dict(
    device="cpu",
    steps=2,
    validate_every=1,
    batch_size=2,
    patch_size=(64, 64),
    forest_trees=5,
    forest_voxels=3_000,
)


def _train(tmp_path, crop, **changes):
    image, labels = crop
    out = tmp_path / "model"
    volume = TrainingVolume(image, labels, "A", slices=(0, 1))
    events = list(train([volume], config=ModelConfig(**{**FAST, **changes}), out_dir=out))
    return out, events[-1]


def test_round_saves_a_forest_that_loads_without_pickle(tmp_path, acquisition_a_crop, monkeypatch):
    image, _ = acquisition_a_crop
    out, _ = _train(tmp_path, acquisition_a_crop)
    assert (out / FOREST_FILE).is_file()
    timings = json.loads((out / "model.json").read_text())["timings"]
    assert timings["forest_seconds"] > 0
    fitted = load_model(out).forest.predict_proba(image, [2, 3])

    def refuse(*args, **kwargs):
        raise AssertionError("loading a model must not unpickle anything")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    loaded = load_model(out)
    # The rebuilt trees give exactly the probabilities of the fitted ones.
    np.testing.assert_array_equal(loaded.forest.predict_proba(image, [2, 3]), fitted)


def test_prediction_averages_network_and_forest(tmp_path, acquisition_a_crop):
    image, _ = acquisition_a_crop
    out, _ = _train(tmp_path, acquisition_a_crop)
    model = load_model(out)
    predictor = make_predictor(model, image, device="cpu")
    whole = (slice(None), slice(None))
    hybrid = predictor.probabilities(image, 3, 4, *whole)[:, 0].numpy()
    forest = model.forest.predict_proba(image, 3, predictor.normalization)
    predictor.forest = None
    network = predictor.probabilities(image, 3, 4, *whole)[:, 0].numpy()
    w = model.config.forest_weight
    np.testing.assert_allclose(hybrid, (1 - w) * network + w * forest, atol=1e-5)
    proposal, scores = predict_array(model, image, slices=[3])
    ids = np.array([c.id for c in model.config.classes])
    np.testing.assert_array_equal(proposal[3], ids[np.argmax(hybrid, axis=0)])
    assert 0 <= scores[3] <= 1


def test_forest_weight_zero_is_the_network_alone(tmp_path, acquisition_a_crop):
    out, _ = _train(tmp_path, acquisition_a_crop, forest_weight=0.0)
    assert not (out / FOREST_FILE).exists()
    assert load_model(out).forest is None


def test_a_damaged_forest_file_is_refused(tmp_path, acquisition_a_crop):
    out, _ = _train(tmp_path, acquisition_a_crop)
    (out / FOREST_FILE).write_bytes(b"\x80\x04not a safetensors file")
    with pytest.raises(ModelError, match=r"forest\.safetensors"):
        load_model(out)


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_forest_weight_is_checked(value):
    with pytest.raises(ModelError, match="forest_weight"):
        ModelConfig(forest_weight=value)


def test_forest_weight_option_reaches_the_config():
    from argparse import Namespace

    from napari_cathode.cli.model_options import model_config_from_args

    args = Namespace(device="cpu", seed=0, steps=None, forest_weight=0.0)
    assert model_config_from_args(args).forest_weight == 0.0
    assert model_config_from_args(Namespace(device="cpu", seed=0)).forest_weight == 0.25
    with pytest.raises(ModelError, match=r"forest_weight must be in 0\.\.1"):
        model_config_from_args(Namespace(device="cpu", seed=0, steps=None, forest_weight=2.0))
