"""The synthetic cathode phantom and the FIB-SEM-like imaging model."""

from __future__ import annotations

import time

import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi
from skimage.filters import threshold_multiotsu

from napari_cathode.core.errors import VolumeError
from napari_cathode.core.synthetic.imaging_model import FibSemModel
from napari_cathode.core.synthetic.phantom import Phantom, make_phantom, render_fib_sem

PORE, ACTIVE, BINDER = 1, 2, 3
SMALL = (16, 96, 96)


@pytest.fixture(scope="module")
def phantom() -> Phantom:
    return make_phantom(SMALL, seed=7)


def enclosed_pores(truth: np.ndarray) -> int:
    """Pore pockets wrapped (>= 95 % of their rim) in active material: cracks inside particles."""
    components, _ = ndi.label(truth == PORE)
    count = 0
    for index, box in enumerate(ndi.find_objects(components), start=1):
        box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in box)
        pocket = components[box] == index
        rim = ndi.binary_dilation(pocket) & ~pocket
        if rim.any() and np.mean(truth[box][rim] == ACTIVE) >= 0.95:
            count += 1
    return count


def test_same_seed_same_arrays_other_seed_other_arrays(phantom):
    again = make_phantom(SMALL, seed=7)
    np.testing.assert_array_equal(again.truth, phantom.truth)
    np.testing.assert_array_equal(again.image, phantom.image)
    other = make_phantom(SMALL, seed=8)
    assert not np.array_equal(other.truth, phantom.truth)


def test_every_voxel_labelled_with_plausible_class_fractions(phantom):
    assert phantom.image.shape == phantom.truth.shape == SMALL
    assert phantom.image.dtype == np.float32 and phantom.truth.dtype == np.uint8
    assert set(np.unique(phantom.truth).tolist()) == {PORE, ACTIVE, BINDER}
    fractions = {k: float(np.mean(phantom.truth == k)) for k in (PORE, ACTIVE, BINDER)}
    assert 0.25 < fractions[PORE] < 0.5
    assert 0.4 < fractions[ACTIVE] < 0.6
    assert 0.08 < fractions[BINDER] < 0.16
    assert phantom.voxel_size == (0.02, 0.01, 0.01) and phantom.unit == "µm"
    assert phantom.particles > 10


def test_binder_sits_on_particles_and_bridges_them(phantom):
    truth = phantom.truth
    distance = ndi.distance_transform_edt(truth != ACTIVE, sampling=(2, 1, 1))
    binder, pore = distance[truth == BINDER], distance[truth == PORE]
    assert np.percentile(binder, 90) <= 3.0  # films and bridges, not free blobs
    assert np.median(binder) < 0.6 * np.median(pore)
    # a bridge touches two different particles: some binder voxel has active on both sides
    active = truth == ACTIVE
    left, right = np.roll(active, 2, axis=2), np.roll(active, -2, axis=2)
    assert np.any((truth == BINDER) & left & right)


def test_cracked_particles_hold_pore_pockets_inside():
    cracked = make_phantom(SMALL, seed=3, crack_fraction=0.5)
    intact = make_phantom(SMALL, seed=3, crack_fraction=0.0)
    assert cracked.cracked >= 0.4 * cracked.particles
    assert intact.cracked == 0
    assert enclosed_pores(cracked.truth) >= 3
    assert enclosed_pores(intact.truth) == 0


def test_image_separates_classes_but_not_trivially(phantom):
    image, truth = phantom.image, phantom.truth
    means = [float(image[truth == k].mean()) for k in (PORE, BINDER, ACTIVE)]
    assert means[0] + 0.1 < means[1] < means[2] - 0.1
    # noise: neighbouring voxels deep inside particles differ
    core = ndi.binary_erosion(truth == ACTIVE, iterations=3)
    assert np.std(np.diff(image, axis=2)[core[:, :, 1:]]) > 0.05
    thresholds = threshold_multiotsu(image, classes=3)
    guess = np.array([PORE, BINDER, ACTIVE])[np.digitize(image, thresholds)]
    accuracy = float(np.mean(guess == truth))
    assert 0.6 < accuracy < 0.9


def test_pore_shine_through_shows_the_material_behind():
    truth = np.full((12, 16, 16), PORE, np.uint8)
    truth[8:] = ACTIVE  # material behind the pore along the milling axis
    quiet = {
        "texture": 0,
        "shading": 0,
        "drift": 0,
        "curtaining": 0,
        "dose": 0,
        "read_noise": 0,
        "blur_sigma": (0.0, 0.0, 0.0),
    }
    rng = np.random.default_rng(0)
    shine = render_fib_sem(truth, rng=rng, model=FibSemModel(shine_through=0.5, **quiet))
    dark = render_fib_sem(truth, rng=rng, model=FibSemModel(shine_through=0.0, **quiet))
    profile = shine[:8, 8, 8]
    assert np.all(np.diff(profile) > 0)  # brighter the closer the solid behind
    assert profile[-1] > dark[7, 8, 8] + 0.1
    np.testing.assert_allclose(dark[:8], 0.12, atol=1e-6)


def test_renders_real_3d_labels_to_a_semi_synthetic_pair(shared_data):
    labels = tifffile.imread(shared_data / "slicegan-nmc-3phase" / "NMC.tif")[:8, :96, :96]
    truth = np.select([labels == 0, labels == 128, labels == 255], [PORE, ACTIVE, BINDER], 0)
    assert truth.min() == PORE
    image = render_fib_sem(truth.astype(np.uint8), rng=np.random.default_rng(1))
    assert image.shape == truth.shape and image.dtype == np.float32
    means = [float(image[truth == k].mean()) for k in (PORE, BINDER, ACTIVE)]
    assert means == sorted(means)


def test_bad_inputs_raise_volume_errors():
    with pytest.raises(VolumeError, match="remap"):
        render_fib_sem(np.zeros((2, 4, 4), np.uint8), rng=np.random.default_rng(0))
    with pytest.raises(VolumeError, match="3D"):
        render_fib_sem(np.ones((4, 4), np.uint8), rng=np.random.default_rng(0))
    with pytest.raises(VolumeError, match="leaves no pore"):
        make_phantom((4, 16, 16), active_fraction=0.9, binder_fraction=0.2)
    with pytest.raises(VolumeError, match="voxel_size"):
        make_phantom((4, 16, 16), voxel_size=(0, 1, 1))
    with pytest.raises(VolumeError, match="intensities"):
        FibSemModel(intensities={1: 0.1, 2: 0.8})


def test_imaging_model_json_round_trip():
    model = FibSemModel(dose=10.0, blur_sigma=(1.0, 2.0, 2.0))
    assert FibSemModel.from_json(model.to_json()) == model


def test_any_shape_and_default_shape_is_fast():
    thin = make_phantom((3, 40, 70), seed=2)
    assert thin.image.shape == (3, 40, 70) and thin.truth.min() >= PORE
    start = time.process_time()  # CPU time: other processes on the machine do not count
    default = make_phantom()
    assert time.process_time() - start < 5.0
    assert default.image.shape == (48, 192, 192)
