"""Model folders: ``model.safetensors`` + ``model.json`` (+ ``forest.safetensors`` of a hybrid);
loading never executes code.

ml saves and loads the weights; ``model.json`` is read and written by
:mod:`napari_cathode.core.model_document`, its one owner. A model folder is self-contained
(config, classes, normalisation, data split, metrics, timings, correction effort), so it can
be copied out of one project's ``rounds/NNNN/`` and used as the starting point of another.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from napari_cathode.core.atomic import atomic_write_bytes
from napari_cathode.core.errors import ModelError
from napari_cathode.core.model_document import (
    MODEL_FORMAT,
    MODEL_JSON,
    new_model_document,
    read_model_document,
    write_model_document,
)
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.forest import ForestSegmenter, model_forest
from napari_cathode.ml.forest_store import load_forest
from napari_cathode.ml.networks import build_network

log = logging.getLogger(__name__)

WEIGHTS = "model.safetensors"
#: Also accepted when loading: a plain state dict read with ``torch.load(weights_only=True)``.
TORCH_WEIGHTS = ("model.pt", "model.pth")
FORMAT = MODEL_FORMAT
__all__ = [
    "FORMAT",
    "MODEL_JSON",
    "WEIGHTS",
    "LoadedModel",
    "load_model",
    "save_model",
]


@dataclass(frozen=True)
class LoadedModel:
    """A network with its config, the rest of ``model.json`` and the forest of a hybrid."""

    network: torch.nn.Module
    config: ModelConfig
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    forest: ForestSegmenter | None = None


def save_model(
    directory: str | Path,
    network: torch.nn.Module,
    *,
    config: ModelConfig,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``model.safetensors`` and ``model.json`` into ``directory`` (each atomically, fsynced).

    Parameters
    ----------
    directory : path
        Created if missing.
    network : torch.nn.Module
        Its ``state_dict`` is saved (tensors only).
    config : ModelConfig
    metadata : dict, optional
        JSON-serialisable extras (normalisation, data split, metrics, timings, ...).

    Returns
    -------
    Path
        The folder.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in network.state_dict().items()}
    atomic_write_bytes(directory / WEIGHTS, save(state))
    write_model_document(directory, new_model_document(config.to_json(), metadata))
    return directory


def _load_state(directory: Path) -> dict[str, torch.Tensor]:
    weights = directory / WEIGHTS
    if weights.is_file():
        try:
            return load_file(str(weights), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelError(
                f"{weights} is not a valid safetensors file ({exc}); "
                "it is refused, nothing was executed"
            ) from exc
    for name in TORCH_WEIGHTS:
        path = directory / name
        if path.is_file():
            try:
                # weights_only=True refuses any pickle that would import or call code.
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:
                raise ModelError(
                    f"{path} is refused: it is not a plain weights-only state dict "
                    f"({type(exc).__name__}); "
                    "nothing was executed. Save models with napari-cathode (safetensors)."
                ) from exc
            if not isinstance(state, dict) or not all(
                isinstance(v, torch.Tensor) for v in state.values()
            ):
                raise ModelError(f"{path} does not hold a state dict of tensors")
            return state
    raise ModelError(f"{directory} has no {WEIGHTS}; the model folder is incomplete")


def _check_finite_weights(directory: Path, state: dict[str, torch.Tensor]) -> None:
    """Refuse NaN/inf weights: such a model predicts one class everywhere with no warning."""
    bad = [
        name
        for name, tensor in state.items()
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]
    if bad:
        raise ModelError(
            f"{directory}: {len(bad)} weight tensor(s) hold NaN or infinite values "
            f"(first: {bad[0]}); the model is damaged or its training diverged. Use an "
            "earlier round or train again"
        )


def load_model(directory: str | Path, *, device: torch.device | str = "cpu") -> LoadedModel:
    """Load a model folder without executing any code from it.

    Raises
    ------
    ModelError
        If the folder is incomplete, the config invalid, the weights unsafe or mismatched.
    """
    directory = Path(directory)
    document = read_model_document(directory)
    config = ModelConfig.from_json(document["config"])
    state = _load_state(directory)
    _check_finite_weights(directory, state)
    network = build_network(config)
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(
            f"weights in {directory} do not match its model.json config: {exc}"
        ) from exc
    network.to(device)
    network.eval()
    metadata = {k: v for k, v in document.items() if k != "config"}
    forest = None
    trees = load_forest(directory)
    if trees is not None:
        forest = model_forest(config)
        forest.forest = trees
    return LoadedModel(
        network=network, config=config, metadata=metadata, path=directory, forest=forest
    )
