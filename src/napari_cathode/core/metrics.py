"""Dice of a proposal against ground truth, pooled over the voxels that have a label.

Truth 0 means unlabeled, so only voxels with truth > 0 count: for class ``c``,
``dice = 2 |T=c ∧ P=c| / (|T=c| + |P=c ∧ T>0|)`` summed over all those voxels (of a slice, a
set of slices or a volume). Counts can be accumulated block by block (:class:`DiceCounts`),
so large volumes never need to be in memory at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from napari_cathode.core.classes import SegmentationClass
from napari_cathode.core.errors import CathodeError

__all__ = ["DiceCounts", "dice_scores", "mean_dice"]


def _whole_labels(labels, name: str) -> np.ndarray:
    """``labels`` as an array of whole numbers; floats only if none has a fractional part."""
    labels = np.asarray(labels)
    if labels.dtype.kind in "biu":
        return labels
    if labels.dtype.kind != "f":
        raise CathodeError(
            f"{name} labels have dtype {labels.dtype}; pass integer class labels (0..255)"
        )
    whole = np.isfinite(labels) & (labels == np.trunc(labels))
    if not whole.all():
        example = labels[~whole].flat[0]
        raise CathodeError(
            f"{name} labels hold values that are not whole numbers (e.g. {example}); class "
            f"labels must be whole numbers 0..255: pass the {name} as integer labels, not "
            "probabilities or resampled (interpolated) labels"
        )
    return labels


@dataclass
class DiceCounts:
    """Per-class voxel counts (index = class id, 0..255) accumulated over blocks."""

    intersection: np.ndarray = field(default_factory=lambda: np.zeros(256, np.int64))
    truth: np.ndarray = field(default_factory=lambda: np.zeros(256, np.int64))
    prediction: np.ndarray = field(default_factory=lambda: np.zeros(256, np.int64))

    def add(self, truth: np.ndarray, prediction: np.ndarray) -> DiceCounts:
        """Add one block (same shapes, integer labels 0..255); returns ``self``.

        Float arrays are accepted when every value is a whole number (as some TIFF readers
        return labels); a fractional, NaN or infinite value raises :class:`CathodeError`.
        """
        truth = _whole_labels(truth, "truth")
        prediction = _whole_labels(prediction, "prediction")
        if truth.shape != prediction.shape:
            raise CathodeError(
                f"truth shape {truth.shape} and prediction shape {prediction.shape} differ"
            )
        labelled = truth > 0
        t = truth[labelled].astype(np.intp)
        p = prediction[labelled].astype(np.intp)
        if t.size and (t.max() > 255 or p.min() < 0 or p.max() > 255):
            raise CathodeError("labels must be integers in 0..255")
        self.truth += np.bincount(t, minlength=256)[:256]
        self.prediction += np.bincount(p, minlength=256)[:256]
        self.intersection += np.bincount(t[t == p], minlength=256)[:256]
        return self

    def scores(self, classes: Sequence[SegmentationClass]) -> dict[str, float | None]:
        """Dice per class name; ``None`` where the class is in neither truth nor prediction."""
        out: dict[str, float | None] = {}
        for c in classes:
            denominator = int(self.truth[c.id] + self.prediction[c.id])
            out[c.name] = (
                None if denominator == 0 else float(2 * self.intersection[c.id] / denominator)
            )
        return out


def dice_scores(
    truth: np.ndarray, prediction: np.ndarray, classes: Sequence[SegmentationClass]
) -> dict[str, float | None]:
    """Per-class Dice pooled over all voxels with ``truth > 0``.

    Parameters
    ----------
    truth, prediction : ndarray
        Integer label arrays of the same shape; truth 0 = unlabeled (ignored).
    classes : sequence of SegmentationClass

    Returns
    -------
    dict
        ``{class name: dice or None}`` (None when the class occurs in neither).

    Examples
    --------
    >>> from napari_cathode.core.classes import DEFAULT_CLASSES
    >>> truth = np.array([0, 1, 1, 2, 2, 3])
    >>> pred = np.array([1, 1, 2, 2, 2, 3])
    >>> dice_scores(truth, pred, DEFAULT_CLASSES)
    {'pore': 0.6666666666666666, 'active material': 0.8, 'carbon-binder': 1.0}
    """
    return DiceCounts().add(truth, prediction).scores(classes)


def mean_dice(scores: dict[str, float | None]) -> float | None:
    """Mean over the classes that have a score; ``None`` if none has.

    Examples
    --------
    >>> mean_dice({"pore": 0.5, "active material": 1.0, "carbon-binder": None})
    0.75
    """
    values = [v for v in scores.values() if v is not None]
    return float(np.mean(values)) if values else None
