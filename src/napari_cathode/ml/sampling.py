"""Training regions from sparse ground truth, and class-balanced patch sampling inside them.

Truth 0 means unlabeled: only voxels with truth > 0 are used as patch centres, so fully
reviewed slices and sparse scribbles both train the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_cathode.core.errors import ModelError
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.features import plane_features
from napari_cathode.ml.normalization import Normalization

__all__ = [
    "PatchSampler",
    "TrainingRegion",
    "context_indices",
    "extract_regions",
    "labelled_slices",
]

#: Patch-centre candidates kept per class and region (a random subset beyond this).
_MAX_CENTRES = 200_000


@dataclass(frozen=True)
class TrainingRegion:
    """One block of normalised image with its truth.

    ``image`` is ``(C, *spatial)`` float32 and ``truth`` is ``(*spatial)`` uint8; for a 2D
    model a region is one slice with its context slices as channels.
    """

    image: np.ndarray
    truth: np.ndarray
    source: str
    z: int


def context_indices(z: int, depth: int, context_slices: int) -> np.ndarray:
    """Slice indices ``z - c//2 .. z + c//2``, clamped at the volume's ends."""
    half = context_slices // 2
    return np.clip(np.arange(z - half, z + half + 1), 0, depth - 1)


def labelled_slices(truth) -> list[int]:
    """Indices of the slices of a truth volume that hold any label > 0 (read slice by slice)."""
    return [z for z in range(truth.shape[0]) if np.asarray(truth[z]).any()]


def extract_regions(
    image,
    truth,
    slices: list[int] | tuple[int, ...],
    *,
    config: ModelConfig,
    normalization: Normalization,
    source: str = "volume",
) -> list[TrainingRegion]:
    """Read the training regions of one volume.

    Parameters
    ----------
    image, truth : array-like (z, y, x)
        Volume and its ground truth (0 = unlabeled); numpy, zarr or dask.
    slices : sequence of int
        The z indices whose truth is used. For a 3D model the truth of all other slices is
        treated as unlabeled (so held-out slices never leak into training).
    config : ModelConfig
    normalization : Normalization
    source : str
        Name recorded with each region (for the data split in model.json).
    """
    depth = image.shape[0]
    regions = []
    if config.spatial_dims == 2:
        for z in slices:
            idx = context_indices(int(z), depth, config.context_slices)
            planes = np.stack([np.asarray(image[int(i)]) for i in idx])
            inputs = plane_features(
                normalization.apply(planes),
                feature_set=config.input_features,
                sigmas=config.feature_sigmas,
            )
            regions.append(
                TrainingRegion(
                    inputs,
                    np.asarray(truth[int(z)], dtype=np.uint8),
                    source,
                    int(z),
                )
            )
        return regions
    keep = np.zeros(depth, dtype=bool)
    keep[list(slices)] = True
    if not keep.any():
        return regions
    half = config.patch_size[0] // 2
    lo = max(0, int(np.flatnonzero(keep)[0]) - half)
    hi = min(depth, int(np.flatnonzero(keep)[-1]) + half + 1)
    masked = np.asarray(truth[lo:hi], dtype=np.uint8).copy()
    masked[~keep[lo:hi]] = 0
    block = normalization.apply(np.asarray(image[lo:hi]))[None]
    regions.append(TrainingRegion(block, masked, source, lo))
    return regions


class PatchSampler:
    """Draw class-balanced training patches around labelled voxels.

    Each patch: pick a class uniformly among the classes present, a region in proportion to
    its voxels of that class, one of those voxels, and centre the patch on it with a random
    shift of up to a quarter patch. Regions smaller than the patch are padded (image by
    reflection, truth by 0 = unlabeled).

    Parameters
    ----------
    regions : list of TrainingRegion
    config : ModelConfig
    rng : numpy.random.Generator
    """

    def __init__(
        self, regions: list[TrainingRegion], *, config: ModelConfig, rng: np.random.Generator
    ):
        self.patch = np.array(config.patch_size)
        self.rng = rng
        self.class_ids = [c.id for c in config.classes]
        self.regions = [self._pad(r) for r in regions]
        # centres[k][i]: flat indices of class k voxels in region i (subsampled when huge).
        self.centres: list[list[np.ndarray]] = []
        for cid in self.class_ids:
            per_region = []
            for region in self.regions:
                flat = np.flatnonzero(region.truth == cid)
                if flat.size > _MAX_CENTRES:
                    flat = rng.choice(flat, _MAX_CENTRES, replace=False)
                per_region.append(flat)
            self.centres.append(per_region)
        self.present = [k for k, per in enumerate(self.centres) if sum(p.size for p in per) > 0]
        if not self.present:
            raise ModelError(
                f"no labelled voxels with a class id in {self.class_ids} to train on: "
                "annotate or review at least one slice first"
            )

    def _pad(self, region: TrainingRegion) -> TrainingRegion:
        shape = np.array(region.truth.shape)
        short = np.maximum(self.patch - shape, 0)
        if not short.any():
            return region
        pads = [(int(s) // 2, int(s) - int(s) // 2) for s in short]
        image = np.pad(
            region.image, [(0, 0), *pads], mode="reflect" if (shape > 1).all() else "edge"
        )
        truth = np.pad(region.truth, pads, mode="constant")
        return TrainingRegion(image, truth, region.source, region.z)

    def sample(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(images (B, C, *patch) float32, truth (B, *patch) int64)``."""
        images, truths = [], []
        for _ in range(batch_size):
            k = self.present[self.rng.integers(len(self.present))]
            counts = np.array([p.size for p in self.centres[k]], dtype=float)
            i = int(self.rng.choice(len(counts), p=counts / counts.sum()))
            region = self.regions[i]
            flat = self.centres[k][i][self.rng.integers(self.centres[k][i].size)]
            centre = np.array(np.unravel_index(flat, region.truth.shape))
            jitter = self.rng.integers(-(self.patch // 4), self.patch // 4 + 1)
            start = np.clip(
                centre - self.patch // 2 + jitter, 0, np.array(region.truth.shape) - self.patch
            )
            window = tuple(slice(int(s), int(s + p)) for s, p in zip(start, self.patch))
            images.append(region.image[(slice(None), *window)])
            truths.append(region.truth[window])
        return np.stack(images).astype(np.float32), np.stack(truths).astype(np.int64)
