"""Shared fixtures: the real data in ../shared/data and small crops of it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("NAPARI_CATHODE_SHARED_DATA", REPO.parent / "shared" / "data"))
NANOCT = SHARED_DATA / "segmentpy-nmc-nanoct" / "stacks"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of the real cathode data; the suite fails loudly if it is missing."""
    assert SHARED_DATA.is_dir(), (
        f"real data folder {SHARED_DATA} is missing: clone the repository beside shared/ "
        "or set NAPARI_CATHODE_SHARED_DATA"
    )
    return SHARED_DATA


@pytest.fixture(scope="session")
def acquisition_a(shared_data) -> tuple[np.ndarray, np.ndarray]:
    """Real NMC nano-CT acquisition A: image float32 (5, 499, 601), labels uint8 0..3."""
    import tifffile

    image = tifffile.imread(NANOCT / "A_image.tif")
    labels = tifffile.imread(NANOCT / "A_labels.tif")
    return image, labels


@pytest.fixture(scope="session")
def acquisition_a_crop(acquisition_a) -> tuple[np.ndarray, np.ndarray]:
    """A 5 x 128 x 160 crop of acquisition A (fast tests on real data)."""
    image, labels = acquisition_a
    return image[:, 100:228, 200:360].copy(), labels[:, 100:228, 200:360].copy()
