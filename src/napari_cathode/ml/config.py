"""The frozen, validated, JSON round-trippable configuration of a model and its training."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from napari_cathode.core.classes import DEFAULT_CLASSES, SegmentationClass, validate_classes
from napari_cathode.core.errors import ModelError
from napari_cathode.ml.features import FEATURE_SETS, channels_per_plane

__all__ = ["ARCHITECTURES", "DEVICES", "NORMALIZATIONS", "ModelConfig"]

ARCHITECTURES = ("unet", "basic_unet")
NORMALIZATIONS = ("percentile", "none")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a network and repeat its training.

    Defaults are chosen to be fast on a 2-core CPU (a warm round of ``steps`` in well under a
    minute) while keeping a receptive field of more than 100 px, which the binder-vs-pore
    decision needs (texture and neighbourhood, not only grey value).

    Parameters
    ----------
    classes : tuple of SegmentationClass
        Output classes; label value ``c.id`` is network channel ``index(c)``.
    architecture : {"unet", "basic_unet"}
        MONAI ``UNet`` (residual units) or ``BasicUNet``.
    spatial_dims : {2, 3}
        2 = slice-wise model on xy slices (default), 3 = patch model.
    context_slices : int
        Odd number of neighbouring slices given to a 2D model as input channels (2.5D).
        1 = the slice alone; use 3 or 5 only when the volume's slices are contiguous.
    input_features : {"raw", "multiscale", "multiscale_texture"}
        2D models: ``raw`` feeds the normalised slices only; ``multiscale`` adds Gaussian
        intensity and edge images at sigmas ``feature_sigmas`` as input channels (see
        :mod:`napari_cathode.ml.features`); ``multiscale_texture`` also Hessian eigenvalues.
    feature_sigmas : (float, float)
        Smallest and largest sigma (pixels) of the multi-scale features.
    channels : tuple of int
        Feature channels per level; ``len(channels) - 1`` downsamplings by 2.
    residual_units : int
        Residual units per level of the MONAI ``UNet``.
    patch_size : tuple of int
        Training patch (y, x) for 2D or (z, y, x) for 3D; also the inference window.
    batch_size, learning_rate, steps : int, float, int
        Optimiser settings; ``steps`` is the number of optimiser steps of one round.
    validate_every : int
        Steps between validations (and best-checkpoint decisions).
    augmentation : bool
        Random flips, 90° rotations, intensity scale/shift, gamma and noise.
    intensity_jitter : float
        Strength of the intensity augmentation (1 = scale ±15 %, shift ±0.1, gamma 0.7–1.5
        in normalised units); larger values mimic larger differences between acquisitions.
    histogram_warp : float
        Probability of a random monotone piecewise-linear intensity mapping (MONAI
        ``RandHistogramShift``) per patch: keeps the order of grey values but not their
        spacing, so the model cannot rely on the absolute grey value of a phase.
    normalization : {"percentile", "none"}
        ``percentile`` maps each volume's ``percentiles`` to 0..1 (robust to 8/16-bit/float).
    percentiles : tuple of float
        Low and high percentile of the volume used by the normalisation.
    forest_weight : float
        2D models are a hybrid: each round also fits a random forest on multi-scale pixel
        features of the same labelled voxels (:mod:`napari_cathode.ml.forest`), and prediction
        averages ``(1 - w) * network + w * forest`` probabilities (uncertainty too). 0 = the
        network alone. 0.25 was the best single weight over the benchmarks' in-acquisition
        rounds (0.5 marginally better there) and transfer folds (0 better there).
    forest_voxels, forest_trees : int
        Labelled voxels (seeded subsample) and trees of that forest; small enough that the
        forest fits in a few seconds on 2 cores.
    pseudo_label_weight : float
        2D models: > 0 adds a self-training phase to every round
        (:mod:`napari_cathode.ml.pseudo_labels`): the trained model pseudo-labels its confident
        voxels on up to ``pseudo_label_slices`` slices without ground truth, and the network
        trains ``pseudo_label_steps`` more steps on truth plus pseudo-labels, the latter's loss
        weighted by this value. 0 = off (default).
    pseudo_label_confidence : float
        Minimum blended class probability of a pseudo-labelled voxel.
    pseudo_label_class_share : float
        > 0: each predicted class also keeps its most confident share of voxels even below
        ``pseudo_label_confidence`` (class-balanced, see
        :func:`napari_cathode.ml.pseudo_labels.class_thresholds`).
    pseudo_label_steps, pseudo_label_slices : int
        Steps of the self-training phase, and most unreviewed slices pseudo-labelled per volume.
    device : {"auto", "cpu", "cuda"}
        ``auto`` picks CUDA when available.
    mixed_precision : bool
        Use autocast float16 on CUDA (ignored on CPU).
    seed : int
        Seeds sampling, augmentation and weight initialisation.
    """

    classes: tuple[SegmentationClass, ...] = DEFAULT_CLASSES
    architecture: str = "unet"
    spatial_dims: int = 2
    context_slices: int = 1
    input_features: str = "raw"
    feature_sigmas: tuple[float, float] = (1.0, 16.0)
    channels: tuple[int, ...] = (16, 32, 64, 128, 256)
    residual_units: int = 1
    patch_size: tuple[int, ...] = (128, 128)
    batch_size: int = 8
    learning_rate: float = 2e-3
    steps: int = 300
    validate_every: int = 50
    augmentation: bool = True
    intensity_jitter: float = 1.0
    histogram_warp: float = 0.0
    normalization: str = "percentile"
    percentiles: tuple[float, float] = (0.5, 99.5)
    forest_weight: float = 0.25
    forest_voxels: int = 30_000
    forest_trees: int = 100
    pseudo_label_weight: float = 0.0
    pseudo_label_confidence: float = 0.9
    pseudo_label_class_share: float = 0.0
    pseudo_label_steps: int = 100
    pseudo_label_slices: int = 8
    device: str = "auto"
    mixed_precision: bool = True
    seed: int = 0
    _version: int = field(default=1, repr=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "classes", validate_classes(tuple(self.classes)))
        set_(self, "channels", tuple(int(c) for c in self.channels))
        set_(self, "patch_size", tuple(int(p) for p in self.patch_size))
        set_(self, "percentiles", tuple(float(p) for p in self.percentiles))
        set_(self, "feature_sigmas", tuple(float(s) for s in self.feature_sigmas))
        if not self.classes:
            raise ModelError("a model needs at least one class")
        if self.architecture not in ARCHITECTURES:
            raise ModelError(f"architecture {self.architecture!r} is not one of {ARCHITECTURES}")
        if self.spatial_dims not in (2, 3):
            raise ModelError(f"spatial_dims must be 2 or 3, got {self.spatial_dims!r}")
        if self.context_slices < 1 or self.context_slices % 2 == 0:
            raise ModelError(f"context_slices must be odd and >= 1, got {self.context_slices}")
        if self.spatial_dims == 3 and self.context_slices != 1:
            raise ModelError("context_slices applies to 2D models only; use 1 with spatial_dims=3")
        if self.input_features not in FEATURE_SETS:
            raise ModelError(f"input_features {self.input_features!r} is not one of {FEATURE_SETS}")
        if self.spatial_dims == 3 and self.input_features != "raw":
            raise ModelError("input_features applies to 2D models only; use 'raw' for 3D")
        sigmas = self.feature_sigmas
        if len(sigmas) != 2 or not 0 < sigmas[0] <= sigmas[1]:
            raise ModelError(f"feature_sigmas {sigmas} must be two values 0 < low <= high")
        if len(self.patch_size) != self.spatial_dims:
            raise ModelError(
                f"patch_size {self.patch_size} needs {self.spatial_dims} values for a "
                f"{self.spatial_dims}D model"
            )
        if self.architecture == "unet":
            factor = 2 ** (len(self.channels) - 1)
            if len(self.channels) < 2 or any(p % factor for p in self.patch_size):
                raise ModelError(
                    f"patch_size {self.patch_size} must be divisible by {factor} "
                    f"(2 ** (len(channels) - 1) for channels {self.channels})"
                )
        if self.architecture == "basic_unet" and len(self.channels) != 6:
            raise ModelError("basic_unet needs 6 channel values (MONAI BasicUNet features)")
        for name in ("batch_size", "steps", "validate_every"):
            if int(getattr(self, name)) < 1:
                raise ModelError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not 0 <= self.intensity_jitter <= 5:
            raise ModelError(f"intensity_jitter must be in 0..5, got {self.intensity_jitter!r}")
        if not 0 <= self.histogram_warp <= 1:
            raise ModelError(f"histogram_warp must be in 0..1, got {self.histogram_warp!r}")
        if not 0 <= self.forest_weight <= 1:
            raise ModelError(f"forest_weight must be in 0..1, got {self.forest_weight!r}")
        if not 0 <= self.pseudo_label_weight <= 1:
            raise ModelError(
                f"pseudo_label_weight must be in 0..1, got {self.pseudo_label_weight!r}"
            )
        if not 0 < self.pseudo_label_confidence <= 1:
            raise ModelError(
                f"pseudo_label_confidence must be in (0, 1], got {self.pseudo_label_confidence!r}"
            )
        if not 0 <= self.pseudo_label_class_share <= 1:
            raise ModelError(
                f"pseudo_label_class_share must be in 0..1, got {self.pseudo_label_class_share!r}"
            )
        for name in ("forest_voxels", "forest_trees", "pseudo_label_steps", "pseudo_label_slices"):
            if int(getattr(self, name)) < 1:
                raise ModelError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not self.learning_rate > 0:
            raise ModelError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if self.normalization not in NORMALIZATIONS:
            raise ModelError(f"normalization {self.normalization!r} is not one of {NORMALIZATIONS}")
        low, high = self.percentiles if len(self.percentiles) == 2 else (1.0, 0.0)
        if not 0 <= low < high <= 100:
            raise ModelError(
                f"percentiles {self.percentiles} must be two values 0 <= low < high <= 100"
            )
        if self.device not in DEVICES:
            raise ModelError(f"device {self.device!r} is not one of {DEVICES}")

    @property
    def num_classes(self) -> int:
        """Number of output channels (one per class)."""
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        """Input channels of the network: each context slice with its features (2D)."""
        return self.context_slices * channels_per_plane(self.input_features, self.feature_sigmas)

    def replace(self, **changes: Any) -> ModelConfig:
        """Return a validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        """A JSON-serialisable dict (see :meth:`from_json`)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "classes":
                value = [c.to_json() for c in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name.lstrip("_")] = value
        return out

    @classmethod
    def from_json(cls, data: dict) -> ModelConfig:
        """Rebuild a config from :meth:`to_json` output.

        Raises
        ------
        ModelError
            If a key is unknown or a value is invalid.
        """
        data = dict(data)
        if int(data.pop("version", 1)) != 1:
            raise ModelError("model.json was written by a newer napari-cathode; upgrade the plugin")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ModelError(
                f"unknown model config keys {unknown}; was it written by a newer version?"
            )
        if "classes" in data:
            data["classes"] = tuple(SegmentationClass.from_json(c) for c in data["classes"])
        for key in ("channels", "patch_size", "percentiles", "feature_sigmas"):
            if key in data:
                data[key] = tuple(data[key])
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ModelError(f"invalid model config: {exc}") from exc
