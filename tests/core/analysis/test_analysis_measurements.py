"""Defect points and rulers: physical XYZ, class under each point, lengths, CSV files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_cathode.core.analysis.measurements import (
    POINT_COLUMNS,
    points_to_table,
    rulers_to_table,
    write_csv,
)
from napari_cathode.core.classes import DEFAULT_CLASSES
from napari_cathode.core.errors import CathodeError


def test_points_get_physical_xyz_and_the_class_under_them(acquisition_a_crop):
    _, labels = acquisition_a_crop  # real labels, 0..3
    points = np.array([[0, 10.2, 20.7], [4, 127, 159], [2, 300, 5]])
    table = points_to_table(
        points, labels, voxel_size=(0.5, 0.1, 0.2), unit="µm", classes=DEFAULT_CLASSES
    )
    assert list(table.columns) == list(POINT_COLUMNS)
    assert table["x"].tolist() == pytest.approx([20.7 * 0.2, 159 * 0.2, 5 * 0.2])
    assert table["y"].tolist() == pytest.approx([10.2 * 0.1, 127 * 0.1, 300 * 0.1])
    assert table["z"].tolist() == pytest.approx([0.0, 2.0, 1.0])
    names = {0: "unlabeled", **{c.id: c.name for c in DEFAULT_CLASSES}}
    assert table["class"][0] == names[int(labels[0, 10, 21])]  # nearest voxel
    assert table["class"][1] == names[int(labels[4, 127, 159])]
    assert table["class"][2] == "outside" and table["class_id"][2] == -1
    assert (table["unit"] == "µm").all()


def test_points_on_file_values_use_the_class_map():
    labels = np.array([[[0, 128, 255]]], np.uint8)
    class_map = {0: 1, 128: 2, 255: 3}
    table = points_to_table(
        [[0, 0, 1], [0, 0, 2]], labels, classes=DEFAULT_CLASSES, class_map=class_map
    )
    assert table["class"].tolist() == ["active material", "carbon-binder"]
    assert table["unit"].tolist() == ["voxel", "voxel"]


def test_rulers_measure_physical_length_of_lines_and_polylines():
    lines = [
        np.array([[0, 0, 0], [0, 3, 4]]),
        np.array([[1, 0, 0], [2, 0, 0], [2, 0, 5]]),
    ]
    table = rulers_to_table(lines, voxel_size=(2.0, 1.0, 1.0))
    assert table["length"].tolist() == pytest.approx([5.0, 2.0 + 5.0])
    assert table[["x1", "y1", "z1"]].iloc[1].tolist() == [5.0, 0.0, 4.0]
    assert (table["unit"] == "voxel").all()
    with pytest.raises(CathodeError, match="two"):
        rulers_to_table([np.array([[0, 0, 0]])])


def test_csv_round_trip_and_errors(tmp_path):
    table = points_to_table(np.zeros((0, 3)), np.zeros((2, 2, 2), np.uint8))
    assert len(table) == 0
    rulers = rulers_to_table([[[0, 0, 0], [0, 0, 2]]], unit="nm")
    path = write_csv(rulers, tmp_path / "rulers.csv")
    back = pd.read_csv(path)
    assert back["length"].tolist() == [2.0] and back["unit"].tolist() == ["nm"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rulers.csv"]  # no temp file left
    (tmp_path / "taken").write_text("a file where a folder is needed")
    with pytest.raises(CathodeError, match="cannot write"):
        write_csv(rulers, tmp_path / "taken" / "rulers.csv")
    with pytest.raises(CathodeError, match=r"\(N, 3\)"):
        points_to_table(np.zeros((2, 2)), np.zeros((2, 2, 2), np.uint8))
