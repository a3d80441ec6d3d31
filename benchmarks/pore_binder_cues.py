"""How separable are pore and carbon-binder, and by which cue, in each real acquisition?

For the labelled pore and binder voxels of A, B and D (percentile-normalised like the model's
input), prints the ROC AUC of single cues for "pore vs binder" (0.5 = no information; below 0.5
means pore has the *lower* value), and the median normalised grey value of each class. A cue
that transfers between acquisitions must be far from 0.5 in the same direction in all three.

    .venv/bin/python benchmarks/pore_binder_cues.py
"""

from __future__ import annotations

import numpy as np
from _common import ACQUISITIONS, load
from scipy import ndimage as ndi
from scipy.stats import mannwhitneyu

PORE, ACTIVE, BINDER = 1, 2, 3


def auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of ``score`` for the boolean ``positive``: Mann-Whitney U / (n1 * n0)."""
    u = mannwhitneyu(score[positive], score[~positive], method="asymptotic").statistic
    return float(u / (positive.sum() * (~positive).sum()))


def cues(image: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Per-voxel cue volumes, each computed slice by slice (the slices are not contiguous)."""

    def per_slice(function):
        return np.stack([function(plane) for plane in image])

    g1 = per_slice(lambda p: ndi.gaussian_filter(p, 1))
    g4 = per_slice(lambda p: ndi.gaussian_filter(p, 4))
    g16 = per_slice(lambda p: ndi.gaussian_filter(p, 16))
    mean4, sq4 = g4, per_slice(lambda p: ndi.gaussian_filter(p * p, 4))
    return {
        "grey value": image,
        "Gaussian σ 4": g4,
        "Gaussian σ 16": g16,
        "local contrast σ1 − σ4": g1 - g4,
        "local std σ 4": np.sqrt(np.maximum(sq4 - mean4 * mean4, 0)),
        "distance to active material": np.stack(
            [ndi.distance_transform_edt(plane != ACTIVE) for plane in labels]
        ),
    }


def main() -> None:
    rows: dict[str, list[float]] = {}
    medians = []
    for name in ACQUISITIONS:
        image, labels = load(name)
        image = image.astype(np.float32)
        low, high = np.percentile(image, (0.5, 99.5))
        image = (image - low) / (high - low)
        dark = (labels == PORE) | (labels == BINDER)
        is_pore = labels[dark] == PORE
        for cue, volume in cues(image, labels).items():
            rows.setdefault(cue, []).append(auc(is_pore, volume[dark]))
        medians.append([float(np.median(image[labels == c])) for c in (PORE, BINDER, ACTIVE)])
    print("| pore-vs-binder AUC | " + " | ".join(ACQUISITIONS) + " |")
    print("|---|" + "---|" * len(ACQUISITIONS))
    for cue, values in rows.items():
        print(f"| {cue} | " + " | ".join(f"{v:.2f}" for v in values) + " |")
    print("\n| median normalised grey | pore | binder | active |\n|---|---|---|---|")
    for name, values in zip(ACQUISITIONS, medians):
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in values) + " |")


if __name__ == "__main__":
    main()
