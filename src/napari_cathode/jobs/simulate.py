"""The incremental loop with a simulated reviewer who knows the full labels.

Round 0: ``initial`` slices are annotated (copied from the labels) and a model is trained
(warm from ``init_model`` if given). Each later round: the unreviewed slices are predicted,
``per_round`` slices are picked by the strategy and "corrected" (copied from the labels; the
correction effort is the number of labelled voxels where the proposal differed), and the
model is retrained warm from the previous round. Round ``r``'s Dice is model ``r``'s proposal
quality on every labelled slice not reviewed by the end of round ``r`` (pooled over voxels with
a label > 0). Results go to ``out_dir/rounds.json`` after every round, models to
``out_dir/rounds/NNNN/``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from napari_cathode.core.atomic import atomic_write_json
from napari_cathode.core.errors import CathodeError
from napari_cathode.core.metrics import DiceCounts, mean_dice
from napari_cathode.core.outputs import mark_output
from napari_cathode.core.strategies import STRATEGIES, pick_slices
from napari_cathode.ml.checkpoint import load_model
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.device import resolve_device
from napari_cathode.ml.events import CancelledEvent, DoneEvent
from napari_cathode.ml.training import TrainingVolume, train

__all__ = ["SimulationConfig", "simulate"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulationConfig:
    """Settings of a simulated review loop (see module docstring).

    ``rounds`` counts every round including round 0.
    """

    initial: int = 2
    per_round: int = 1
    rounds: int = 3
    strategy: str = "spread"
    seed: int = 0
    init_model: str | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise CathodeError(
                f"--strategy {self.strategy!r} is not one of {', '.join(STRATEGIES)}"
            )
        if self.initial < 1 and self.init_model is None:
            raise CathodeError(
                "--initial must be >= 1 when no --init-model is given (nothing to train on)"
            )
        if self.initial < 0 or self.per_round < 1 or self.rounds < 1:
            raise CathodeError(
                f"need --initial >= 0, --per-round >= 1 and --rounds >= 1 "
                f"(got {self.initial}, {self.per_round}, {self.rounds})"
            )


def simulate(
    image,
    labels: np.ndarray,
    *,
    out_dir: str | Path,
    config: SimulationConfig | None = None,
    model_config: ModelConfig | None = None,
    sources: dict | None = None,
    on_event: Callable[[object], None] | None = None,
) -> dict:
    """Run the simulated loop and write ``out_dir/rounds.json``; returns its content.

    Parameters
    ----------
    image : array-like (z, y, x)
    labels : ndarray (z, y, x) uint8
        The reviewer's knowledge: 0 = unlabeled, 1..K classes.
    out_dir : path
    config : SimulationConfig
    model_config : ModelConfig
        Model and training settings of every round (``seed`` is set per round).
    sources : dict, optional
        Recorded in ``config`` of rounds.json (e.g. the file names).
    on_event : callable, optional
        Receives every training event and, after each round, its result dict.
    """
    from napari_cathode.jobs.prediction_job import predict_array

    model_config = model_config or ModelConfig()
    config = config or SimulationConfig()
    out_dir = Path(out_dir)
    candidates = [z for z in range(labels.shape[0]) if labels[z].any()]
    if not candidates:
        raise CathodeError("the labels hold no labelled voxel: nothing to simulate")
    wanted = config.initial + config.per_round * (config.rounds - 1)
    if wanted > len(candidates):
        raise CathodeError(
            f"the simulation reviews initial {config.initial} + per-round {config.per_round} x "
            f"{config.rounds - 1} later rounds = {wanted} slices, but the labels have only "
            f"{len(candidates)} labelled slices; ask for fewer slices or rounds (Dice is "
            "measured on the labelled slices not yet reviewed)"
        )
    (out_dir / "rounds").mkdir(parents=True, exist_ok=True)
    mark_output(out_dir, "simulation")
    emit = on_event or (lambda event: None)
    rng = np.random.default_rng(config.seed)
    device = resolve_device(model_config.device)
    document = {
        "config": {
            **asdict(config),
            **(sources or {}),
            "classes": [c.name for c in model_config.classes],
            "model": model_config.to_json(),
        },
        "device": device.type,
        "rounds": [],
    }
    reviewed: list[int] = []
    proposal = np.zeros(labels.shape, np.uint8)
    scores: dict[int, float] = {}
    previous_model = config.init_model
    predict_extra = 0.0
    if config.strategy == "uncertainty" and config.init_model is not None:
        started = time.perf_counter()
        proposal, scores = predict_array(
            config.init_model, image, slices=candidates, device=model_config.device
        )
        predict_extra = time.perf_counter() - started

    for round_index in range(config.rounds):
        count = config.initial if round_index == 0 else config.per_round
        added = pick_slices(
            config.strategy, candidates, count, reviewed=reviewed, uncertainty=scores, rng=rng
        )
        if round_index > 0 and not added:
            log.info("every labelled slice is reviewed; stopping after round %d", round_index - 1)
            break
        if round_index == 0 or previous_model is None:
            corrected = int(sum(np.count_nonzero(labels[z]) for z in added))
        else:
            corrected = int(
                sum(np.count_nonzero((proposal[z] != labels[z]) & (labels[z] > 0)) for z in added)
            )
        reviewed = sorted(reviewed + added)

        model_dir = out_dir / "rounds" / f"{round_index:04d}"
        started = time.perf_counter()
        if reviewed:
            round_config = model_config.replace(seed=config.seed + round_index)
            volume = TrainingVolume(image, labels, "simulated", slices=tuple(reviewed))
            metadata = {
                "round": round_index,
                "correction_effort": corrected,
                "reviewed_slices": reviewed,
            }
            for event in train(
                [volume],
                config=round_config,
                out_dir=model_dir,
                init_model=previous_model,
                metadata=metadata,
            ):
                emit(event)
                if isinstance(event, CancelledEvent):
                    raise CathodeError("simulation cancelled")
                if isinstance(event, DoneEvent):
                    previous_model = str(model_dir)
        train_seconds = time.perf_counter() - started

        remaining = [z for z in candidates if z not in reviewed]
        started = time.perf_counter()
        dice: dict[str, float | None] = {c.name: None for c in model_config.classes}
        if remaining:
            proposal, scores = predict_array(
                load_model(previous_model), image, slices=remaining, device=model_config.device
            )
            counts = DiceCounts()
            for z in remaining:
                counts.add(labels[z], proposal[z])
            dice = counts.scores(model_config.classes)
        predict_seconds = time.perf_counter() - started + predict_extra
        predict_extra = 0.0
        result = {
            "round": round_index,
            "reviewed_slices": list(reviewed),
            "added_slices": list(added),
            "corrected_voxels": corrected,
            "train_seconds": round(train_seconds, 3),
            "predict_seconds": round(predict_seconds, 3),
            "evaluated_slices": len(remaining),
            "dice": dice,
            "mean_dice": mean_dice(dice),
        }
        document["rounds"].append(result)
        atomic_write_json(out_dir / "rounds.json", document)
        emit(result)
        log.info(
            "round %d: %d reviewed slices, mean Dice %s",
            round_index,
            len(reviewed),
            result["mean_dice"],
        )
        if not remaining:
            break
    return document
