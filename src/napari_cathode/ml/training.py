"""One training round as a generator of typed events (see :mod:`napari_cathode.ml.events`).

Validation rule (documented for users): the labelled slices of all volumes are listed in
(volume, z) order; with 4 or more of them every 4th one (the 4th, 8th, ...) is held out for
validation and the checkpoint with the best held-out mean Dice is kept. With fewer than 4
labelled slices nothing is held out (each one is too valuable): the model trains on all of
them, the Dice reported during training is on the training slices (``held_out=False``) and
the last checkpoint is kept.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_cathode.core.errors import ModelError
from napari_cathode.ml import pseudo_labels
from napari_cathode.ml.augment import Augmenter
from napari_cathode.ml.checkpoint import LoadedModel, load_model, save_model
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.context import inflate_network, needs_inflation
from napari_cathode.ml.device import describe_device, resolve_device
from napari_cathode.ml.events import (
    CancelledEvent,
    CheckpointEvent,
    DoneEvent,
    StartedEvent,
    StepEvent,
    TrainingEvent,
    ValidationEvent,
)
from napari_cathode.ml.forest_store import fit_round_forest
from napari_cathode.ml.networks import build_network
from napari_cathode.ml.normalization import Normalization, fit_normalization
from napari_cathode.ml.optimisation import Optimisation, draw_batch
from napari_cathode.ml.sampling import PatchSampler, extract_regions, labelled_slices
from napari_cathode.ml.validation import BestCheckpoint, is_validation_step, validation_predictors

log = logging.getLogger(__name__)

#: Hold out 1 in this many labelled slices when there are at least this many.
HOLD_OUT_EVERY = 4
#: Fields of a warm-start model's config that the new round may change.
TRAINING_FIELDS = (
    "batch_size",
    "learning_rate",
    "steps",
    "validate_every",
    "augmentation",
    "intensity_jitter",
    "histogram_warp",
    "forest_weight",
    "forest_voxels",
    "forest_trees",
    "pseudo_label_weight",
    "pseudo_label_confidence",
    "pseudo_label_class_share",
    "pseudo_label_steps",
    "pseudo_label_slices",
    "device",
    "mixed_precision",
    "seed",
)


@dataclass(frozen=True)
class TrainingVolume:
    """One image volume with its ground truth (0 = unlabeled).

    ``slices`` restricts training to those z indices (default: every slice with a label).
    """

    image: Any
    truth: Any
    name: str = "volume"
    slices: tuple[int, ...] | None = None
    normalization: Normalization | None = None


@dataclass(frozen=True)
class DataSplit:
    """Which (volume, slice) pairs train and which validate."""

    train: tuple[tuple[int, int], ...]
    validation: tuple[tuple[int, int], ...]
    held_out: bool

    def to_json(self, names: Sequence[str]) -> dict:
        return {
            "rule": f"hold out every {HOLD_OUT_EVERY}th labelled slice "
            f"when >= {HOLD_OUT_EVERY}, else none",
            "held_out": self.held_out,
            "train": [{"volume": names[v], "z": z} for v, z in self.train],
            "validation": [{"volume": names[v], "z": z} for v, z in self.validation],
        }


def split_slices(pairs: Sequence[tuple[int, int]]) -> DataSplit:
    """Apply the validation rule of this module to ``(volume index, z)`` pairs."""
    pairs = tuple(sorted(pairs))
    if len(pairs) < HOLD_OUT_EVERY:
        return DataSplit(pairs, pairs, held_out=False)
    validation = pairs[HOLD_OUT_EVERY - 1 :: HOLD_OUT_EVERY]
    held = set(validation)
    train = tuple(p for p in pairs if p not in held)
    return DataSplit(train, validation, held_out=True)


def warm_config(init: LoadedModel, config: ModelConfig) -> ModelConfig:
    """Config of a round warm-started from ``init``: its network, ``config``'s training settings.

    Raises
    ------
    ModelError
        If the classes differ in number (the output layer would not fit).
    """
    if len(init.config.classes) != len(config.classes):
        raise ModelError(
            f"the starting model {init.path} predicts {len(init.config.classes)} classes but "
            f"{len(config.classes)} are wanted; "
            "start from scratch or from a model with the same classes"
        )
    changes = {name: getattr(config, name) for name in TRAINING_FIELDS}
    return init.config.replace(classes=config.classes, **changes)


def with_normalization(volume: TrainingVolume, config: ModelConfig) -> TrainingVolume:
    """``volume`` with its own robust normalisation fitted when it has none."""
    if volume.normalization is not None:
        return volume
    fitted = fit_normalization(
        volume.image, method=config.normalization, percentiles=config.percentiles, seed=config.seed
    )
    return dataclasses.replace(volume, normalization=fitted)


def initial_network(
    config: ModelConfig, init_model: str | Path | LoadedModel | None
) -> tuple[ModelConfig, torch.nn.Module, str | None]:
    """The config and network a round starts from, and the warm-start model's path.

    With ``init_model`` (a folder or a loaded model) the network is a copy of its network and
    the config comes from :func:`warm_config`; without, a new network is built from ``config``.
    A 2D model starting a round that asks for z-context is inflated
    (:func:`napari_cathode.ml.context.inflate_network`).
    """
    if isinstance(init_model, (str, Path)):
        init_model = load_model(init_model)
    if init_model is None:
        return config, build_network(config), None
    warm_name = str(init_model.path) if init_model.path else None
    if needs_inflation(init_model.config, config):  # a 2D model starts a 2.5D round
        inflated, network = inflate_network(
            init_model.network, init_model.config, config.context_slices
        )
        return (
            warm_config(dataclasses.replace(init_model, config=inflated), config),
            network,
            warm_name,
        )
    # A copy: never train the caller's model in place.
    return warm_config(init_model, config), copy.deepcopy(init_model.network), warm_name


def plan_split(volumes: Sequence[TrainingVolume], validation: str = "auto") -> DataSplit:
    """The labelled (volume, z) pairs of ``volumes`` split by the module's rule.

    ``validation="none"`` trains and reports on every slice (nothing held out).

    Raises
    ------
    ModelError
        If no volume has any ground truth.
    """
    pairs = [
        (i, int(z))
        for i, v in enumerate(volumes)
        for z in (v.slices if v.slices is not None else labelled_slices(v.truth))
    ]
    if not pairs:
        raise ModelError("there is no ground truth to train on: label or review at least one slice")
    if validation == "auto":
        return split_slices(pairs)
    return DataSplit(tuple(sorted(pairs)), tuple(sorted(pairs)), False)


def training_regions(
    volumes: Sequence[TrainingVolume], split: DataSplit, config: ModelConfig
) -> list:
    """Normalised regions of the training slices of ``split`` (for a :class:`PatchSampler`)."""
    regions = []
    for i, v in enumerate(volumes):
        zs = [z for vi, z in split.train if vi == i]
        if zs:
            regions += extract_regions(
                v.image, v.truth, zs, config=config, normalization=v.normalization, source=v.name
            )
    return regions


def _is_cancelled(cancel) -> bool:
    if cancel is None:
        return False
    if hasattr(cancel, "is_set"):  # threading or multiprocessing Event
        return cancel.is_set()
    return bool(cancel())


def model_document(
    metadata,
    config,
    volumes,
    split,
    history,
    best,
    device_name,
    warm_name,
    *,
    train_seconds: float,
    total_seconds: float,
) -> dict[str, Any]:
    """The model.json content (besides the config) of a checkpoint."""
    steps = best[1]
    return {
        **(metadata or {}),
        "classes": [c.to_json() for c in config.classes],
        "normalization": {v.name: v.normalization.to_json() for v in volumes},
        "data_split": split.to_json([v.name for v in volumes]),
        "metrics": history,
        "best_step": steps,
        "dice": best[3],
        "mean_dice": None if best[0] < 0 else best[0],
        "device": device_name,
        "warm_start": warm_name,
        "timings": {
            "train_seconds": round(train_seconds, 3),
            "total_seconds": round(total_seconds, 3),
            "steps_per_second": round(history[-1]["step"] / max(train_seconds, 1e-9), 3),
        },
    }


def train(
    volumes: Sequence[TrainingVolume],
    *,
    config: ModelConfig,
    out_dir: str | Path,
    init_model: str | Path | LoadedModel | None = None,
    cancel: threading.Event | Callable[[], bool] | None = None,
    metadata: dict[str, Any] | None = None,
    validation: str = "auto",
) -> Iterator[TrainingEvent]:
    """Train one round and yield its events; the model folder is written into ``out_dir``.

    Parameters
    ----------
    volumes : sequence of TrainingVolume
        Images with sparse or dense truth (0 = unlabeled is ignored by the loss).
    config : ModelConfig
        Network and training settings. With ``init_model`` the network part comes from it.
    out_dir : path
        Working folder; receives ``model.safetensors`` and ``model.json`` at each new best
        checkpoint and at the end. Publishing it (e.g. as a project round) is the caller's job.
    init_model : path or LoadedModel, optional
        Warm start: weights (and architecture) of a previous round or an exported model.
    cancel : threading.Event or callable, optional
        Checked before every step; when set, a :class:`CancelledEvent` ends the run.
    metadata : dict, optional
        Extra fields for model.json (round, correction effort, ...).
    validation : {"auto", "none"}
        ``auto`` applies the module's hold-out rule; ``none`` trains on every slice.

    Yields
    ------
    StartedEvent, StepEvent, ValidationEvent, CheckpointEvent, then DoneEvent or CancelledEvent.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    config, network, warm_name = initial_network(config, init_model)
    device = resolve_device(config.device)
    device_name = describe_device(device)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)

    volumes = [with_normalization(v, config) for v in volumes]
    split = plan_split(volumes, validation)
    sampler = PatchSampler(training_regions(volumes, split, config), config=config, rng=rng)
    augmenter = Augmenter(config, seed=config.seed) if config.augmentation else None

    network.to(device)
    optimisation = Optimisation.create(network.parameters(), config, device)
    checkpoints = BestCheckpoint(
        volumes, split, config, validation_predictors(network, volumes, config, device)
    )
    self_training = pseudo_labels.enabled(config)
    yield StartedEvent(
        device_name,
        config.steps + (config.pseudo_label_steps if self_training else 0),
        len(split.train),
        len(split.validation) if split.held_out else 0,
        warm_name,
    )

    losses: list[float] = []
    train_started = time.perf_counter()
    for step in range(1, config.steps + 1):
        if _is_cancelled(cancel):
            yield CancelledEvent(step - 1)
            return
        network.train()
        losses.append(
            optimisation.step(network, *draw_batch(sampler, augmenter, config.batch_size))
        )
        yield StepEvent(step, losses[-1])

        if is_validation_step(step, config):
            dice, mean = checkpoints.validate(network, step, losses)
            yield ValidationEvent(step, dice, mean, split.held_out)
            if checkpoints.keep_if_best(network):
                checkpoint = model_document(
                    metadata,
                    config,
                    volumes,
                    split,
                    checkpoints.history,
                    checkpoints.best,
                    device_name,
                    warm_name,
                    train_seconds=time.perf_counter() - train_started,
                    total_seconds=time.perf_counter() - started,
                )
                save_model(out_dir, network, config=config, metadata=checkpoint)
                yield CheckpointEvent(step, str(out_dir), mean)
    train_seconds = time.perf_counter() - train_started

    best = checkpoints.best
    assert best is not None  # the last step always validates
    network.load_state_dict(best[2])
    network.eval()
    forest, forest_seconds = fit_round_forest(volumes, config, out_dir)
    if self_training:  # the student phase; pseudo-labels stay in memory (never in the truth)
        student_started = time.perf_counter()
        summary = yield from pseudo_labels.self_train(
            network, forest, volumes, config, device, truth_sampler=sampler,
            augmenter=augmenter, checkpoints=checkpoints, rng=rng,
            cancelled=lambda: _is_cancelled(cancel),
        )  # fmt: skip
        if summary.get("cancelled"):
            return
        best = checkpoints.best
        summary["seconds"] = round(time.perf_counter() - student_started, 3)
    document = model_document(
        metadata,
        config,
        volumes,
        split,
        checkpoints.history,
        best,
        device_name,
        warm_name,
        train_seconds=train_seconds,
        total_seconds=time.perf_counter() - started,
    )
    document["timings"]["forest_seconds"] = forest_seconds
    if self_training:  # phase-1 steps per second; the student phase timed on its own
        document["pseudo_labels"] = summary
        document["timings"]["steps_per_second"] = round(config.steps / max(train_seconds, 1e-9), 3)
    save_model(out_dir, network, config=config, metadata=document)
    yield DoneEvent(
        str(out_dir),
        config.steps,
        best[1],
        document["mean_dice"],
        best[3],
        round(time.perf_counter() - started, 3),
        device_name,
    )
