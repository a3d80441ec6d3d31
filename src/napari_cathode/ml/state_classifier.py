"""A small MONAI ResNet that classifies the state of particles or images (2D by default).

Particles are seen as a mosaic of their three central planes (:mod:`napari_cathode.core.
particle_crops`), images as tiles; ``spatial_dims=3`` also works on 3D crops but did not fit our
CPU budget. The network is :class:`monai.networks.nets.ResNet` with one basic block per stage
and narrow stages (8-16-32-64 channels by default), a 3×3 first convolution with stride 1 and
no max-pool, so the first stage keeps the input's full resolution: that is the layer Grad-CAM
reads by default (on the crack benchmark its maps were more concentrated on the cracks than
those of ``layer2``, yet less than occlusion maps, :mod:`napari_cathode.ml.state_explain`).
Trained with class-balanced batches, flips and shuffled mosaic tiles (the three planes are
interchangeable views), AdamW with a one-cycle schedule. A training run is a generator of
events like the U-Net's, so :class:`~napari_cathode.jobs.training_job.TrainingJob` machinery
renders and cancels it.

Model folders hold ``model.safetensors`` + ``state_model.json``; loading reads tensors only.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.networks.nets import ResNet
from monai.visualize import GradCAM, GradCAMpp
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from napari_cathode.core.atomic import atomic_write_bytes, atomic_write_json
from napari_cathode.core.errors import ModelError
from napari_cathode.ml.events import (
    CancelledEvent,
    ClassifierStartedEvent,
    DoneEvent,
    StepEvent,
)

__all__ = [
    "FORMAT",
    "KINDS",
    "STATE_MODEL_JSON",
    "WEIGHTS",
    "ClassifierDoneEvent",
    "StateModel",
    "StateModelConfig",
    "build_state_network",
    "grad_cam",
    "load_state_model",
    "predict_probabilities",
    "save_state_model",
    "train_state_classifier",
]

log = logging.getLogger(__name__)

STATE_MODEL_JSON = "state_model.json"
WEIGHTS = "model.safetensors"
FORMAT = "napari-cathode-state-model"
KINDS = ("particle", "image")


@dataclass(frozen=True)
class StateModelConfig:
    """What a state classifier is and how it is trained (frozen, JSON round-trip)."""

    states: tuple[str, ...] = ("intact", "cracked")
    kind: str = "particle"
    spatial_dims: int = 2
    in_channels: int = 3
    input_size: int = 24
    widths: tuple[int, int, int, int] = (8, 16, 32, 64)
    steps: int = 300
    batch_size: int = 32
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    cam_layer: str = "layer1"
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ModelError(f"state model kind {self.kind!r} must be one of {KINDS}")
        if self.spatial_dims not in (2, 3):
            raise ModelError(f"spatial_dims must be 2 or 3, got {self.spatial_dims}")
        if len(self.states) < 2:
            raise ModelError(f"a state model needs at least two states, got {list(self.states)}")
        if self.input_size < 8 or self.steps < 1 or self.batch_size < 1:
            raise ModelError("input_size >= 8, steps >= 1 and batch_size >= 1 are required")

    def replace(self, **changes) -> StateModelConfig:
        return replace(self, **changes)

    def to_json(self) -> dict:
        data = asdict(self)
        data["states"], data["widths"] = list(self.states), list(self.widths)
        return data

    @classmethod
    def from_json(cls, data: dict) -> StateModelConfig:
        data = dict(data)
        data["states"], data["widths"] = tuple(data["states"]), tuple(data["widths"])
        return cls(**data)


@dataclass(frozen=True)
class ClassifierDoneEvent(DoneEvent):
    """The state model folder is complete; ``report`` holds its precision/recall."""

    report: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StateModel:
    """A trained state classifier and the rest of its ``state_model.json``."""

    network: torch.nn.Module
    config: StateModelConfig
    metadata: dict[str, Any] = field(default_factory=dict)


def build_state_network(config: StateModelConfig) -> torch.nn.Module:
    """The MONAI ResNet of ``config`` (untrained)."""
    return ResNet(
        block="basic",
        layers=[1, 1, 1, 1],
        block_inplanes=list(config.widths),
        spatial_dims=config.spatial_dims,
        n_input_channels=config.in_channels,
        conv1_t_size=3,
        conv1_t_stride=1,
        no_max_pool=True,
        num_classes=len(config.states),
    )


def _augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random flips of every spatial axis, then the order of the tiles of a view mosaic
    (width = 3 × height, each tile possibly transposed) or of the axes of a 3D crop is shuffled."""
    spatial = list(range(2, batch.ndim))
    flips = [a for a in spatial if torch.rand(1, generator=generator).item() < 0.5]
    if flips:
        batch = batch.flip(flips)
    order = torch.randperm(3, generator=generator).tolist()
    if batch.ndim == 5:
        return batch.permute(0, 1, *[spatial[i] for i in order]).contiguous()
    side = batch.shape[2]
    if batch.shape[3] == 3 * side:
        tiles = [batch[..., i * side : (i + 1) * side] for i in order]
        if torch.rand(1, generator=generator).item() < 0.5:  # a plane's two axes are alike too
            tiles = [tile.transpose(2, 3) for tile in tiles]
        return torch.cat(tiles, dim=3).contiguous()
    return batch


