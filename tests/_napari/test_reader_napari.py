"""The npe2 reader: what napari gets when it opens each format through napari-cathode."""

from __future__ import annotations

import sys
import types

import h5py
import imageio.v3 as iio
import mrcfile
import npe2
import numpy as np
import pytest
import tifffile
import zarr
from ome_zarr.format import FormatV04, FormatV05
from ome_zarr.writer import write_image, write_labels

from napari_cathode._napari.reader import get_reader
from napari_cathode.core.classes import SegmentationClass
from napari_cathode.core.errors import VolumeError

PLUGIN = "napari-cathode"
RNG = np.random.default_rng(99)
IMAGE = RNG.integers(0, 4000, (6, 24, 32), dtype=np.uint16)


@pytest.fixture(scope="module", autouse=True)
def _discover_plugins():
    """npe2 finds the installed manifest the way napari does at start-up."""
    npe2.PluginManager.instance().discover()


def read(path):
    return npe2.read([str(path)], plugin_name=PLUGIN, stack=False)


def _tif(path):
    tifffile.imwrite(
        path,
        IMAGE.astype(np.float32),
        imagej=True,
        resolution=(10.0, 10.0),
        metadata={"spacing": 0.2, "unit": "um", "axes": "ZYX"},
    )
    return (0.2, 0.1, 0.1), "µm"


def _slices(path, suffix):
    path.mkdir()
    for z, image in enumerate(IMAGE):
        target = path / f"img_{z + 1}{suffix}"
        if suffix == ".tif":
            tifffile.imwrite(target, image)
        else:
            iio.imwrite(target, image)
    return (1.0, 1.0, 1.0), None


def _zarr(path):
    zarr.create_array(str(path), data=IMAGE, chunks=(2, 24, 32))
    return (1.0, 1.0, 1.0), None


def _h5(path):
    with h5py.File(path, "w") as f:
        f.create_dataset("entry/data", data=IMAGE).attrs["element_size_um"] = (0.5, 0.25, 0.25)
    return (0.5, 0.25, 0.25), "µm"


def _mrc(path):
    with mrcfile.new(path) as m:
        m.set_data(IMAGE)
        m.voxel_size = 20.0  # Å, isotropic
    return (2.0, 2.0, 2.0), "nm"


def _npy(path):
    np.save(path, IMAGE)
    return (1.0, 1.0, 1.0), None


FORMATS = {
    "volume.tif": _tif,
    "tif_slices": lambda p: _slices(p, ".tif"),
    "png_slices": lambda p: _slices(p, ".png"),
    "volume.zarr": _zarr,
    "volume.h5": _h5,
    "volume.rec": _mrc,
    "volume.npy": _npy,
}


@pytest.mark.parametrize("name", list(FORMATS))
def test_each_format_opens_as_one_image_layer(tmp_path, name):
    path = tmp_path / name
    scale, unit = FORMATS[name](path)
    ((data, kwargs, layer_type),) = read(path)
    assert layer_type == "image"
    assert kwargs["name"] == path.stem
    assert kwargs["scale"] == pytest.approx(scale)
    assert kwargs.get("units") == ((unit,) * 3 if unit else None)
    assert data.shape == IMAGE.shape
    np.testing.assert_array_equal(np.asarray(data), IMAGE)


def test_real_nanoct_stack_and_2d_png(shared_data, tmp_path):
    path = shared_data / "segmentpy-nmc-nanoct" / "stacks" / "B_labels.tif"
    ((data, kwargs, layer_type),) = read(path)
    assert layer_type == "image" and kwargs["name"] == "B_labels"
    np.testing.assert_array_equal(np.asarray(data), tifffile.imread(path))
    iio.imwrite(tmp_path / "slice.png", IMAGE[0].astype(np.uint8))
    ((data, _, _),) = read(tmp_path / "slice.png")
    assert data.shape == (1, 24, 32)


