"""Export: OME-Zarr (0.4 and 0.5) read back by ome-zarr's reader and the plugin's, and TIFF."""

from __future__ import annotations

import itertools
import re

import dask.array as da
import npe2
import numpy as np
import pytest
import tifffile
import zarr
from ome_zarr.io import parse_url
from ome_zarr.reader import Label, Multiscales, Reader

from napari_cathode.core.classes import DEFAULT_CLASSES, SegmentationClass
from napari_cathode.core.errors import CathodeError, VolumeError
from napari_cathode.core.io.export import export_ome_zarr, merge_labels, ome_unit
from napari_cathode.core.io.export_tiff import export_tiff
from napari_cathode.core.io.volumes import open_volume
from napari_cathode.core.synthetic.phantom import make_phantom

PLUGIN = "napari-cathode"


@pytest.fixture(scope="module")
def phantom():
    return make_phantom((12, 128, 128), seed=5)


@pytest.fixture(scope="module", autouse=True)
def _discover_plugins():
    npe2.PluginManager.instance().discover()


def ome_zarr_nodes(path):
    """(image node, label node) as ``ome_zarr.reader.Reader`` sees the export."""
    nodes = list(Reader(parse_url(str(path)))())
    images = [n for n in nodes if n.load(Multiscales) and not n.load(Label)]
    labels = [n for n in nodes if n.load(Label)]
    assert len(images) == 1 and len(labels) == 1
    return images[0], labels[0]


def plugin_layers(path):
    layers = npe2.read([str(path)], plugin_name=PLUGIN, stack=False)
    images = [layer for layer in layers if layer[2] == "image"]
    labels = [layer for layer in layers if layer[2] == "labels"]
    assert len(images) == 1 and len(labels) == 1
    return images[0], labels[0]


