"""The scribbling reviewer: strokes only where the proposal is wrong, with the true class."""

from __future__ import annotations

import json

import numpy as np
import tifffile
import torch
from scipy import ndimage as ndi

from napari_cathode.cli.main import main as cli
from napari_cathode.core.synthetic.scribbles import paint_scribbles
from napari_cathode.jobs.prediction_job import predict_array
from napari_cathode.jobs.simulate_scribbles import ScribbleConfig, simulate_scribbles
from napari_cathode.ml.config import ModelConfig

torch.set_num_threads(2)
TINY = ModelConfig(
    channels=(8, 16, 32),
    patch_size=(64, 64),
    batch_size=2,
    steps=3,
    validate_every=3,
    device="cpu",
    seed=1,
)


def test_strokes_paint_only_wrong_labelled_voxels_with_the_true_class(acquisition_a_crop):
    _, labels = acquisition_a_crop
    truth = labels.copy()
    truth[:, :20] = 0  # voxels nobody labelled: never painted, even where the proposal differs
    proposal = labels.copy()
    proposal[1, 30:90, 40:120] = 1  # one big wrong block (pore proposed over everything)
    proposal[3, 50:60, 50:60] = 2
    proposal[:, :20] = 3
    annotation = np.zeros_like(truth)
    strokes = paint_scribbles(truth, proposal, annotation, strokes=4, radius=4, length=30)

    painted = annotation > 0
    assert 0 < len(strokes) <= 4 and painted.sum() == sum(s.voxels for s in strokes)
    assert not (painted & ((proposal == truth) | (truth == 0))).any()
    assert (annotation[painted] == truth[painted]).all()
    # the largest wrong region (inside slice 1's wrong block) gets the first stroke
    first = strokes[0]
    assert first.z == 1 and first.label != 1
    assert all(30 <= y < 90 and 40 <= x < 120 for y, x in (first.start, first.end))
    # a stroke is a short brush path: at most a (length + 2 radius) x (2 radius + 1) footprint
    assert all(0 < s.voxels <= (30 + 9) * 9 for s in strokes)
    for s in strokes:  # each stroke is one connected piece inside one wrong region
        assert ndi.label(annotation[s.z] == s.label)[1] >= 1

    # the next round never paints a voxel twice
    again = paint_scribbles(truth, proposal, annotation, strokes=4)
    assert sum(s.voxels for s in again) == np.count_nonzero(annotation) - painted.sum()


def test_simulated_scribble_rounds_paint_where_the_previous_model_was_wrong(
    acquisition_a_crop, tmp_path
):
    image, labels = acquisition_a_crop
    seen: list[np.ndarray] = []
    document = simulate_scribbles(
        image,
        labels,
        out_dir=tmp_path / "sim",
        config=ScribbleConfig(strokes=3, rounds=2),
        model_config=TINY,
        on_annotation=lambda _round, annotation: seen.append(annotation),
    )
    first, second = document["rounds"]
    assert (first["total_strokes"], second["total_strokes"]) == (3, 6)
    assert second["total_painted_voxels"] == np.count_nonzero(seen[1])
    assert first["painted_voxels"] + second["painted_voxels"] == np.count_nonzero(seen[1])
    assert 0 <= second["mean_dice"] <= 1
    # round 1's new strokes lie where round 0's model proposed the wrong class
    proposal, _ = predict_array(str(tmp_path / "sim" / "rounds" / "0000"), image, device="cpu")
    new = (seen[1] > 0) & (seen[0] == 0)
    assert new.any() and (proposal[new] != labels[new]).all()
    assert (seen[1][new] == labels[new]).all()


def test_cli_simulate_scribbles_reports_strokes(acquisition_a_crop, tmp_path, capsys):
    image, labels = acquisition_a_crop
    tifffile.imwrite(tmp_path / "a.tif", image)
    tifffile.imwrite(tmp_path / "a_labels.tif", labels)
    argv = ["simulate", "--image", str(tmp_path / "a.tif"), "--labels"]
    argv += [str(tmp_path / "a_labels.tif"), "--out", str(tmp_path / "out"), "--device", "cpu"]
    argv += ["--reviewer", "scribbles", "--strokes", "2", "--rounds", "1", "--steps", "2"]
    assert cli(argv) == 0
    assert "2 strokes" in capsys.readouterr().err
    (row,) = json.loads((tmp_path / "out" / "rounds.json").read_text())["rounds"]
    assert row["strokes"] == 2 and row["painted_voxels"] > 0
