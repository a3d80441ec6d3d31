"""Image-level states: a tile classifier trained on images of known state, predict, explain.

Each image (any single file :func:`~napari_cathode.core.io.volumes.open_volume` reads; a stack's
slices are all used) is normalised by its own 0.5-99.5 percentiles and cut into square tiles.
An image's state is the one with the highest mean tile probability.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_cathode.core.errors import CathodeError, ModelError
from napari_cathode.core.io.volumes import open_volume
from napari_cathode.core.states.images import image_tiles, read_state_images, states_of
from napari_cathode.core.states.metrics import classification_report
from napari_cathode.ml.normalization import fit_normalization
from napari_cathode.ml.state_classifier import (
    StateModelConfig,
    grad_cam,
    load_state_model,
    predict_probabilities,
    train_state_classifier,
)

__all__ = ["ImageStateRequest", "explain_image", "normalised_image", "predict_images"]

log = logging.getLogger(__name__)


def normalised_image(path: str | Path) -> np.ndarray:
    """The image as a (z, y, x) float32 array scaled by its own percentiles."""
    volume = open_volume(path)
    data = np.asarray(volume.data, dtype=np.float32)
    return fit_normalization(data).apply(data)


@dataclass(frozen=True)
class ImageStateRequest:
    """Train a tile classifier on images with states (picklable for the job process)."""

    source: str
    out: str
    tile: int = 64
    stride: int = 64
    steps: int = 200
    seed: int = 0

    def run(self, cancel=None):
        """Generator of training events; writes the model folder ``out`` when done."""
        items = read_state_images(self.source)
        unknown = [str(i.path) for i in items if i.state is None]
        if unknown:
            raise CathodeError(
                f"{self.source}: images without a state cannot train: {unknown[:3]}; put them "
                "in a state folder or give their state in the CSV"
            )
        states = states_of(items)
        inputs, targets = [], []
        for item in items:
            tiles = image_tiles(normalised_image(item.path), self.tile, self.stride)
            inputs.append(tiles[:, None])
            targets.append(np.full(len(tiles), states.index(item.state)))
        config = StateModelConfig(
            states=states,
            kind="image",
            spatial_dims=2,
            in_channels=1,
            input_size=self.tile,
            steps=self.steps,
            seed=self.seed,
            extra={"stride": self.stride},
        )
        yield from train_state_classifier(
            np.concatenate(inputs),
            np.concatenate(targets),
            config,
            self.out,
            cancel=cancel,
            metadata={"images": [{"path": str(i.path), "state": i.state} for i in items]},
        )


def _image_model(model: str | Path):
    loaded = load_state_model(model)
    if loaded.config.kind != "image":
        raise ModelError(f"{model} classifies {loaded.config.kind}s, not images")
    return loaded


def predict_images(model: str | Path, source: str | Path) -> dict:
    """Per-image predictions (and, where states are known, precision/recall and confusion).

    Returns
    -------
    dict
        ``{"images": [{path, state, predicted, probability, probabilities}], "report": ...}``;
        the report is None when no image has a known state.
    """
    loaded = _image_model(model)
    config = loaded.config
    stride = int(config.extra.get("stride", config.input_size))
    rows = []
    for item in read_state_images(source):
        tiles = image_tiles(normalised_image(item.path), config.input_size, stride)
        mean = predict_probabilities(loaded.network, tiles[:, None]).mean(0)
        rows.append(
            {
                "path": str(item.path),
                "state": item.state,
                "predicted": config.states[int(mean.argmax())],
                "probability": float(mean.max()),
                "probabilities": {s: float(p) for s, p in zip(config.states, mean)},
                "tiles": len(tiles),
            }
        )
    known = [r for r in rows if r["state"] is not None]
    extra = sorted({r["state"] for r in known} - set(config.states))
    if extra:
        raise CathodeError(
            f"{source} names states {extra} the model does not know (it knows "
            f"{list(config.states)})"
        )
    report = (
        classification_report(
            [r["state"] for r in known], [r["predicted"] for r in known], config.states
        )
        if known
        else None
    )
    return {"images": rows, "report": report}


def explain_image(
    model: str | Path, path: str | Path, *, z: int = 0, state: str | None = None,
    plus_plus: bool = False,
) -> dict:  # fmt: skip
    """Grad-CAM of one image slice, computed on the whole plane (the ResNet pools globally).

    Returns
    -------
    dict
        ``heat`` (y, x) float32 0..1, ``image`` (the normalised plane), ``state``, ``predicted``.
    """
    loaded = _image_model(model)
    states = loaded.config.states
    image = normalised_image(path)
    if not 0 <= z < image.shape[0]:
        raise CathodeError(f"{path} has slices 0..{image.shape[0] - 1}, not {z}")
    plane = image[z][None, None]
    predicted = states[int(predict_probabilities(loaded.network, plane)[0].argmax())]
    if state is not None and state not in states:
        raise CathodeError(f"unknown state {state!r}; the model's states are {list(states)}")
    explained = state or predicted
    heat = grad_cam(
        loaded.network,
        plane,
        class_index=states.index(explained),
        layer=loaded.config.cam_layer,
        plus_plus=plus_plus,
    )[0]
    return {"heat": heat, "image": image[z], "state": explained, "predicted": predicted}
