"""The incremental loop with a simulated reviewer who paints brush strokes.

``napari-cathode simulate --reviewer scribbles``. Round 0: the reviewer paints ``strokes``
strokes (:func:`napari_cathode.core.synthetic.scribbles.paint_scribbles`) into the wrong regions of
the starting model's proposal (or, from scratch, into each class's largest regions) and a model
is trained on the painted voxels (warm from ``init_model`` if given). Each later round: every
slice is predicted, the reviewer paints ``strokes`` more strokes into the largest regions the
proposal got wrong, and the model is retrained warm. Round ``r``'s Dice is model ``r``'s
proposal on every labelled voxel the reviewer has not painted by the end of round ``r``
(pooled over voxels, all slices). Effort is counted in strokes and painted voxels. Results go
to ``out_dir/rounds.json`` after every round, models to ``out_dir/rounds/NNNN/``.
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
from napari_cathode.core.synthetic.scribbles import paint_scribbles
from napari_cathode.ml.checkpoint import load_model
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.device import resolve_device
from napari_cathode.ml.events import CancelledEvent, DoneEvent
from napari_cathode.ml.training import TrainingVolume, train

__all__ = ["ScribbleConfig", "simulate_scribbles"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScribbleConfig:
    """Settings of a simulated scribbling loop (see module docstring).

    ``rounds`` counts every round including round 0; ``strokes`` are painted per round with a
    brush of ``radius`` pixels along paths of up to ``length`` pixels.
    """

    strokes: int = 10
    radius: float = 4.0
    length: int = 30
    rounds: int = 4
    seed: int = 0
    init_model: str | None = None

    def __post_init__(self) -> None:
        if self.strokes < 1 or self.rounds < 1 or self.length < 1 or not self.radius > 0:
            raise CathodeError(
                f"need --strokes >= 1, --rounds >= 1, --stroke-length >= 1 and --brush-radius > 0 "
                f"(got {self.strokes}, {self.rounds}, {self.length}, {self.radius})"
            )


def _dice(labels: np.ndarray, proposal: np.ndarray, annotation: np.ndarray, classes) -> dict:
    """Dice over the labelled voxels the reviewer has not painted."""
    counts = DiceCounts()
    for z in range(labels.shape[0]):
        counts.add(np.where(annotation[z] > 0, 0, labels[z]), proposal[z])
    return counts.scores(classes)


def simulate_scribbles(
    image,
    labels: np.ndarray,
    *,
    out_dir: str | Path,
    config: ScribbleConfig | None = None,
    model_config: ModelConfig | None = None,
    sources: dict | None = None,
    on_event: Callable[[object], None] | None = None,
    on_annotation: Callable[[int, np.ndarray], None] | None = None,
) -> dict:
    """Run the scribbling loop and write ``out_dir/rounds.json``; returns its content.

    Parameters
    ----------
    image : array-like (z, y, x)
    labels : ndarray (z, y, x) uint8
        The reviewer's knowledge: 0 = unlabeled, 1..K classes.
    out_dir : path
    config : ScribbleConfig
    model_config : ModelConfig
        Model and training settings of every round (``seed`` is set per round).
    sources : dict, optional
        Recorded in ``config`` of rounds.json.
    on_event : callable, optional
        Receives every training event and, after each round, its result dict.
    on_annotation : callable(round, annotation), optional
        Receives the reviewer's labels after each round's strokes (a copy), e.g. to train a
        peer method on exactly the same voxels.
    """
    from napari_cathode.jobs.prediction_job import predict_array

    model_config = model_config or ModelConfig()
    config = config or ScribbleConfig()
    labels = np.asarray(labels, dtype=np.uint8)
    if not labels.any():
        raise CathodeError("the labels hold no labelled voxel: nothing to simulate")
    out_dir = Path(out_dir)
    (out_dir / "rounds").mkdir(parents=True, exist_ok=True)
    mark_output(out_dir, "simulation")
    emit = on_event or (lambda event: None)
    device = resolve_device(model_config.device)
    document = {
        "config": {
            "reviewer": "scribbles",
            **asdict(config),
            **(sources or {}),
            "classes": [c.name for c in model_config.classes],
            "model": model_config.to_json(),
        },
        "device": device.type,
        "rounds": [],
    }
    annotation = np.zeros(labels.shape, np.uint8)
    proposal = np.zeros(labels.shape, np.uint8)
    previous_model = config.init_model
    if previous_model is not None:
        proposal, _ = predict_array(previous_model, image, device=model_config.device)
    total_strokes = 0
    for round_index in range(config.rounds):
        strokes = paint_scribbles(
            labels,
            proposal,
            annotation,
            strokes=config.strokes,
            radius=config.radius,
            length=config.length,
        )
        if not strokes:
            log.info("the proposal is right everywhere; stopping after round %d", round_index - 1)
            break
        total_strokes += len(strokes)
        if on_annotation is not None:
            on_annotation(round_index, annotation.copy())
        slices = tuple(
            int(z) for z in np.flatnonzero(annotation.reshape(len(annotation), -1).any(1))
        )
        model_dir = out_dir / "rounds" / f"{round_index:04d}"
        started = time.perf_counter()
        metadata = {"round": round_index, "strokes": len(strokes), "scribbled_slices": list(slices)}
        for event in train(
            [TrainingVolume(image, annotation, "simulated", slices=slices)],
            config=model_config.replace(seed=config.seed + round_index),
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

        started = time.perf_counter()
        proposal, _ = predict_array(load_model(previous_model), image, device=model_config.device)
        dice = _dice(labels, proposal, annotation, model_config.classes)
        result = {
            "round": round_index,
            "strokes": len(strokes),
            "painted_voxels": int(sum(s.voxels for s in strokes)),
            "total_strokes": total_strokes,
            "total_painted_voxels": int(np.count_nonzero(annotation)),
            "scribbled_slices": list(slices),
            "train_seconds": round(train_seconds, 3),
            "predict_seconds": round(time.perf_counter() - started, 3),
            "dice": dice,
            "mean_dice": mean_dice(dice),
        }
        document["rounds"].append(result)
        atomic_write_json(out_dir / "rounds.json", document)
        emit(result)
        log.info(
            "round %d: %d strokes in all (%d voxels), mean Dice %s",
            round_index,
            total_strokes,
            result["total_painted_voxels"],
            result["mean_dice"],
        )
    return document