def _balanced_batches(targets: np.ndarray, batch: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of one batch with every class equally likely (rare states are not drowned)."""
    classes = np.unique(targets)
    chosen = rng.choice(classes, size=batch)
    return np.array([rng.choice(np.flatnonzero(targets == c)) for c in chosen])


def train_state_classifier(
    inputs: np.ndarray,
    targets: np.ndarray,
    config: StateModelConfig,
    out_dir: str | Path,
    *,
    cancel=None,
    metadata: dict | None = None,
) -> Iterator:
    """Train a state classifier; yields events and writes the model folder at the end.

    Parameters
    ----------
    inputs : numpy.ndarray
        ``(N, C, *spatial)`` float32 samples (crops or tiles).
    targets : numpy.ndarray of int
        Class index (into ``config.states``) of each sample.
    config : StateModelConfig
    out_dir : path
        Model folder (created; files written atomically).
    cancel : threading/multiprocessing Event, optional
        When set, training stops and nothing is written.
    metadata : dict, optional
        Stored in ``state_model.json`` (e.g. normalisation, the labelled particles).
    """
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    targets = np.asarray(targets, dtype=np.int64)
    started = time.monotonic()
    counts = {s: int((targets == i).sum()) for i, s in enumerate(config.states)}
    yield ClassifierStartedEvent(device="cpu", steps=config.steps, samples=counts)
    network = build_state_network(config)
    optimiser = torch.optim.AdamW(
        network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=config.learning_rate, total_steps=config.steps, pct_start=0.2
    )
    loss_function = torch.nn.CrossEntropyLoss()
    data = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
    labels = torch.from_numpy(targets)
    network.train()
    for step in range(1, config.steps + 1):
        if cancel is not None and cancel.is_set():
            yield CancelledEvent(step - 1)
            return
        index = torch.from_numpy(_balanced_batches(targets, config.batch_size, rng))
        batch = _augment(data[index], generator)
        loss = loss_function(network(batch), labels[index])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        yield StepEvent(step, float(loss.detach()))
    network.eval()
    predicted = predict_probabilities(network, inputs).argmax(1)
    from napari_cathode.core.states.metrics import classification_report

    report = classification_report(
        [config.states[t] for t in targets], [config.states[p] for p in predicted], config.states
    )
    report["on"] = "training samples"
    seconds = time.monotonic() - started
    meta = {**(metadata or {}), "training_report": report, "seconds": seconds}
    path = save_state_model(out_dir, network, config=config, metadata=meta)
    yield ClassifierDoneEvent(
        path=str(path),
        steps=config.steps,
        best_step=config.steps,
        mean_dice=None,
        seconds=seconds,
        report=report,
    )


@torch.no_grad()
def predict_probabilities(
    network: torch.nn.Module, inputs: np.ndarray, *, batch_size: int = 64, flips: bool = False
) -> np.ndarray:
    """Softmax probabilities ``(N, K)`` of the samples.

    With ``flips`` the probabilities are averaged over the sample and its flips along each
    spatial axis (test-time augmentation; one forward pass per flip pattern).
    """
    network.eval()
    spatial = list(range(2, np.ndim(inputs)))
    patterns = [[]]
    if flips:
        patterns = [[a for k, a in enumerate(spatial) if mask >> k & 1]
                    for mask in range(2 ** len(spatial))]  # fmt: skip
    out = []
    for start in range(0, len(inputs), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(inputs[start : start + batch_size]))
        batch = batch.float()
        total = sum(torch.softmax(network(batch.flip(p) if p else batch), dim=1) for p in patterns)
        out.append((total / len(patterns)).numpy())
    if not out:
        return np.zeros((0, network.fc.out_features), np.float32)
    return np.concatenate(out)


def grad_cam(
    network: torch.nn.Module,
    inputs: np.ndarray,
    *,
    class_index: int | None = None,
    layer: str = "layer1",
    plus_plus: bool = False,
) -> np.ndarray:
    """Grad-CAM (or Grad-CAM++) heat maps of the samples, upsampled to the input's shape.

    Parameters
    ----------
    network : torch.nn.Module
        A state network (its ``layer1``..``layer4`` can be the target layer).
    inputs : numpy.ndarray
        ``(N, C, *spatial)``.
    class_index : int, optional
        Class to explain; default each sample's predicted class.
    layer : str
        Target layer name.
    plus_plus : bool
        Use :class:`monai.visualize.GradCAMpp` instead of :class:`monai.visualize.GradCAM`.

    Returns
    -------
    numpy.ndarray float32
        ``(N, *spatial)``, each map divided by its maximum (0..1; all 0 if the map is).
    """
    network.eval()
    cam_type = GradCAMpp if plus_plus else GradCAM
    # MONAI's default post-processing maps max -> 0 and min -> 1 (it flips the map); keep the
    # map as it is and scale each one by its own maximum instead
    cam = cam_type(nn_module=network, target_layers=layer, postprocessing=_scale_to_max)
    x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
    kwargs = {} if class_index is None else {"class_idx": int(class_index)}
    # MONAI's GradCAMpp multiplies the (N, K) class scores into the (N, C, ...) gradients, which
    # only broadcasts for one sample at a time
    batches = torch.split(x, 1) if plus_plus else (x,)
    maps = torch.cat([cam(batch, **kwargs) for batch in batches])
    return maps[:, 0].detach().numpy().astype(np.float32)


def _scale_to_max(maps: torch.Tensor) -> torch.Tensor:
    peak = maps.flatten(1).amax(1).clamp_min(1e-12)
    return maps / peak.view(-1, *[1] * (maps.ndim - 1))


def save_state_model(
    directory: str | Path, network: torch.nn.Module, *, config: StateModelConfig, metadata: dict
) -> Path:
    """Write ``model.safetensors`` and ``state_model.json`` (each atomically)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in network.state_dict().items()}
    atomic_write_bytes(directory / WEIGHTS, save(tensors))
    atomic_write_json(
        directory / STATE_MODEL_JSON,
        {"format": FORMAT, "version": 1, "config": config.to_json(), **metadata},
    )
    return directory


def load_state_model(directory: str | Path) -> StateModel:
    """Load a state model folder (tensors only: nothing in it is executed)."""
    directory = Path(directory).expanduser()
    meta_path = directory / STATE_MODEL_JSON
    if not meta_path.is_file():
        raise ModelError(
            f"{directory} is not a state model folder (no {STATE_MODEL_JSON}); train one with "
            "'napari-cathode classify train'"
        )
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
        if metadata.get("format") != FORMAT:
            raise ValueError(f"format {metadata.get('format')!r} is not {FORMAT!r}")
        config = StateModelConfig.from_json(metadata.pop("config"))
        network = build_state_network(config)
        network.load_state_dict(load_file(directory / WEIGHTS))
    except (ValueError, KeyError, TypeError, RuntimeError, OSError, SafetensorError) as error:
        raise ModelError(f"{directory} cannot be loaded as a state model: {error}") from error
    network.eval()
    return StateModel(network=network, config=config, metadata=metadata)
