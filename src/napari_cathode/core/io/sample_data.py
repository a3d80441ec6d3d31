"""Bundled sample data: the real NMC nano-CT acquisition A with its truth.

Five 2D slices (N = 1, 100, 200, 300, 400) of a synchrotron X-ray nano-CT acquisition of an
NMC cathode and their three-phase labels, from ZeliangSu/SegmentPy (Apache-2.0; see
``data/NOTICE`` and ``data/LICENSE.segmentpy``). Regenerate with ``scripts/make_sample_data.py``.
"""

from __future__ import annotations

import logging
from importlib import resources

import numpy as np
import tifffile

from napari_cathode.core.errors import VolumeError

__all__ = [
    "ACQUISITION_A_SHAPE",
    "ACQUISITION_A_UNIT",
    "ACQUISITION_A_VOXEL_SIZE",
    "IMAGE_FILE",
    "TRUTH_FILE",
    "load_acquisition_a",
]

log = logging.getLogger(__name__)

#: No voxel size comes with the upstream files, so acquisition A is reported in pixels. The
#: five slices are not contiguous (every 100th), so even the z spacing is only an index.
ACQUISITION_A_VOXEL_SIZE: tuple[float, float, float] = (1.0, 1.0, 1.0)
ACQUISITION_A_UNIT = "px"
ACQUISITION_A_SHAPE = (5, 499, 601)
IMAGE_FILE = "acquisition_a_image.tif"
TRUTH_FILE = "acquisition_a_truth.tif"


def _read(name: str) -> np.ndarray:
    resource = resources.files("napari_cathode") / "data" / name
    try:
        with resources.as_file(resource) as path:
            return tifffile.imread(path)
    except (FileNotFoundError, OSError, ValueError) as e:
        raise VolumeError(
            f"bundled sample {name} is missing or damaged ({e}); reinstall napari-cathode or "
            "run scripts/make_sample_data.py"
        ) from e


def load_acquisition_a() -> tuple[np.ndarray, np.ndarray]:
    """The real NMC nano-CT acquisition A and its truth.

    Returns
    -------
    image : numpy.ndarray
        float32 (5, 499, 601) reconstructed grey values, unchanged from upstream.
    truth : numpy.ndarray
        uint8 (5, 499, 601): 1 = pore, 2 = active material (NMC), 3 = carbon-binder; every
        voxel is labelled. Voxel size: :data:`ACQUISITION_A_VOXEL_SIZE` in
        :data:`ACQUISITION_A_UNIT` (pixels; no physical size is known).

    Raises
    ------
    VolumeError
        If the bundled files are missing or damaged.

    Examples
    --------
    >>> image, truth = load_acquisition_a()
    >>> image.shape, image.dtype.name, sorted(set(truth.ravel().tolist()))
    ((5, 499, 601), 'float32', [1, 2, 3])
    """
    image, truth = _read(IMAGE_FILE), _read(TRUTH_FILE)
    if image.shape != ACQUISITION_A_SHAPE or truth.shape != ACQUISITION_A_SHAPE:
        raise VolumeError(
            f"bundled acquisition A has shapes {image.shape} / {truth.shape}, expected "
            f"{ACQUISITION_A_SHAPE}; run scripts/make_sample_data.py"
        )
    log.debug("loaded bundled acquisition A %s", image.shape)
    return image, truth
