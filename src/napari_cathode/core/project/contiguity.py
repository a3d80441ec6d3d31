"""Are a volume's slices contiguous (a 3D acquisition) or separate 2D images stacked together?

A FIB-SEM or nano-CT volume is contiguous: slice ``z + 1`` shows the same structures a voxel
further on, so a model may look at neighbouring slices (2.5D input, ``context_slices``). A stack of
unrelated 2D slices (such as the SegmentPy acquisitions, taken far apart) is not, and a model that
mixed neighbouring slices would learn noise. A project records the answer in ``project.json``
(``contiguous``: true, false or null = unknown) and the training round picks its model from it.

The answer is, in order: the user's choice; else measured from the image — the correlation of
neighbouring slices after a band-pass filter is high (≳ 0.5) in a contiguous volume and about 0
between unrelated slices; else, when the measurement is inconclusive, a z voxel size stated by
the file (a file that states a slice spacing holds a 3D acquisition); else unknown.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi

__all__ = [
    "CHOICES",
    "CONTIGUOUS_ABOVE",
    "CROP",
    "PAIRS",
    "SEPARATE_BELOW",
    "detect_contiguous",
    "neighbour_correlation",
    "resolve_contiguous",
]

log = logging.getLogger(__name__)

#: User choices (CLI ``--contiguous/--no-contiguous``, the Project dock's combo box).
CHOICES = {"auto": None, "contiguous": True, "separate": False}
#: Median band-passed correlation of neighbouring slices above which slices are contiguous.
CONTIGUOUS_ABOVE = 0.3
#: ... and below which they are separate images (between the two: inconclusive).
SEPARATE_BELOW = 0.1
#: Slice pairs measured and the largest in-plane crop read for each (keeps it cheap on big data).
PAIRS, CROP = 5, 512


def _band_pass(plane: np.ndarray) -> np.ndarray:
    """Remove noise (sigma 1) and shading (sigma 8): what is left is the structure."""
    plane = np.asarray(plane, dtype=np.float32)
    return ndi.gaussian_filter(plane, 1.0) - ndi.gaussian_filter(plane, 8.0)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / norm) if norm > 0 else 0.0


def neighbour_correlation(image) -> float | None:
    """Median band-passed correlation of up to :data:`PAIRS` neighbouring slice pairs.

    Parameters
    ----------
    image : array-like (z, y, x)
        numpy, dask or zarr; only the measured slices (centre crops) are read.

    Returns
    -------
    float or None
        None for a single slice.
    """
    depth, height, width = (int(n) for n in image.shape)
    if depth < 2:
        return None
    y0, x0 = max(0, (height - CROP) // 2), max(0, (width - CROP) // 2)
    crop = (slice(y0, y0 + CROP), slice(x0, x0 + CROP))
    starts = np.unique(np.linspace(0, depth - 2, min(PAIRS, depth - 1)).round().astype(int))
    values = []
    for z in starts:
        pair = np.asarray(image[int(z) : int(z) + 2, crop[0], crop[1]])
        values.append(_correlation(_band_pass(pair[0]), _band_pass(pair[1])))
    return float(np.median(values))


def detect_contiguous(image, *, voxel_size_stated: bool = False) -> tuple[bool | None, str]:
    """Whether ``image``'s slices are contiguous, and why (see the module docstring).

    Parameters
    ----------
    image : array-like (z, y, x)
    voxel_size_stated : bool
        The file states a voxel size (used only when the measurement is inconclusive).

    Returns
    -------
    (bool or None, str)
        True/False/None (unknown) and a sentence saying how it was decided.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> detect_contiguous(rng.normal(size=(4, 64, 64)))[0]
    False
    """
    value = neighbour_correlation(image)
    if value is None:
        return False, "a single slice"
    measured = f"neighbouring slices correlate {value:.2f} (band-passed)"
    if value >= CONTIGUOUS_ABOVE:
        return True, measured
    if value <= SEPARATE_BELOW:
        return False, measured
    if voxel_size_stated:
        return True, f"{measured}; the file states a z voxel size"
    return None, f"{measured}: inconclusive"


def resolve_contiguous(
    choice: bool | None, image, *, voxel_size_stated: bool = False
) -> tuple[bool | None, str]:
    """The user's ``choice`` when given (True/False), else :func:`detect_contiguous`."""
    if choice is not None:
        return bool(choice), "chosen by the user"
    return detect_contiguous(image, voxel_size_stated=voxel_size_stated)
