"""Model folders: round trip, config validation, and refusal of pickled payloads."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch

from napari_cathode.core.classes import classes_from_names
from napari_cathode.core.errors import ModelError
from napari_cathode.ml.checkpoint import load_model, save_model
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.networks import build_network

torch.set_num_threads(2)
SMALL = ModelConfig(channels=(4, 8, 16), patch_size=(32, 32), seed=3)


def test_config_json_round_trip_keeps_every_field():
    config = SMALL.replace(
        classes=classes_from_names(["a", "b"]), learning_rate=1e-4, augmentation=False
    )
    text = json.dumps(config.to_json())
    assert ModelConfig.from_json(json.loads(text)) == config


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"patch_size": (30, 32)}, "divisible"),
        ({"context_slices": 2}, "odd"),
        ({"spatial_dims": 3}, "needs 3 values"),
        ({"device": "tpu"}, "device"),
        ({"percentiles": (99.0, 1.0)}, "percentiles"),
    ],
)
def test_invalid_config_is_refused_with_a_message(changes, message):
    with pytest.raises(ModelError, match=message):
        SMALL.replace(**changes)


def test_saved_model_predicts_the_same_after_loading(tmp_path):
    network = build_network(SMALL).eval()
    save_model(tmp_path / "m", network, config=SMALL, metadata={"note": "x"})
    loaded = load_model(tmp_path / "m")
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(network(x), loaded.network(x))
    assert loaded.config == SMALL
    assert loaded.metadata["note"] == "x"


class _Payload:
    """Unpickling this would create the marker file: the attack a model file must not run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("weights_name", ["model.pt", "model.safetensors"])
def test_pickled_payload_is_refused_and_never_executed(tmp_path, weights_name):
    folder = tmp_path / "evil"
    save_model(folder, build_network(SMALL), config=SMALL)
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "pwned"
    with open(folder / weights_name, "wb") as f:
        if weights_name.endswith(".pt"):
            torch.save({"weight": _Payload(marker)}, f)  # torch's zip format around a pickle
        else:
            pickle.dump({"weight": _Payload(marker)}, f)
    with pytest.raises(ModelError, match="refused"):
        load_model(folder)
    assert not marker.exists()


def test_missing_or_foreign_folder_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="not a model folder"):
        load_model(tmp_path)
    (tmp_path / "model.json").write_text('{"hello": 1}')
    with pytest.raises(ModelError, match="not a napari-cathode"):
        load_model(tmp_path)
