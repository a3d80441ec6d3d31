"""Bundled sample data, the napari sample-data contributions and the labels writer."""

from __future__ import annotations

import importlib.util
from importlib import resources
from pathlib import Path

import npe2
import numpy as np
import pytest
import tifffile
from ome_zarr.io import parse_url
from ome_zarr.reader import Label, Reader

from napari_cathode.core.classes import DEFAULT_CLASSES, SegmentationClass
from napari_cathode.core.io.sample_data import (
    ACQUISITION_A_UNIT,
    ACQUISITION_A_VOXEL_SIZE,
    load_acquisition_a,
)

REPO = Path(__file__).resolve().parents[2]
PLUGIN = "napari-cathode"
BUNDLE = resources.files("napari_cathode") / "data"


@pytest.fixture(scope="module", autouse=True)
def _discover_plugins():
    """npe2 finds the installed manifest the way napari does at start-up."""
    npe2.PluginManager.instance().discover()


def test_bundled_acquisition_a_equals_the_shared_real_data(acquisition_a):
    image, truth = load_acquisition_a()
    shared_image, shared_truth = acquisition_a
    assert image.dtype == np.float32 and truth.dtype == np.uint8
    np.testing.assert_array_equal(image, shared_image)  # lossless, bit for bit
    np.testing.assert_array_equal(truth, shared_truth)
    assert set(np.unique(truth).tolist()) == {1, 2, 3}
    assert ACQUISITION_A_VOXEL_SIZE == (1.0, 1.0, 1.0) and ACQUISITION_A_UNIT == "px"


def test_bundle_is_small_and_carries_licence_and_notice(shared_data):
    files = [f for f in BUNDLE.iterdir() if f.is_file()]
    assert sum(len(f.read_bytes()) for f in files) < 6_000_000
    upstream = shared_data / "segmentpy-nmc-nanoct" / "LICENSE.upstream"
    assert (BUNDLE / "LICENSE.segmentpy").read_bytes() == upstream.read_bytes()
    notice = (BUNDLE / "NOTICE").read_text(encoding="utf-8")
    assert "ZeliangSu/SegmentPy @ 93ff84add1d70fbffa73b2d5bb847a20e0e106ca" in notice
    assert "npj Computational Materials 8, 30 (2022)" in notice
    assert "Apache License 2.0" in notice


def test_script_regenerates_the_bundle_byte_for_byte(tmp_path, shared_data, monkeypatch):
    spec = importlib.util.spec_from_file_location(
        "make_sample_data", REPO / "scripts" / "make_sample_data.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setattr(script, "DATA", tmp_path)
    assert script.main(["--shared", str(shared_data)]) == 0
    for name in (
        "acquisition_a_image.tif",
        "acquisition_a_truth.tif",
        "NOTICE",
        "LICENSE.segmentpy",
    ):
        assert (tmp_path / name).read_bytes() == (BUNDLE / name).read_bytes(), name
    shared_truth = shared_data / "segmentpy-nmc-nanoct" / "stacks" / "A_labels.tif"
    np.testing.assert_array_equal(
        tifffile.imread(tmp_path / "acquisition_a_truth.tif"), tifffile.imread(shared_truth)
    )


def classes_of(layer) -> tuple[SegmentationClass, ...]:
    return tuple(SegmentationClass.from_json(c) for c in layer.metadata["classes"])


def assert_class_colours(layer):
    for c in DEFAULT_CLASSES:
        assert tuple(layer.colormap.map(c.id)) == pytest.approx(c.rgba)
    assert layer.colormap.map(0)[3] == 0  # unlabeled stays transparent


@pytest.mark.gui
def test_acquisition_a_sample_opens_with_names_scale_and_colours(make_napari_viewer, acquisition_a):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "acquisition_a")
    assert [layer.name for layer in viewer.layers] == [
        "acquisition A",
        "acquisition A reference labels",
    ]
    image, truth = viewer.layers
    assert type(image).__name__ == "Image" and type(truth).__name__ == "Labels"
    np.testing.assert_array_equal(image.data, acquisition_a[0])
    np.testing.assert_array_equal(truth.data, acquisition_a[1])
    assert tuple(image.scale) == tuple(truth.scale) == (1.0, 1.0, 1.0)
    assert classes_of(truth) == DEFAULT_CLASSES
    assert_class_colours(truth)


@pytest.mark.gui
def test_phantom_sample_then_writer_round_trip(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "phantom")
    assert [layer.name for layer in viewer.layers] == ["phantom", "phantom reference labels"]
    image, truth = viewer.layers
    assert tuple(image.scale) == tuple(truth.scale) == pytest.approx((0.02, 0.01, 0.01))
    assert [str(u) for u in truth.units] == ["micrometer"] * 3
    assert image.data.dtype == np.float32 and set(np.unique(truth.data).tolist()) == {1, 2, 3}
    assert_class_colours(truth)

    viewer.layers.selection = {truth}
    path = tmp_path / "phantom.ome.zarr"
    written = viewer.layers.save(str(path), selected=True, plugin=PLUGIN)
    assert written == [str(path)]

    nodes = [n for n in Reader(parse_url(str(path)))() if n.load(Label)]
    assert len(nodes) == 1
    np.testing.assert_array_equal(nodes[0].data[0].compute(), truth.data)
    assert nodes[0].metadata["properties"][2] == {"class_name": "active material"}

    layers = npe2.read([str(path)], plugin_name=PLUGIN, stack=False)
    ((data, kwargs, _),) = [layer for layer in layers if layer[2] == "labels"]
    np.testing.assert_array_equal(np.asarray(data), truth.data)
    assert kwargs["scale"] == pytest.approx((0.02, 0.01, 0.01))
    assert kwargs["units"] == ("µm",) * 3
    assert tuple(SegmentationClass.from_json(c) for c in kwargs["metadata"]["classes"]) == (
        DEFAULT_CLASSES
    )
    reopened = viewer.add_labels(data, **{k: v for k, v in kwargs.items() if k != "name"})
    assert_class_colours(reopened)


def test_writer_saves_a_2d_layer_with_its_own_classes(tmp_path):
    from napari_cathode._napari.writer import write_labels

    classes = (SegmentationClass(1, "crack", "#ff0000"), SegmentationClass(5, "NMC", "#00ff00"))
    labels = np.zeros((40, 50), np.uint8)
    labels[5:20, 10:30], labels[25:35, :] = 1, 5
    attributes = {
        "name": "slice labels",
        "scale": (0.5, 0.25),
        "units": ("pixel", "pixel"),
        "metadata": {"classes": [c.to_json() for c in classes]},
    }
    written = write_labels(str(tmp_path / "slice"), labels, attributes)
    assert written == [str(tmp_path / "slice.ome.zarr")]
    ((data, kwargs, _),) = [
        layer
        for layer in npe2.read(written, plugin_name=PLUGIN, stack=False)
        if layer[2] == "labels"
    ]
    np.testing.assert_array_equal(np.asarray(data), labels[None])
    assert kwargs["name"].endswith("slice_labels")
    assert kwargs["scale"] == pytest.approx((1.0, 0.5, 0.25)) and not kwargs.get("units")
    assert tuple(SegmentationClass.from_json(c) for c in kwargs["metadata"]["classes"]) == classes
