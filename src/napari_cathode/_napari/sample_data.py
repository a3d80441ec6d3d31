"""npe2 sample data: the real NMC nano-CT acquisition A and a synthetic 3D cathode phantom."""

from __future__ import annotations

from napari_cathode._napari.layers import image_layer_tuple, labels_layer_tuple
from napari_cathode.core.classes import DEFAULT_CLASSES

__all__ = ["ACQUISITION_A_NAME", "PHANTOM_NAME", "REFERENCE", "acquisition_a", "phantom"]

ACQUISITION_A_NAME = "acquisition A"
PHANTOM_NAME = "phantom"
#: Suffix of a sample's own labels: named apart from a project's "truth" layer, so the two
#: are never confused once a project is made from the sample.
REFERENCE = "reference labels"


def acquisition_a() -> list[tuple]:
    """Real NMC nano-CT acquisition A (5 slices, SegmentPy, Apache-2.0) with its truth."""
    from napari_cathode.core.io.sample_data import (
        ACQUISITION_A_UNIT,
        ACQUISITION_A_VOXEL_SIZE,
        load_acquisition_a,
    )

    image, truth = load_acquisition_a()
    unit = ACQUISITION_A_UNIT  # pixel units become no napari unit in layers.py
    return [
        image_layer_tuple(image, ACQUISITION_A_NAME, ACQUISITION_A_VOXEL_SIZE, unit),
        labels_layer_tuple(
            truth,
            f"{ACQUISITION_A_NAME} {REFERENCE}",
            DEFAULT_CLASSES,
            ACQUISITION_A_VOXEL_SIZE,
            unit,
        ),
    ]


def phantom() -> list[tuple]:
    """Seeded synthetic 3D cathode phantom (FIB-SEM-like image) with its truth."""
    from napari_cathode.core.synthetic.phantom import make_phantom

    sample = make_phantom()
    unit = sample.unit
    return [
        image_layer_tuple(sample.image, PHANTOM_NAME, sample.voxel_size, unit),
        labels_layer_tuple(
            sample.truth, f"{PHANTOM_NAME} {REFERENCE}", DEFAULT_CLASSES, sample.voxel_size, unit
        ),
    ]
