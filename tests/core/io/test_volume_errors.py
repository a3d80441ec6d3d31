"""Bad input to open_volume: each error names the file and says what is wrong."""

from __future__ import annotations

import re
import shutil

import h5py
import imageio.v3 as iio
import mrcfile
import numpy as np
import pytest
import tifffile
import zarr

from napari_cathode.core.errors import VolumeError
from napari_cathode.core.io.volumes import open_volume

RNG = np.random.default_rng(7)


def assert_error(path, *fragments, **options):
    """open_volume(path) raises a VolumeError whose message names ``path`` and each fragment."""
    with pytest.raises(VolumeError) as caught:
        open_volume(path, **options)
    message = str(caught.value)
    assert str(path) in message, message
    for fragment in fragments:
        assert re.search(fragment, message), f"{fragment!r} not in {message!r}"
    return message


def truncate(source, target, fraction: float):
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def test_missing_path(tmp_path):
    assert_error(tmp_path / "nowhere.tif", "no such file or folder")


@pytest.mark.parametrize("name", ["empty.tif", "empty.npy", "empty.mrc", "empty.h5"])
def test_empty_file(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    assert_error(tmp_path / name, r"empty \(0 bytes\)")


def test_unknown_extension_lists_supported(tmp_path):
    (tmp_path / "scan.raw").write_bytes(b"\0" * 64)
    assert_error(tmp_path / "scan.raw", "unknown file type '.raw'", r"\.tif", r"\.mrc", "folders")


@pytest.mark.parametrize("fraction", [0.3, 0.9, 0.9999])
def test_truncated_real_tiff(shared_data, tmp_path, fraction):
    source = shared_data / "segmentpy-nmc-nanoct" / "stacks" / "A_image.tif"
    path = truncate(source, tmp_path / "A_image.tif", fraction)
    assert_error(path, "truncated or damaged")


@pytest.mark.parametrize("layout", ["imagej", "ome", "zlib"])
def test_truncated_imagej_ome_and_compressed_tiff(tmp_path, layout):
    array = RNG.random((12, 32, 32), dtype=np.float32)
    options = {
        "imagej": {"imagej": True, "metadata": {"axes": "ZYX"}},
        "ome": {"ome": True, "metadata": {"axes": "ZYX"}},
        "zlib": {"compression": "zlib"},
    }[layout]
    tifffile.imwrite(tmp_path / "full.tif", array, **options)
    assert_error(truncate(tmp_path / "full.tif", tmp_path / "cut.tif", 0.6), "truncated or damaged")


def test_not_a_tiff(tmp_path):
    (tmp_path / "fake.tif").write_bytes(b"this is not an image" * 10)
    assert_error(tmp_path / "fake.tif", "not a readable TIFF")


def test_truncated_npy_and_mrc(tmp_path):
    array = RNG.random((6, 32, 32), dtype=np.float32)
    np.save(tmp_path / "full.npy", array)
    path = truncate(tmp_path / "full.npy", tmp_path / "cut.npy", 0.5)
    full_size = (tmp_path / "full.npy").stat().st_size
    assert_error(path, "truncated", f"{full_size // 2} of {full_size} bytes")
    with mrcfile.new(tmp_path / "full.mrc") as m:
        m.set_data(array)
    assert_error(truncate(tmp_path / "full.mrc", tmp_path / "cut.mrc", 0.5), "truncated")


def test_truncated_hdf5(tmp_path):
    with h5py.File(tmp_path / "full.h5", "w") as f:
        f.create_dataset("data", data=RNG.random((6, 32, 32)))
    assert_error(truncate(tmp_path / "full.h5", tmp_path / "cut.h5", 0.3), "truncated")


def test_object_and_complex_npy_are_refused(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([[{"a": 1}] * 3] * 3, dtype=object))
    assert_error(tmp_path / "objects.npy", "Python objects")
    np.save(tmp_path / "complex.npy", np.zeros((2, 4, 4), np.complex64))
    assert_error(tmp_path / "complex.npy", "complex64", "not grey values")


def test_rgb_without_channel(tmp_path):
    tifffile.imwrite(
        tmp_path / "rgb.tif", RNG.integers(0, 255, (3, 16, 16, 3), np.uint8), photometric="rgb"
    )
    iio.imwrite(tmp_path / "rgba.png", RNG.integers(0, 255, (16, 16, 4), np.uint8))
    assert_error(tmp_path / "rgb.tif", "RGB data", r"channel=0\.\.2")
    assert_error(tmp_path / "rgba.png", "RGBA data", r"channel=0\.\.3")
    assert_error(tmp_path / "rgb.tif", r"channel=3 is out of range.*0\.\.2", channel=3)


def test_4d_without_time_or_channel(tmp_path):
    np.save(tmp_path / "series.npy", np.zeros((2, 3, 8, 8), np.uint8))
    tifffile.imwrite(
        tmp_path / "series.tif",
        np.zeros((2, 3, 8, 8), np.uint8),
        imagej=True,
        metadata={"axes": "TZYX"},
    )
    assert_error(tmp_path / "series.npy", r"4D data of shape \(2, 3, 8, 8\)", "time=0..1")
    assert_error(tmp_path / "series.tif", "2 times", "time=0..1")
    assert_error(tmp_path / "series.npy", "only one of them", time=0, channel=0)


def test_channel_for_grey_data(tmp_path):
    np.save(tmp_path / "grey.npy", np.zeros((3, 8, 8), np.uint8))
    assert_error(
        tmp_path / "grey.npy", "channel=0 was given but the data has no channel axis", channel=0
    )


def test_real_slice_folder_with_mixed_shapes(shared_data):
    folder = shared_data / "segmentpy-nmc-nanoct" / "original"
    assert_error(
        folder,
        "slices of different shapes",
        r"\(499, 601\)",
        r"\(500, 572\)",
        r"\(400, 400\)",
        r"e\.g\. 1\.tif",
    )


def test_slice_folder_with_mixed_dtypes_or_a_stack_or_nothing(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    tifffile.imwrite(folder / "s1.tif", np.zeros((8, 8), np.uint8))
    tifffile.imwrite(folder / "s2.tif", np.zeros((8, 8), np.uint16))
    assert_error(folder, "different dtypes", "uint8", "uint16")
    tifffile.imwrite(folder / "s2.tif", np.zeros((5, 8, 8), np.uint8))
    assert_error(folder, r"s2\.tif: is not a 2D slice")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    assert_error(empty, "no image slices")


def test_damaged_slice_is_named(tmp_path):
    folder = tmp_path / "scan"
    folder.mkdir()
    for i in range(3):
        iio.imwrite(folder / f"z{i}.png", RNG.integers(0, 255, (64, 64), np.uint8))
    truncate(folder / "z1.png", folder / "z1.png", 0.5)
    volume = open_volume(folder)  # headers are intact: opens lazily
    with pytest.raises(VolumeError, match=r"z1\.png: cannot read the image"):
        volume.data.compute()


def test_nan_in_a_sampled_slice(tmp_path):
    array = RNG.random((9, 16, 16), dtype=np.float32)
    array[4, 2, 2] = np.nan  # the middle slice is checked at open
    np.save(tmp_path / "holes.npy", array)
    assert_error(tmp_path / "holes.npy", "slice 4 holds NaN or infinite values", "nan_to_num")


def test_container_with_several_arrays_lists_them(tmp_path):
    with h5py.File(tmp_path / "two.h5", "w") as f:
        f.create_dataset("raw", data=np.zeros((2, 8, 8)))
        f.create_dataset("seg", data=np.zeros((2, 8, 8), np.uint8))
    assert_error(tmp_path / "two.h5", "several arrays", "'raw'", "'seg'", "dataset=")
    assert_error(tmp_path / "two.h5", "no dataset 'nope'", "'raw'", dataset="nope")
    root = zarr.open_group(str(tmp_path / "two.zarr"), mode="w")
    root.create_array("a", shape=(2, 8, 8), dtype="uint8")
    root.create_array("b", shape=(2, 8, 8), dtype="uint8")
    assert_error(tmp_path / "two.zarr", "several arrays", "'a'", "'b'")
    assert_error(tmp_path / "two.zarr", "no array 'c'", dataset="c")


def test_dataset_for_a_format_without_datasets(tmp_path):
    np.save(tmp_path / "v.npy", np.zeros((2, 8, 8), np.uint8))
    assert_error(
        tmp_path / "v.npy", "dataset='x' applies to HDF5 files and zarr groups", dataset="x"
    )


def test_project_folder_and_broken_zarr_folder(tmp_path):
    project = tmp_path / "sample.cathode"
    project.mkdir()
    (project / "project.json").write_text("{}")
    assert_error(project, "napari-cathode project, not a volume")
    root = zarr.open_group(str(tmp_path / "copy.zarr"), mode="w")
    root.create_array("a", shape=(2, 8, 8), dtype="uint8")
    (tmp_path / "copy.zarr" / "zarr.json").unlink()
    shutil.rmtree(tmp_path / "copy.zarr" / "a")
    assert_error(tmp_path / "copy.zarr", "holds no zarr metadata")
