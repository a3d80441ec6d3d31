"""Time series: lazy (t, z, y, x) readers, registration, instance matching, kinetic fits."""

from __future__ import annotations

import dask.array as da
import h5py
import numpy as np
import pytest
import tifffile
import zarr
from scipy import ndimage as ndi

from napari_cathode.core.errors import VolumeError
from napari_cathode.core.timeseries.fitting import fit_logistic, logistic
from napari_cathode.core.timeseries.kinetics import aligned_block
from napari_cathode.core.timeseries.operando import nmc_classes, render_operando
from napari_cathode.core.timeseries.pipeline import analyse_kinetics
from napari_cathode.core.timeseries.registration import estimate_drift
from napari_cathode.core.timeseries.series import open_series
from napari_cathode.core.timeseries.tracking import ShiftedLabels, match_instances

RNG = np.random.default_rng(15)
SERIES = RNG.random((5, 4, 16, 20)).astype(np.float32)  # (t, z, y, x)


@pytest.fixture(scope="module")
def nmc_crop(shared_data) -> np.ndarray:
    """Real 3D NMC geometry (slicegan), 1 pore / 2 active / 3 binder, cropped."""
    labels = tifffile.imread(shared_data / "slicegan-nmc-3phase" / "NMC.tif")
    return nmc_classes(labels[:, :96, :96])


def _assert_lazy_series(series, expected: np.ndarray) -> None:
    assert isinstance(series.data, da.Array)
    assert series.data.shape == expected.shape
    np.testing.assert_array_equal(series.data[2].compute(), expected[2])


def test_ome_zarr_with_time_axis_opens_lazily(tmp_path):
    from ome_zarr.writer import write_image

    root = zarr.open_group(str(tmp_path / "op.ome.zarr"), mode="w")
    write_image(SERIES, root, axes="tzyx", scale_factors=())
    series = open_series(tmp_path / "op.ome.zarr")
    _assert_lazy_series(series, SERIES)


def test_hdf5_with_time_dimension_opens_lazily(tmp_path):
    with h5py.File(tmp_path / "op.h5", "w") as f:
        f.create_dataset("operando", data=SERIES, chunks=(1, 4, 16, 20))
    _assert_lazy_series(open_series(tmp_path / "op.h5"), SERIES)


def test_folder_of_volumes_in_natural_order(tmp_path):
    # t2 must come before t10: 12 files, names whose plain sort would be wrong
    frames = np.stack([np.full((4, 8, 8), t, np.uint16) for t in range(12)])
    for t in range(12):
        tifffile.imwrite(tmp_path / f"scan_t{t}.tif", frames[t])
    series = open_series(tmp_path)
    assert series.data.shape == (12, 4, 8, 8)
    assert isinstance(series.data, da.Array)
    assert [int(v) for v in series.data[:, 0, 0, 0].compute()] == list(range(12))


def test_list_of_tiff_files_and_a_2d_movie(tmp_path):
    paths = []
    for t in range(5):
        paths.append(tmp_path / f"{t}.tif")
        tifffile.imwrite(paths[-1], SERIES[t])
    _assert_lazy_series(open_series(paths), SERIES)
    movie = SERIES[:, 0]  # (t, y, x)
    tifffile.imwrite(tmp_path / "movie.tif", movie)
    series = open_series(tmp_path / "movie.tif", axes="tyx")
    _assert_lazy_series(series, movie[:, np.newaxis])


def test_time_points_of_different_shapes_are_refused(tmp_path):
    tifffile.imwrite(tmp_path / "t0.tif", SERIES[0])
    tifffile.imwrite(tmp_path / "t1.tif", SERIES[1])
    tifffile.imwrite(tmp_path / "t2.tif", SERIES[2][:, :10])
    with pytest.raises(VolumeError, match=r"different shapes.*t2\.tif \(4, 10, 20\)"):
        open_series(tmp_path)


def test_single_time_point_is_refused(tmp_path):
    np.save(tmp_path / "one.npy", SERIES[:1])
    with pytest.raises(VolumeError, match="single time point"):
        open_series(tmp_path / "one.npy")
    tifffile.imwrite(tmp_path / "only.tif", SERIES[0])
    with pytest.raises(VolumeError, match="single time point"):
        open_series([tmp_path / "only.tif"])


def test_nan_frame_is_refused_naming_the_time_point(tmp_path):
    bad = SERIES.copy()
    bad[3, 2, 4, 4] = np.nan  # the middle slice of time point 3
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(VolumeError, match="time point 3 holds NaN"):
        open_series(tmp_path / "bad.npy")
    bad = SERIES.copy()
    bad[2, 0, 1, 1] = np.nan  # not in a sampled slice: caught while the kinetics read it
    labels = np.zeros(SERIES.shape[1:], np.int32)
    labels[:, 4:12, 4:12] = 1
    with pytest.raises(VolumeError, match="time point 2, slice 0 holds NaN"):
        analyse_kinetics(bad, labels, None, drift=np.zeros((5, 3)))


def test_registration_recovers_a_known_shift(nmc_crop):
    frames, _ = render_operando(nmc_crop, time_points=2, max_step=0, seed=1)
    reference = frames[0]
    shift = np.array([1.3, -4.6, 2.2])
    moved = ndi.shift(reference, shift, order=1, mode="nearest")
    np.testing.assert_allclose(estimate_drift(reference, moved, window=64), shift, atol=0.3)