def assert_nearest_pyramid(levels):
    """Each coarser label voxel is one of the labels in its 2 x 2 footprint: never interpolated."""
    for fine, coarse in itertools.pairwise(levels):
        fine, coarse = np.asarray(fine), np.asarray(coarse)
        assert coarse.shape == (fine.shape[0], fine.shape[1] // 2, fine.shape[2] // 2)
        height, width = coarse.shape[1] * 2, coarse.shape[2] * 2
        blocks = fine[:, :height, :width].reshape(fine.shape[0], height // 2, 2, width // 2, 2)
        assert np.all((blocks == coarse[:, :, None, :, None]).any(axis=(2, 4)))


@pytest.mark.parametrize("version", ["0.5", "0.4"])
def test_phantom_export_reads_back_identically_in_both_readers(tmp_path, phantom, version):
    path = tmp_path / "phantom.ome.zarr"
    calls = []
    written = export_ome_zarr(
        path,
        phantom.image,
        phantom.truth,
        classes=DEFAULT_CLASSES,
        voxel_size=phantom.voxel_size,
        unit=phantom.unit,
        version=version,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert written == path
    assert calls[-1][0] == calls[-1][1] == len(calls)
    assert not list(tmp_path.glob(".*partial*"))
    root = zarr.open_group(str(path), mode="r")
    assert root.metadata.zarr_format == (3 if version == "0.5" else 2)

    image_node, label_node = ome_zarr_nodes(path)
    np.testing.assert_array_equal(image_node.data[0].compute(), phantom.image)
    np.testing.assert_array_equal(label_node.data[0].compute(), phantom.truth)
    assert len(label_node.data) == 3  # multiscale: 128 -> 64 -> 32 in y and x, z kept
    assert_nearest_pyramid(label_node.data)
    assert label_node.metadata["properties"] == {
        c.id: {"class_name": c.name} for c in DEFAULT_CLASSES
    }
    assert label_node.metadata["color"] == {c.id: list(c.rgba) for c in DEFAULT_CLASSES}
    axes = label_node.metadata["axes"]
    assert [a["unit"] for a in axes] == ["micrometer"] * 3
    for node in (image_node, label_node):
        scale = node.metadata["coordinateTransformations"][0][0]
        assert scale["type"] == "scale" and scale["scale"] == pytest.approx(phantom.voxel_size)

    (image, image_kwargs, _), (labels, label_kwargs, _) = plugin_layers(path)
    np.testing.assert_array_equal(np.asarray(image), phantom.image)
    np.testing.assert_array_equal(np.asarray(labels), phantom.truth)
    assert image_kwargs["scale"] == label_kwargs["scale"] == pytest.approx(phantom.voxel_size)
    assert label_kwargs["units"] == ("µm",) * 3
    classes = tuple(SegmentationClass.from_json(c) for c in label_kwargs["metadata"]["classes"])
    assert classes == DEFAULT_CLASSES


def test_acquisition_a_export_merges_truth_over_proposal(tmp_path, acquisition_a):
    image, truth = acquisition_a
    partial_truth = truth.copy()
    partial_truth[1:4, :, 300:] = 0  # the human has not reviewed this part yet
    proposal = np.roll(truth, 5, axis=2)  # a model that is slightly off
    merged = merge_labels(partial_truth, proposal)
    assert isinstance(merged, da.Array)
    expected = np.where(partial_truth > 0, partial_truth, proposal)
    classes = (
        SegmentationClass(1, "pore", "#000080"),
        SegmentationClass(2, "NMC", "#ffa500"),
        SegmentationClass(3, "CBD", "#00ff00"),
    )
    path = export_ome_zarr(
        tmp_path / "a.ome.zarr",
        image,
        merged,
        classes=classes,
        unit="px",
        name="truth",
        version="0.4",
    )

    image_node, label_node = ome_zarr_nodes(path)
    np.testing.assert_array_equal(image_node.data[0].compute(), image)
    np.testing.assert_array_equal(label_node.data[0].compute(), expected)
    assert label_node.metadata["name"] == "truth"
    assert all("unit" not in axis for axis in label_node.metadata["axes"])
    assert label_node.metadata["color"][1] == [0.0, 0.0, 128 / 255, 1.0]

    (plugin_image, _, _), (labels, kwargs, _) = plugin_layers(path)
    np.testing.assert_array_equal(np.asarray(plugin_image), image)
    np.testing.assert_array_equal(np.asarray(labels), expected)
    assert kwargs["scale"] == pytest.approx((1.0, 1.0, 1.0)) and not kwargs.get("units")
    assert tuple(SegmentationClass.from_json(c) for c in kwargs["metadata"]["classes"]) == classes


def test_merge_labels_refuses_volumes_of_different_shapes():
    with pytest.raises(VolumeError, match="differ in shape"):
        merge_labels(np.zeros((2, 4, 4), np.uint8), np.zeros((2, 4, 5), np.uint8))
    truth = np.array([[[0, 3, 0]]], np.uint8)
    np.testing.assert_array_equal(merge_labels(truth).compute(), truth)


def test_existing_target_needs_overwrite_and_failed_export_leaves_nothing(tmp_path, phantom):
    path = tmp_path / "out.ome.zarr"
    small_image, small_truth = phantom.image[:2, :40, :40], phantom.truth[:2, :40, :40]
    export_ome_zarr(path, small_image, small_truth)
    with pytest.raises(CathodeError, match="exists"):
        export_ome_zarr(path, small_image, small_truth)
    export_ome_zarr(path, small_image, np.full_like(small_truth, 2), overwrite=True)
    assert np.all(np.asarray(zarr.open_group(str(path), mode="r")["labels/segmentation/s0"]) == 2)

    def interrupted(done, total):
        raise KeyboardInterrupt

    failed = tmp_path / "failed.ome.zarr"
    with pytest.raises(KeyboardInterrupt):
        export_ome_zarr(failed, small_image, small_truth, progress=interrupted)
    assert not failed.exists() and not list(tmp_path.glob(".*partial*"))

    folder = tmp_path / "my documents"
    folder.mkdir()
    (folder / "thesis.txt").write_text("years of work")
    with pytest.raises(CathodeError, match="napari-cathode did not write"):
        export_ome_zarr(folder, small_image, small_truth, overwrite=True)
    assert (folder / "thesis.txt").read_text() == "years of work"


def test_bad_inputs_name_the_problem(tmp_path):
    image = np.zeros((2, 8, 8), np.float32)
    with pytest.raises(VolumeError, match="differ in shape"):
        export_ome_zarr(tmp_path / "x.zarr", image, np.zeros((2, 8, 9), np.uint8))
    with pytest.raises(VolumeError, match="integers"):
        export_ome_zarr(tmp_path / "x.zarr", image, image)
    with pytest.raises(VolumeError, match=re.escape("'0.3'")):
        export_ome_zarr(tmp_path / "x.zarr", image, image.astype(np.uint8), version="0.3")
    with pytest.raises(VolumeError, match="furlong"):
        export_ome_zarr(tmp_path / "x.zarr", image, image.astype(np.uint8), unit="furlong")
    assert not (tmp_path / "x.zarr").exists()


@pytest.mark.parametrize(
    ("unit", "expected"),
    [("µm", "micrometer"), ("um", "micrometer"), ("nm", "nanometer"), ("px", None), (None, None)],
)
def test_units_map_to_ome_names(unit, expected):
    assert ome_unit(unit) == expected


def test_labels_only_export_is_still_a_valid_image(tmp_path, phantom):
    path = export_ome_zarr(tmp_path / "labels.ome.zarr", None, phantom.truth[:4])
    image_node, label_node = ome_zarr_nodes(path)
    np.testing.assert_array_equal(image_node.data[0].compute(), phantom.truth[:4])
    np.testing.assert_array_equal(label_node.data[0].compute(), phantom.truth[:4])


def test_tiff_export_is_imagej_with_spacing(tmp_path, phantom):
    labels = da.from_array(phantom.truth, chunks=(4, 64, 64))
    path = export_tiff(tmp_path / "truth.tif", labels, voxel_size=(0.02, 0.01, 0.01), unit="µm")
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej
        assert tif.imagej_metadata["spacing"] == pytest.approx(0.02)
        assert tif.imagej_metadata["unit"] == "micron"
        np.testing.assert_array_equal(tif.asarray(), phantom.truth)
    volume = open_volume(path)
    assert volume.voxel_size == pytest.approx((0.02, 0.01, 0.01)) and volume.unit == "µm"

    wide = export_tiff(tmp_path / "wide.tif", phantom.truth.astype(np.int32) * 300)
    assert tifffile.imread(wide).dtype == np.uint16
    with pytest.raises(VolumeError, match=re.escape("0..65535")):
        export_tiff(tmp_path / "bad.tif", np.full((1, 2, 2), 70000, np.int32))


@pytest.mark.parametrize("voxel_size", [(0.0, 1.0, 1.0), (1.0, -0.5, 1.0), (1.0, 1.0), ("a", 1, 1)])
def test_tiff_export_refuses_a_voxel_size_that_is_not_three_positive_numbers(tmp_path, voxel_size):
    with pytest.raises(VolumeError, match=r"voxel_size .* three positive numbers"):
        export_tiff(tmp_path / "x.tif", np.ones((1, 2, 2), np.uint8), voxel_size=voxel_size)
    assert not list(tmp_path.iterdir())


def test_tiff_export_to_an_unwritable_place_names_the_path(tmp_path, monkeypatch):
    labels = np.ones((1, 2, 2), np.uint8)
    missing = tmp_path / "missing" / "x.tif"
    with pytest.raises(CathodeError, match=re.escape(f"folder {missing.parent} does not exist")):
        export_tiff(missing, labels)
    folder = tmp_path / "a folder"  # refused before writing: it exists and is not ours
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(CathodeError, match=re.escape(f"{folder} exists and is a folder")):
        export_tiff(folder, labels, overwrite=True)
    assert (folder / "notes.txt").is_file() and not list(tmp_path.glob(".*partial*"))

    def no_write(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tifffile.imwrite", no_write)  # a read-only folder, even for root
    with pytest.raises(CathodeError, match=re.escape("cannot write")) as error:
        export_tiff(tmp_path / "x.tif", labels)
    assert isinstance(error.value.__cause__, OSError)
    assert "choose another path" in str(error.value)
