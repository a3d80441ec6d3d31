"""One training round as a generator of typed events (see :mod:`napari_cathode.ml.events`).

One loop for one process or many: data-parallel training is a mode of :func:`train`
(``rank``, ``world_size``; MONAI Label's ``train(rank, world_size)`` pattern).

Validation rule (documented for users): the labelled slices of all volumes are listed in
(volume, z) order; with 4 or more of them every 4th one (the 4th, 8th, ...) is held out for
validation and the checkpoint with the best held-out mean Dice is kept. With fewer than 4
labelled slices nothing is held out (each one is too valuable): the model trains on all of
them, the Dice reported during training is on the training slices (``held_out=False``) and
the last checkpoint is kept. The split and the warm start are in
:mod:`napari_cathode.ml.round_setup`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_cathode.ml import ddp, pseudo_labels
from napari_cathode.ml.augment import Augmenter
from napari_cathode.ml.checkpoint import LoadedModel, save_model
from napari_cathode.ml.config import ModelConfig
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
from napari_cathode.ml.optimisation import Optimisation, draw_batch
from napari_cathode.ml.round_setup import (
    HOLD_OUT_EVERY,
    TRAINING_FIELDS,
    DataSplit,
    TrainingVolume,
    initial_network,
    plan_split,
    split_slices,
    training_regions,
    warm_config,
    with_normalization,
)
from napari_cathode.ml.sampling import PatchSampler
from napari_cathode.ml.validation import (
    BestCheckpoint,
    KeptState,
    is_validation_step,
    validation_predictors,
)

__all__ = [
    "HOLD_OUT_EVERY",
    "TRAINING_FIELDS",
    "DataSplit",
    "RoundState",
    "TrainingVolume",
    "fit_round_forest",
    "initial_network",
    "model_document",
    "plan_split",
    "split_slices",
    "train",
    "training_regions",
    "warm_config",
    "with_normalization",
]


def _is_cancelled(cancel) -> bool:
    if cancel is None:
        return False
    if hasattr(cancel, "is_set"):  # threading or multiprocessing Event
        return cancel.is_set()
    return bool(cancel())


@dataclass
class RoundState:
    """Everything one round of :func:`train` works with, on this process (rank).

    Attributes
    ----------
    config : ModelConfig
        The round's config (the warm-start model's network part, see :func:`warm_config`).
    network : torch.nn.Module
        The network being trained (unwrapped; ``model`` is what takes the steps).
    model : torch.nn.Module
        ``network``, or ``network`` under DistributedDataParallel in a data-parallel round.
    device : torch.device
    device_name : str
        As recorded in model.json (with the number of processes of a data-parallel round).
    volumes : list of TrainingVolume
        Normalised.
    split : DataSplit
    checkpoints : BestCheckpoint
        Validation history and the kept state (used on rank 0 only).
    warm_name : str or None
        The model the round started from.
    rank, world_size : int
        This process's place in a data-parallel round (0 and 1 in a single-process round).
    started : float
        ``time.perf_counter()`` when the round began.
    """

    config: ModelConfig
    network: torch.nn.Module
    model: torch.nn.Module
    device: torch.device
    device_name: str
    volumes: list[TrainingVolume]
    split: DataSplit
    checkpoints: BestCheckpoint
    warm_name: str | None
    rank: int = 0
    world_size: int = 1
    started: float = 0.0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def model_document(
    state: RoundState,
    best: KeptState,
    metadata: dict[str, Any] | None,
    *,
    train_seconds: float,
) -> dict[str, Any]:
    """The model.json content (besides the config) of a round's checkpoint ``best``."""
    history = state.checkpoints.history
    document = {
        **(metadata or {}),
        "classes": [c.to_json() for c in state.config.classes],
        "normalization": {v.name: v.normalization.to_json() for v in state.volumes},
        "data_split": state.split.to_json([v.name for v in state.volumes]),
        "metrics": history,
        "best_step": best.step,
        "dice": best.dice,
        "mean_dice": best.mean_dice,
        "device": state.device_name,
        "warm_start": state.warm_name,
        "timings": {
            "train_seconds": round(train_seconds, 3),
            "total_seconds": round(time.perf_counter() - state.started, 3),
            "steps_per_second": round(history[-1]["step"] / max(train_seconds, 1e-9), 3),
        },
    }
    if state.distributed:
        document["distributed"] = {
            "world_size": state.world_size,
            "backend": torch.distributed.get_backend(),
        }
    return document


def _set_up(volumes, config, init_model, validation, rank, world_size) -> RoundState:
    """Build the round's network, data, sampler state and validation (see :func:`train`)."""
    started = time.perf_counter()
    config, network, warm_name = initial_network(config, init_model)
    device = ddp.rank_device(rank) if world_size > 1 else resolve_device(config.device)
    device_name = describe_device(device)
    if world_size > 1:
        device_name += f"; {world_size} {torch.distributed.get_backend()} processes"
    torch.manual_seed(config.seed)  # DDP also gives every rank rank 0's initial weights
    volumes = [with_normalization(v, config) for v in volumes]
    split = plan_split(volumes, validation)
    network.to(device)
    # Before DDP wraps it: the predictors set the parameters' memory layout, equal on all ranks.
    checkpoints = BestCheckpoint(
        volumes, split, config, validation_predictors(network, volumes, config, device)
    )
    model = ddp.wrap(network, device) if world_size > 1 else network
    return RoundState(
        config, network, model, device, device_name, volumes, split, checkpoints, warm_name,
        rank, world_size, started,
    )  # fmt: skip


