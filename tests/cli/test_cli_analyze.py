"""``napari-cathode analyze``: the contract files on real data, phantoms, projects and errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tifffile

from napari_cathode.cli.main import main
from napari_cathode.core.classes import DEFAULT_CLASSES

RADII = (5, 7)


def sphere_labels() -> np.ndarray:
    """Class ids: binder everywhere, pore slab at z < 3, two active spheres of known radius."""
    labels = np.full((24, 28, 44), 3, np.uint8)
    labels[:3] = 1
    z, y, x = np.indices(labels.shape)
    for r, cx in zip(RADII, (10, 30)):
        labels[(z - 12) ** 2 + (y - 14) ** 2 + (x - cx) ** 2 <= r**2] = 2
    return labels


def test_analyze_real_slicegan_volume_writes_the_contract(shared_data, tmp_path, capsys):
    path = shared_data / "slicegan-nmc-3phase" / "NMC.tif"
    out = tmp_path / "results"
    rc = main(
        ["analyze", str(path), "--out", str(out), "--class-map", "0=pore,128=active,255=binder"]
    )
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    labels = tifffile.imread(path)
    values, counts = np.unique(labels, return_counts=True)
    direct = dict(zip(values.tolist(), (counts / labels.size).tolist()))
    assert summary["volume_fraction"] == {
        "pore": direct[0],
        "active material": direct[128],
        "carbon-binder": direct[255],
    }
    particles = pd.read_csv(out / "particles.csv")
    stats = summary["particles"]
    assert stats["count"] == len(particles) > 50
    assert stats["d50"] == pytest.approx(np.percentile(particles["equivalent_diameter"], 50))
    assert stats["d10"] < stats["d50"] < stats["d90"]
    assert stats["d50"] <= stats["dv50"]  # volume weighting favours big particles
    assert 0.0 <= stats["cracked_fraction"] <= 1.0
    assert 0.0 < summary["pore_connectivity"] <= 1.0
    assert set(summary["surface_area_per_volume"]) >= {
        "pore / active material",
        "active material / carbon-binder",
    }
    assert (out / "psd.png").read_bytes()[:4] == b"\x89PNG"
    assert "volume fraction pore" in capsys.readouterr().out


def test_phantom_sizes_in_physical_units_with_renamed_classes(tmp_path):
    path = tmp_path / "phantom.tif"
    tifffile.imwrite(path, sphere_labels())
    out = tmp_path / "out"
    rc = main(
        [
            "analyze",
            str(path),
            "--out",
            str(out),
            "--voxel-size",
            "2",
            "2",
            "2",
            "--unit",
            "nm",
            "--classes",
            "void,nmc,cbd",
            "--particle-class",
            "NMC",
            "--pore-class",
            "void",
            "--save-instances",
            "--roi",
            ":,:14,:",
        ]
    )
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["volume_fraction"]) == {"void", "nmc", "cbd"}
    assert summary["length_unit"] == "nm"
    diameters = sorted(pd.read_csv(out / "particles.csv")["equivalent_diameter"])
    assert np.allclose(diameters, [2 * 2 * r for r in RADII], atol=2.0)  # one 2-nm voxel
    assert summary["particles"]["count"] == len(RADII)
    assert summary["pore_connectivity"] == 0.0  # a slab at the top touches one z face only
    assert summary["region"]["box_zyx"] == [[None, None], [None, 14], [None, None]]
    instances = tifffile.imread(out / "particles.tif")
    assert instances.shape == sphere_labels().shape and instances.max() == len(RADII)


def test_project_input_uses_truth_over_proposal(tmp_path):
    from napari_cathode.core.project.store import Project

    labels = sphere_labels()
    image = labels.astype(np.float32)
    truth = np.zeros_like(labels)
    truth[:12] = labels[:12]  # the human labelled the top half
    project = Project.create(
        tmp_path / "s.cathode",
        image,
        truth=truth,
        classes=DEFAULT_CLASSES,
        voxel_size=(1, 1, 1),
        unit="px",
    )
    project.write_proposal((slice(12, None),), labels[12:])
    out = tmp_path / "out"
    assert main(["analyze", str(project.path), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["volume_fraction"] == {
        c.name: np.count_nonzero(labels == c.id) / labels.size for c in DEFAULT_CLASSES
    }


def test_user_errors_are_one_line_messages(tmp_path, capsys):
    path = tmp_path / "raw_values.tif"
    tifffile.imwrite(path, (sphere_labels() - 1).astype(np.uint8) * 127)
    assert main(["analyze", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "--class-map" in capsys.readouterr().err
    assert (
        main(
            [
                "analyze",
                str(path),
                "--out",
                str(tmp_path / "o"),
                "--class-map",
                "0=pore,127=electrolyte",
            ]
        )
        == 2
    )
    assert "electrolyte" in capsys.readouterr().err
    assert main(["analyze", str(tmp_path / "missing.tif"), "--out", str(tmp_path / "o")]) == 2
    with pytest.raises(SystemExit):
        main(["analyze", str(path), "--out", str(tmp_path / "o"), "--roi", "1:2"])


def test_help_shows_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    assert "--class-map 0=pore,128=active,255=binder" in capsys.readouterr().out
