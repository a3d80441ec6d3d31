"""Typed events a training run yields; the CLI and the GUI render the same stream."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "CancelledEvent",
    "CheckpointEvent",
    "ClassifierStartedEvent",
    "DoneEvent",
    "ErrorEvent",
    "StartedEvent",
    "StepEvent",
    "TrainingEvent",
    "ValidationEvent",
]


@dataclass(frozen=True)
class StartedEvent:
    """Training has its data and device and is about to take the first step."""

    device: str
    steps: int
    train_slices: int
    validation_slices: int
    warm_start: str | None = None


@dataclass(frozen=True)
class StepEvent:
    """One optimiser step finished."""

    step: int
    loss: float


@dataclass(frozen=True)
class ValidationEvent:
    """Dice on the validation truth (pooled over labelled voxels) after ``step`` steps."""

    step: int
    dice: dict[str, float | None]
    mean_dice: float | None
    held_out: bool = True


@dataclass(frozen=True)
class CheckpointEvent:
    """A new best model was kept (in memory until the run finishes)."""

    step: int
    path: str
    mean_dice: float | None


@dataclass(frozen=True)
class DoneEvent:
    """Training finished and the model folder is complete.

    ``weights`` is the SHA-256 of the network's state after the last step, before the kept
    checkpoint is loaded (:func:`napari_cathode.ml.ddp.weights_digest`); in a data-parallel
    round it is equal on every rank.
    """

    path: str
    steps: int
    best_step: int
    mean_dice: float | None
    dice: dict[str, float | None] = field(default_factory=dict)
    seconds: float = 0.0
    device: str = "cpu"
    weights: str = ""


@dataclass(frozen=True)
class CancelledEvent:
    """Training stopped on request; no model was published."""

    step: int


@dataclass(frozen=True)
class ErrorEvent:
    """The training job failed; ``message`` is meant for the user."""

    message: str
    kind: str = "error"


@dataclass(frozen=True)
class ClassifierStartedEvent:
    """A state classifier has its samples and is about to take the first step."""

    device: str
    steps: int
    samples: dict[str, int]


TrainingEvent = (
    StartedEvent
    | StepEvent
    | ValidationEvent
    | CheckpointEvent
    | DoneEvent
    | CancelledEvent
    | ErrorEvent
)