def _validate(state: RoundState, step, losses, out_dir, metadata, train_started):
    """Rank 0: validate after ``step``; save the model when it is the best so far."""
    checkpoints = state.checkpoints
    dice, mean = checkpoints.validate(state.network, step, losses)
    yield ValidationEvent(step, dice, mean, state.split.held_out)
    if checkpoints.keep_if_best(state.network):
        document = model_document(
            state, checkpoints.best, metadata, train_seconds=time.perf_counter() - train_started
        )
        save_model(out_dir, state.network, config=state.config, metadata=document)
        yield CheckpointEvent(step, str(out_dir), mean)


def train(
    volumes: Sequence[TrainingVolume],
    *,
    config: ModelConfig,
    out_dir: str | Path,
    init_model: str | Path | LoadedModel | None = None,
    cancel: threading.Event | Callable[[], bool] | None = None,
    metadata: dict[str, Any] | None = None,
    validation: str = "auto",
    rank: int = 0,
    world_size: int = 1,
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
    rank, world_size : int
        Data-parallel mode, run on every rank of a process group this process has joined
        (:func:`napari_cathode.ml.ddp.join`; started by
        :mod:`napari_cathode.jobs.distributed_training`). Each rank samples its own patches
        (seed + rank) and DDP averages the gradients, so all ranks take the same steps; the
        ranks stop together when ``cancel`` is set on any of them. Rank 0 alone validates,
        writes ``out_dir`` and fits the forest. :attr:`DoneEvent.weights` (the digest of the
        weights after the last step) is equal on every rank.

    Yields
    ------
    StartedEvent, StepEvent, ValidationEvent, CheckpointEvent, then DoneEvent or CancelledEvent.
    Ranks other than 0 yield no ValidationEvent or CheckpointEvent, and no scores when done.
    """
    out_dir = Path(out_dir)
    state = _set_up(volumes, config, init_model, validation, rank, world_size)
    config, split = state.config, state.split
    rng = np.random.default_rng(config.seed + rank)
    sampler = PatchSampler(training_regions(state.volumes, split, config), config=config, rng=rng)
    augmenter = Augmenter(config, seed=config.seed + rank) if config.augmentation else None
    optimisation = Optimisation.create(state.model.parameters(), config, state.device)
    # the student phase (self-training on pseudo-labels) runs in one-process rounds only
    student = None
    if pseudo_labels.enabled(config) and not state.distributed:
        student = _Student(sampler, augmenter, rng, lambda: _is_cancelled(cancel))
    yield StartedEvent(
        state.device_name,
        config.steps + (config.pseudo_label_steps if student else 0),
        len(split.train),
        len(split.validation) if split.held_out else 0,
        state.warm_name,
    )

    losses: list[float] = []
    train_started = time.perf_counter()
    for step in range(1, config.steps + 1):
        stop = _is_cancelled(cancel)
        if state.distributed:
            stop = ddp.any_rank(stop, state.device)
        if stop:
            yield CancelledEvent(step - 1)
            return
        state.model.train()
        losses.append(
            optimisation.step(state.model, *draw_batch(sampler, augmenter, config.batch_size))
        )
        yield StepEvent(step, losses[-1])
        if rank == 0 and is_validation_step(step, config):
            yield from _validate(state, step, losses, out_dir, metadata, train_started)
    train_seconds = time.perf_counter() - train_started
    yield from _finish(state, out_dir, metadata, train_seconds, student)


@dataclass(frozen=True)
class _Student:
    """What the student phase (:func:`napari_cathode.ml.pseudo_labels.self_train`) continues."""

    sampler: PatchSampler
    augmenter: Augmenter | None
    rng: np.random.Generator
    cancelled: Callable[[], bool]


def _finish(
    state: RoundState, out_dir: Path, metadata, train_seconds: float, student: _Student | None
) -> Iterator[TrainingEvent]:
    """Rank 0: load the kept state, self-train if asked, write the final model; Done event."""
    network, config = state.network, state.config
    weights = ddp.weights_digest(network)  # after the last step: equal on every rank
    seconds = round(time.perf_counter() - state.started, 3)
    if state.rank != 0:  # rank 0 reports the round's scores
        yield DoneEvent(
            str(out_dir), config.steps, -1, None, {}, seconds, state.device_name, weights
        )
        return
    best = state.checkpoints.best
    assert best is not None  # the last step always validates
    network.load_state_dict(best.state)
    network.eval()
    forest, forest_seconds = fit_round_forest(state.volumes, config, out_dir)
    summary = None
    if student is not None:  # the student phase; pseudo-labels stay in memory (never in truth)
        student_started = time.perf_counter()
        summary = yield from pseudo_labels.self_train(
            network, forest, state.volumes, config, state.device,
            truth_sampler=student.sampler, augmenter=student.augmenter,
            checkpoints=state.checkpoints, rng=student.rng, cancelled=student.cancelled,
        )  # fmt: skip
        if summary.get("cancelled"):
            return
        best = state.checkpoints.best
        summary["seconds"] = round(time.perf_counter() - student_started, 3)
    document = model_document(state, best, metadata, train_seconds=train_seconds)
    document["timings"]["forest_seconds"] = forest_seconds
    if summary is not None:  # phase-1 steps per second; the student phase timed on its own
        document["pseudo_labels"] = summary
        document["timings"]["steps_per_second"] = round(config.steps / max(train_seconds, 1e-9), 3)
    save_model(out_dir, network, config=config, metadata=document)
    yield DoneEvent(
        str(out_dir),
        config.steps,
        best.step,
        best.mean_dice,
        best.dice,
        round(time.perf_counter() - state.started, 3),
        state.device_name,
        weights,
    )