@pytest.mark.parametrize("fmt", [FormatV04(), FormatV05()], ids=["0.4", "0.5"])
def test_ome_zarr_opens_image_and_each_label_image(tmp_path, fmt):
    path = tmp_path / "export.ome.zarr"
    root = zarr.open_group(str(path), mode="w", zarr_format=2 if fmt.version == "0.4" else 3)
    write_image(
        IMAGE,
        root,
        axes="zyx",
        fmt=fmt,
        scale={"z": 0.3, "y": 0.1, "x": 0.1},
        axes_units=dict.fromkeys("zyx", "nanometer"),
        scale_factors=[],
    )
    truth = (IMAGE % 3).astype(np.uint8)
    proposal = ((IMAGE + 1) % 3).astype(np.uint8)
    label_metadata = {
        "colors": [
            {"label-value": 1, "rgba": [255, 0, 0, 255]},
            {"label-value": 2, "rgba": [0, 0, 255, 255]},
        ],
        "properties": [
            {"label-value": 1, "class_name": "pore"},
            {"label-value": 2, "class_name": "NMC"},
        ],
    }
    for name, labels in (("truth", truth), ("proposal", proposal)):
        write_labels(
            labels,
            root,
            name=name,
            axes="zyx",
            fmt=fmt,
            scale_factors=[],
            scaler=None,
            label_metadata=label_metadata,
        )
    image_layer, *label_layers = read(path)
    assert image_layer[2] == "image" and image_layer[1]["name"] == "export"
    assert image_layer[1]["scale"] == pytest.approx((0.3, 0.1, 0.1))
    assert image_layer[1]["units"] == ("nm",) * 3
    assert [(kwargs["name"], kind) for _, kwargs, kind in label_layers] == [
        ("export truth", "labels"),
        ("export proposal", "labels"),
    ]
    for (data, kwargs, _), expected in zip(label_layers, (truth, proposal)):
        np.testing.assert_array_equal(np.asarray(data), expected)
        assert kwargs["scale"] == image_layer[1]["scale"]
        classes = [SegmentationClass.from_json(c) for c in kwargs["metadata"]["classes"]]
        assert classes == [
            SegmentationClass(1, "pore", "#ff0000"),
            SegmentationClass(2, "NMC", "#0000ff"),
        ]
        assert tuple(kwargs["colormap"].map(1)) == pytest.approx((1.0, 0.0, 0.0, 1.0))


def test_bad_claimed_paths_raise_the_volume_error(shared_data, tmp_path):
    with pytest.raises(VolumeError, match="slices of different shapes"):
        read(shared_data / "segmentpy-nmc-nanoct" / "original")
    (tmp_path / "empty.tif").write_bytes(b"")
    with pytest.raises(VolumeError, match=r"empty\.tif: the file is empty"):
        read(tmp_path / "empty.tif")
    (tmp_path / "half-copied.zarr").mkdir()
    with pytest.raises(VolumeError, match="holds no zarr metadata"):
        read(tmp_path / "half-copied.zarr")


def test_paths_we_cannot_read_are_left_to_other_readers(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("hello")
    np.save(tmp_path / "a.npy", IMAGE)
    for path in ("notes.txt", "docs", "missing.tif"):
        assert get_reader(str(tmp_path / path)) is None, path
    assert get_reader([str(tmp_path / "a.npy"), str(tmp_path / "a.npy")]) is None
    assert get_reader([str(tmp_path / "a.npy")]) is not None
    with pytest.raises(ValueError, match="not a compatible reader"):  # not even claimed
        read(tmp_path / "notes.txt")


def test_project_folder_is_delegated_to_project_layers(tmp_path, monkeypatch):
    project = tmp_path / "sample.cathode"
    project.mkdir()
    (project / "project.json").write_text("{}")
    calls = []
    fake = types.ModuleType("napari_cathode._napari.project_layers")

    def project_layer_tuples(path):
        calls.append(path)
        return [(np.zeros((1, 2, 2)), {"name": "sample"}, "image")]

    fake.project_layer_tuples = project_layer_tuples
    monkeypatch.setitem(sys.modules, "napari_cathode._napari.project_layers", fake)
    layers = read(project)
    assert [str(p) for p in calls] == [str(project)]
    assert layers[0][1]["name"] == "sample"
