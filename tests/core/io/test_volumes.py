"""open_volume: every format, dtype and layout opens lazily as (z, y, x) with its voxel size."""

from __future__ import annotations

import dask.array as da
import h5py
import imageio.v3 as iio
import mrcfile
import numpy as np
import pytest
import tifffile
import zarr
from ome_zarr.format import FormatV04, FormatV05
from ome_zarr.writer import write_image, write_labels

from napari_cathode.core.classes import DEFAULT_CLASSES
from napari_cathode.core.errors import VolumeError
from napari_cathode.core.io.ome_zarr_read import read_ome_zarr_labels
from napari_cathode.core.io.volumes import (
    SUPPORTED_SUFFIXES,
    Volume,
    check_finite,
    is_volume_path,
    open_volume,
)

RNG = np.random.default_rng(20240611)
DTYPES = ["uint8", "uint16", "int16", "float32", "float64"]


def random_volume(shape=(6, 40, 50), dtype="uint16") -> np.ndarray:
    """Seeded volume spanning the dtype's range (floats in 0..1, signed ints with negatives)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return RNG.random(shape).astype(dtype)
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


# ---------------------------------------------------------------- real data round trips


@pytest.mark.parametrize(
    "relative",
    [
        "segmentpy-nmc-nanoct/stacks/A_image.tif",
        "segmentpy-nmc-nanoct/stacks/A_labels.tif",
        "segmentpy-nmc-nanoct/stacks/D_image.tif",  # tifffile stored these 4 slices as planar RGBA
        "slicegan-nmc-3phase/NMC.tif",
    ],
)
def test_real_tiff_stacks_open_with_identical_voxels(shared_data, relative):
    path = shared_data / relative
    expected = tifffile.imread(path)
    volume = open_volume(path)
    assert isinstance(volume.data, da.Array)
    assert volume.shape == expected.shape and volume.dtype == expected.dtype
    np.testing.assert_array_equal(volume.data.compute(), expected)
    assert volume.name == path.stem and volume.path == path
    assert volume.voxel_size is None and volume.unit is None  # these files carry no calibration


def test_real_2d_slice_is_a_one_slice_stack(shared_data):
    path = shared_data / "esrf-nmc811-holotomo" / "example_xy.tif"
    volume = open_volume(path)
    assert volume.shape == (1, 655, 2048)
    np.testing.assert_array_equal(volume.data[0].compute(), tifffile.imread(path))


# ---------------------------------------------------------------- dtypes and layouts


def _write(fmt: str, path, array: np.ndarray):
    if fmt == "tif":
        tifffile.imwrite(path, array)
    elif fmt == "npy":
        np.save(path, array)
    elif fmt == "zarr":
        zarr.create_array(str(path), data=array, chunks=(2, 20, 25))
    elif fmt == "h5":
        with h5py.File(path, "w") as f:
            f.create_dataset("volume", data=array, chunks=(1, 40, 50))
    elif fmt == "mrc":
        with mrcfile.new(path) as m:
            m.set_data(array)
    return path


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fmt", ["tif", "npy", "zarr", "h5", "mrc"])
def test_every_dtype_round_trips(tmp_path, fmt, dtype):
    if fmt == "mrc" and dtype in ("uint8", "float64"):
        dtype = {"uint8": "int8", "float64": "float32"}[dtype]  # MRC modes 0/2 store these
    array = random_volume(dtype=dtype)
    volume = open_volume(_write(fmt, tmp_path / f"v.{fmt}", array))
    assert volume.dtype == array.dtype and volume.shape == array.shape
    np.testing.assert_array_equal(volume.data.compute(), array)


@pytest.mark.parametrize("fmt", ["tif", "npy", "png"])
def test_2d_image_becomes_one_slice_stack(tmp_path, fmt):
    image = random_volume((30, 45), "uint8")
    path = tmp_path / f"slice.{fmt}"
    if fmt == "png":
        iio.imwrite(path, image)
    else:
        _write(fmt, path, image)
    volume = open_volume(path)
    assert volume.shape == (1, 30, 45)
    np.testing.assert_array_equal(volume.data[0].compute(), image)


@pytest.mark.parametrize("suffix", [".tif", ".png"])
def test_folder_of_slices_stacks_in_natural_order(tmp_path, suffix):
    folder = tmp_path / "scan"
    folder.mkdir()
    values = [1, 2, 10, 11, 3]
    for v in values:  # write out of order; "slice10" sorts after "slice3" only naturally
        image = np.full((12, 16), v, dtype=np.uint16)
        if suffix == ".png":
            iio.imwrite(folder / f"slice{v}{suffix}", image)
        else:
            tifffile.imwrite(folder / f"slice{v}{suffix}", image)
    (folder / "notes.txt").write_text("not a slice")
    volume = open_volume(folder)
    assert volume.shape == (5, 12, 16) and volume.dtype == np.uint16
    assert volume.data[:, 0, 0].compute().tolist() == [1, 2, 3, 10, 11]
    assert volume.name == "scan"


def test_rgb_needs_and_honours_a_channel(tmp_path):
    rgb = random_volume((3, 20, 30, 3), "uint8")
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, rgb, photometric="rgb")
    volume = open_volume(path, channel=1)
    np.testing.assert_array_equal(volume.data.compute(), rgb[..., 1])


def test_4d_needs_and_honours_time(tmp_path):
    series = random_volume((3, 4, 20, 30), "uint16")
    np.save(tmp_path / "series.npy", series)
    tifffile.imwrite(tmp_path / "series.tif", series, imagej=True, metadata={"axes": "TZYX"})
    for name in ("series.npy", "series.tif"):
        volume = open_volume(tmp_path / name, time=2)
        np.testing.assert_array_equal(volume.data.compute(), series[2])
    channels = open_volume(tmp_path / "series.npy", channel=1)
    np.testing.assert_array_equal(channels.data.compute(), series[1])


# ---------------------------------------------------------------- containers with several arrays


def test_hdf5_dataset_path_and_zarr_array_path(tmp_path):
    image, labels = random_volume(dtype="float32"), random_volume(dtype="uint8")
    with h5py.File(tmp_path / "scan.h5", "w") as f:
        f.create_dataset("exchange/data", data=image)
        f.create_dataset("exchange/labels", data=labels)
        f.create_dataset("exchange/theta", data=np.arange(5.0))  # 1D: never an image candidate
    root = zarr.open_group(str(tmp_path / "scan.zarr"), mode="w")
    root.create_array("raw", data=image)
    root.create_group("seg").create_array("labels", data=labels)
    for path, image_key, labels_key in [
        (tmp_path / "scan.h5", "exchange/data", "/exchange/labels"),
        (tmp_path / "scan.zarr", "raw", "seg/labels"),
    ]:
        np.testing.assert_array_equal(open_volume(path, dataset=image_key).data.compute(), image)
        np.testing.assert_array_equal(open_volume(path, dataset=labels_key).data.compute(), labels)


def test_single_array_in_a_container_needs_no_dataset(tmp_path):
    image = random_volume(dtype="int16")
    with h5py.File(tmp_path / "one.h5", "w") as f:
        f.create_dataset("deep/inside/volume", data=image)
    zarr.open_group(str(tmp_path / "one.zarr"), mode="w").create_array("only", data=image)
    for name in ("one.h5", "one.zarr"):
        np.testing.assert_array_equal(open_volume(tmp_path / name).data.compute(), image)


# ---------------------------------------------------------------- voxel size metadata


def test_voxel_size_from_imagej_ome_tiff_mrc_and_hdf5(tmp_path):
    array = random_volume((5, 20, 30), "float32")
    tifffile.imwrite(
        tmp_path / "ij.tif",
        array,
        imagej=True,
        resolution=(1 / 0.25, 1 / 0.25),
        metadata={"spacing": 0.5, "unit": "micron", "axes": "ZYX"},
    )
    tifffile.imwrite(
        tmp_path / "x.ome.tif",
        array,
        metadata={
            "axes": "ZYX",
            "PhysicalSizeX": 8.0,
            "PhysicalSizeY": 8.0,
            "PhysicalSizeZ": 10.0,
            "PhysicalSizeXUnit": "nm",
            "PhysicalSizeYUnit": "nm",
            "PhysicalSizeZUnit": "nm",
        },
    )
    tifffile.imwrite(
        tmp_path / "mixed.ome.tif",
        array,
        metadata={
            "axes": "ZYX",
            "PhysicalSizeX": 8.0,
            "PhysicalSizeY": 8.0,
            "PhysicalSizeZ": 0.03,
            "PhysicalSizeXUnit": "nm",
            "PhysicalSizeYUnit": "nm",
            "PhysicalSizeZUnit": "µm",
        },
    )
    # 2 µm pixels in the TIFF resolution tags, in pixels per centimetre
    tifffile.imwrite(
        tmp_path / "cm.tif",
        array,
        resolution=(1e4 / 2.0, 1e4 / 2.0),
        resolutionunit="CENTIMETER",
        photometric="minisblack",
    )
    with mrcfile.new(tmp_path / "tomo.mrc") as m:
        m.set_data(array)
        m.voxel_size = (12.0, 11.0, 25.0)  # x, y, z in Å
    with h5py.File(tmp_path / "ilastik.h5", "w") as f:
        f.create_dataset("data", data=array).attrs["element_size_um"] = (0.3, 0.1, 0.1)
    expected = {
        "ij.tif": ((0.5, 0.25, 0.25), "µm"),
        "x.ome.tif": ((10.0, 8.0, 8.0), "nm"),
        "mixed.ome.tif": ((30.0, 8.0, 8.0), "nm"),  # z given in µm, converted
        "cm.tif": ((2.0, 2.0, 2.0), "µm"),  # no z in the file: isotropic assumed
        "tomo.mrc": ((2.5, 1.1, 1.2), "nm"),  # Å converted to nm
        "ilastik.h5": ((0.3, 0.1, 0.1), "µm"),
    }
    for name, (voxel_size, unit) in expected.items():
        volume = open_volume(tmp_path / name)
        assert volume.voxel_size == pytest.approx(voxel_size), name
        assert volume.unit == unit, name
    assert volume.name == "ilastik"
    assert open_volume(tmp_path / "x.ome.tif").name == "x"


@pytest.mark.parametrize("fmt", [FormatV04(), FormatV05()], ids=["ome-zarr-0.4", "ome-zarr-0.5"])
def test_ome_zarr_level0_voxel_size_and_labels(tmp_path, fmt):
    image = random_volume((8, 64, 48), "uint16")
    labels = (image % 4).astype(np.uint8)
    path = tmp_path / "sample.ome.zarr"
    root = zarr.open_group(str(path), mode="w", zarr_format=2 if fmt.version == "0.4" else 3)
    write_image(
        image,
        root,
        axes="zyx",
        fmt=fmt,
        scale={"z": 0.5, "y": 0.1, "x": 0.1},
        axes_units=dict.fromkeys("zyx", "micrometer"),
        scale_factors=[2],
    )
    classes = DEFAULT_CLASSES
    write_labels(
        labels,
        root,
        name="truth",
        axes="zyx",
        fmt=fmt,
        scaler=None,
        label_metadata={
            "colors": [
                {"label-value": c.id, "rgba": [round(255 * v) for v in c.rgba]} for c in classes
            ],
            "properties": [{"label-value": c.id, "class_name": c.name} for c in classes],
        },
    )
    volume = open_volume(path)
    assert volume.shape == image.shape and volume.name == "sample"
    assert volume.voxel_size == pytest.approx((0.5, 0.1, 0.1)) and volume.unit == "µm"
    np.testing.assert_array_equal(volume.data.compute(), image)

    read = read_ome_zarr_labels(path)
    assert list(read) == ["truth"]
    data, read_classes = read["truth"]
    assert isinstance(data, da.Array)
    np.testing.assert_array_equal(data.compute(), labels)
    assert read_classes == classes


def test_ome_zarr_labels_without_names_or_labels_group(tmp_path):
    root = zarr.open_group(str(tmp_path / "plain.ome.zarr"), mode="w")
    write_image(random_volume((4, 16, 16), "uint8"), root, axes="zyx", scale_factors=[])
    assert read_ome_zarr_labels(tmp_path / "plain.ome.zarr") == {}
    write_labels(
        np.eye(16, dtype=np.uint8)[None].repeat(4, 0) * 5,
        root,
        name="blobs",
        axes="zyx",
        scale_factors=[],
        scaler=None,
        label_metadata={"colors": [{"label-value": 5, "rgba": [255, 0, 0, 255]}]},
    )
    ((_, classes),) = read_ome_zarr_labels(tmp_path / "plain.ome.zarr").values()
    assert [(c.id, c.name, c.color) for c in classes] == [(5, "class 5", "#ff0000")]


# ---------------------------------------------------------------- laziness


@pytest.fixture
def chunk_reads(monkeypatch):
    """Records every zarr chunk key read from a local store."""
    reads: list[str] = []
    original = zarr.storage.LocalStore.get

    async def counting_get(self, key, *args, **kwargs):
        if key.startswith("c/") or "/c/" in key:
            reads.append(key)
        return await original(self, key, *args, **kwargs)

    monkeypatch.setattr(zarr.storage.LocalStore, "get", counting_get)
    return reads


def test_volume_larger_than_memory_opens_without_reading_pixels(tmp_path, chunk_reads):
    path = tmp_path / "huge.zarr"  # 64 GiB of uint16, nothing written: only metadata on disk
    zarr.create_array(
        str(path), shape=(2048, 4096, 4096), chunks=(64, 1024, 1024), dtype="uint16", fill_value=0
    )
    volume = open_volume(path, missing_chunks="fill")  # unwritten chunks read as 0 on request
    assert isinstance(volume.data, da.Array) and volume.shape == (2048, 4096, 4096)
    assert chunk_reads == []
    assert volume.data[1000, :8, :8].compute().shape == (8, 8)
    assert chunk_reads == ["c/15/0/0"]  # exactly the one chunk holding slice 1000


def test_float_volume_open_reads_only_the_sampled_slices(tmp_path, chunk_reads):
    path = tmp_path / "huge_float.zarr"  # 16 GiB of float32
    zarr.create_array(
        str(path),
        shape=(1024, 2048, 2048),
        chunks=(16, 1024, 1024),
        dtype="float32",
        fill_value=0.0,
    )
    open_volume(path, missing_chunks="fill")
    z_chunks_read = sorted({int(key.split("/")[1]) for key in chunk_reads})
    assert z_chunks_read == [0, 512 // 16, 1023 // 16]  # first, middle, last slice only
    assert len(chunk_reads) == 3 * 4


# ---------------------------------------------------------------- finite check and helpers


def test_check_finite_scans_all_slices_and_open_samples_three(tmp_path):
    array = random_volume((10, 20, 20), "float32")
    array[7, 3, 4] = np.inf  # slice 7 is not sampled at open (0, 5, 9 are)
    np.save(tmp_path / "hidden.npy", array)
    volume = open_volume(tmp_path / "hidden.npy")
    with pytest.raises(VolumeError, match=r"hidden\.npy: slice 7 holds NaN or infinite"):
        check_finite(volume)
    with pytest.raises(VolumeError, match="slice 7"):
        check_finite(array, path="in-memory")
    check_finite(np.nan_to_num(array, posinf=0.0))
    check_finite(random_volume(dtype="uint16"))


def test_volume_is_a_frozen_3d_record(tmp_path):
    volume = open_volume(_write("npy", tmp_path / "v.npy", random_volume()))
    with pytest.raises(AttributeError):
        volume.name = "other"
    with pytest.raises(VolumeError, match="shape"):
        Volume(data=da.zeros((4, 4)), path=tmp_path, name="flat", voxel_size=None, unit=None)


def test_is_volume_path_claims_only_readable_things(tmp_path):
    (tmp_path / "slices").mkdir()
    tifffile.imwrite(tmp_path / "slices" / "0001.tif", np.zeros((4, 4), np.uint8))
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.txt").write_text("hello")
    (tmp_path / "p.cathode").mkdir()
    (tmp_path / "p.cathode" / "project.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("hello")
    assert is_volume_path(tmp_path / "slices")
    assert not is_volume_path(tmp_path / "docs")
    assert not is_volume_path(tmp_path / "p.cathode")
    assert not is_volume_path(tmp_path / "notes.txt")
    assert not is_volume_path(tmp_path / "missing.tif")
    assert ".tif" in SUPPORTED_SUFFIXES and ".npy" in SUPPORTED_SUFFIXES
