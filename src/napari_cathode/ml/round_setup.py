"""What a training round starts from and trains on: warm start, normalisation, data split.

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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from napari_cathode.core.errors import ModelError
from napari_cathode.ml.checkpoint import LoadedModel, load_model
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.context import inflate_network, needs_inflation
from napari_cathode.ml.networks import build_network
from napari_cathode.ml.normalization import Normalization, fit_normalization
from napari_cathode.ml.sampling import extract_regions, labelled_slices

__all__ = [
    "HOLD_OUT_EVERY",
    "TRAINING_FIELDS",
    "DataSplit",
    "TrainingVolume",
    "initial_network",
    "plan_split",
    "split_slices",
    "training_regions",
    "warm_config",
    "with_normalization",
]

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