def test_shifted_labels_and_aligned_block_agree_with_slicing():
    labels = RNG.integers(0, 5, (6, 10, 12))
    moved = ShiftedLabels(labels, (1, -2, 3))[...]
    assert moved[3, 5, 7] == labels[2, 7, 4]
    assert moved[0].max() == 0  # came from outside
    frame = RNG.random((6, 10, 12))
    block, valid = aligned_block(frame, 1, 4, (1.0, 2.0, -1.0))
    np.testing.assert_allclose(block[0, 3, 5], frame[2, 5, 4])
    assert not valid[:, :, 0].any() and valid[0, 3, 5]
    half, _ = aligned_block(frame, 0, 2, (0.0, 0.5, 0.0))
    np.testing.assert_allclose(half[1, 2, 3], 0.5 * (frame[1, 2, 3] + frame[1, 3, 3]))


def test_instance_matching_survives_a_planted_split():
    reference = np.zeros((1, 40, 60), np.int32)
    reference[0, 5:15, 5:15] = 1
    reference[0, 5:15, 25:45] = 2  # the one that splits
    reference[0, 25:35, 5:15] = 3  # the one that disappears
    reference[0, 25:35, 25:35] = 4
    current = np.zeros_like(reference)
    current[0, 5:15, 5:15] = 7
    current[0, 5:15, 25:34] = 3  # two halves of particle 2, a gap between them
    current[0, 5:15, 36:45] = 9
    current[0, 25:35, 25:35] = 1
    current[0, 25:35, 45:55] = 5  # a new particle
    match = match_instances(reference, current)
    assert match.split == {2}
    assert match.mapping[3] == 2 and match.mapping[9] == 2
    assert match.mapping[7] == 1 and match.mapping[1] == 4
    assert match.disappeared == {3}
    assert match.appeared == {5} and match.mapping[5] == 5
    relabelled = match.relabel(current)
    assert set(np.unique(relabelled[0, 5:15, 25:45])) == {0, 2}


def test_logistic_fit_recovers_known_parameters():
    times = np.arange(24.0)
    truth = dict(base=0.8, amplitude=-0.25, onset=11.3, rate=0.7)
    rng = np.random.default_rng(0)
    values = logistic(times, **truth) + rng.normal(0, 0.005, times.size)
    fit = fit_logistic(times, values)
    assert fit.ok
    assert abs(fit.onset - truth["onset"]) < 0.2
    assert abs(fit.rate / truth["rate"] - 1) < 0.15
    assert abs(fit.start - (fit.onset - np.log(9) / fit.rate)) < 1e-9
    for seed in range(8):  # noise alone is no transition
        noise = np.random.default_rng(seed).normal(0, 0.005, times.size)
        assert not fit_logistic(times, 0.8 + noise).ok


def test_kinetics_recover_onsets_on_semi_synthetic_series(nmc_crop):
    frames, truth = render_operando(nmc_crop, time_points=20, seed=3)
    result = analyse_kinetics(frames, truth.particles, truth.classes, static_classes=(1, 3))
    fits = result.particles
    ids = fits["particle"].to_numpy()
    onset_error = np.abs(fits["onset"].to_numpy() - truth.onset[ids])
    onset_error[~fits["ok"].to_numpy()] = np.inf
    assert np.median(onset_error) <= 1.0
    assert np.abs(result.drift - truth.drift).max() < 1.0
    assert {"mean", "p10", "p90", "switched_fraction"} <= set(result.trajectories.columns)


def test_matched_mode_agrees_with_static_and_flags_a_planted_split(nmc_crop):
    """Per-time-point segmentations are matched (kept on disk, not in memory) and measured.

    When each time point's own segmentation is the moved reference, the trajectories equal the
    static mode's; when one particle is cut in two from time point 3 on, it is flagged there.
    """
    frames, truth = render_operando(nmc_crop, time_points=6, seed=4)
    offsets = np.round(truth.drift - truth.drift[0]).astype(int)
    static = analyse_kinetics(
        frames, truth.particles, truth.classes, static_classes=(1, 3), drift=truth.drift
    )
    same = analyse_kinetics(
        frames,
        truth.particles,
        truth.classes,
        static_classes=(1, 3),
        drift=truth.drift,
        segment_at=lambda t: ShiftedLabels(truth.particles, offsets[t])[...],
    )
    np.testing.assert_allclose(
        same.trajectories["mean"].to_numpy(), static.trajectories["mean"].to_numpy()
    )
    sizes = np.bincount(truth.particles.ravel())
    sizes[0] = 0
    big = int(sizes.argmax())

    def split_from_3(t: int) -> np.ndarray:
        labels = ShiftedLabels(truth.particles, offsets[t])[...]
        if t >= 3:
            z = np.nonzero(labels == big)[0]
            cut = (labels == big) & (np.arange(labels.shape[0])[:, None, None] > np.median(z))
            labels[cut] = labels.max() + 1
        return labels

    split = analyse_kinetics(
        frames,
        truth.particles,
        truth.classes,
        static_classes=(1, 3),
        drift=truth.drift,
        segment_at=split_from_3,
    )
    row = split.particles.set_index("particle").loc[big]
    assert row["split_at"] == 3
    assert split.frames["split"].tolist() == [0, 0, 0, 1, 1, 1]


def test_napari_reader_opens_an_ome_zarr_time_series(tmp_path):
    from ome_zarr.writer import write_image

    from napari_cathode._napari.reader import get_reader

    root = zarr.open_group(str(tmp_path / "op.ome.zarr"), mode="w")
    write_image(SERIES, root, axes="tzyx", scale_factors=())
    [(data, kwargs, kind)] = get_reader(str(tmp_path / "op.ome.zarr"))(
        str(tmp_path / "op.ome.zarr")
    )
    assert kind == "image" and data.shape == SERIES.shape and len(kwargs["scale"]) == 4
