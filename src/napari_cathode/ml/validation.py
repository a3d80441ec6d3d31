"""Validation during a training round and the best checkpoint by validation Dice.

Used by the training round (:mod:`napari_cathode.ml.training`, which documents the validation
rule); in a data-parallel round only rank 0 validates.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from napari_cathode.core.metrics import DiceCounts, mean_dice
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.prediction import PredictionOptions, Predictor

if TYPE_CHECKING:
    from napari_cathode.ml.training import DataSplit, TrainingVolume

__all__ = [
    "BestCheckpoint",
    "KeptState",
    "is_validation_step",
    "validation_dice",
    "validation_predictors",
]


def validation_predictors(
    network: torch.nn.Module,
    volumes: Sequence[TrainingVolume],
    config: ModelConfig,
    device: torch.device,
) -> dict[int, Predictor]:
    """One predictor per volume, sharing ``network`` (moved to ``device``)."""
    return {
        i: Predictor(
            network,
            config=config,
            normalization=v.normalization,
            device=device,
            options=PredictionOptions(batch_size=config.batch_size),
        )
        for i, v in enumerate(volumes)
    }


def is_validation_step(step: int, config: ModelConfig) -> bool:
    """Validate every ``config.validate_every`` steps and at the last step."""
    return step % config.validate_every == 0 or step == config.steps


def validation_dice(predictor_for, volumes, pairs, classes) -> dict[str, float | None]:
    """Per-class Dice of the predictions of ``pairs`` (volume index, z) against the truth."""
    counts = DiceCounts()
    for v, z in pairs:
        labels, _ = predictor_for(v).predict_slab(volumes[v].image, z, z + 1)
        counts.add(np.asarray(volumes[v].truth[z]), labels[0])
    return counts.scores(classes)


@dataclass(frozen=True)
class KeptState:
    """The network state a round keeps: the best by validation Dice (or the latest).

    Attributes
    ----------
    step : int
        The step after which the state was taken.
    mean_dice : float or None
        Mean Dice of that validation (None when no class could be scored).
    dice : dict
        Dice per class name.
    state : dict
        The network's ``state_dict``, copied to the CPU.
    """

    step: int
    mean_dice: float | None
    dice: dict[str, float | None]
    state: dict[str, torch.Tensor]

    @property
    def score(self) -> float:
        """The mean Dice, or -1 when there is none (any score beats it)."""
        return -1.0 if self.mean_dice is None else self.mean_dice


class BestCheckpoint:
    """Validates a network on a split's validation slices and keeps its best state.

    The best state is the one with the highest mean validation Dice when slices are held out;
    without held-out slices it is always the latest. ``best`` is a :class:`KeptState` and
    ``history`` one record per validation.

    Parameters
    ----------
    volumes : sequence of TrainingVolume
        With their normalisation.
    split : DataSplit
    config : ModelConfig
    predictors : dict
        Volume index to the :class:`Predictor` that runs the network being trained.
    """

    def __init__(self, volumes, split: DataSplit, config: ModelConfig, predictors) -> None:
        self.volumes, self.split, self.config = volumes, split, config
        self.predictors = predictors
        self.history: list[dict] = []
        self.best: KeptState | None = None

    def validate(
        self, network: torch.nn.Module, step: int, losses: Sequence[float]
    ) -> tuple[dict[str, float | None], float | None]:
        """Score ``network`` (put in eval mode) at ``step``; record it in ``history``."""
        network.eval()
        dice = validation_dice(
            self.predictors.__getitem__, self.volumes, self.split.validation, self.config.classes
        )
        mean = mean_dice(dice)
        self.history.append(
            {
                "step": step,
                "loss": float(np.mean(losses[-self.config.validate_every :])),
                "dice": dice,
                "mean_dice": mean,
                "held_out": self.split.held_out,
            }
        )
        return dice, mean

    def keep_if_best(self, network: torch.nn.Module) -> bool:
        """Keep a copy of ``network``'s state if the latest validation is the best so far."""
        record = self.history[-1]
        kept = KeptState(record["step"], record["mean_dice"], record["dice"], {})
        if self.best is not None and self.split.held_out and kept.score <= self.best.score:
            return False
        state = copy.deepcopy({k: v.detach().cpu() for k, v in network.state_dict().items()})
        self.best = KeptState(kept.step, kept.mean_dice, kept.dice, state)
        return True
