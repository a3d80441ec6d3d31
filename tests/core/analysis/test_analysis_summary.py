"""The whole analysis on a three-phase phantom, and the files it writes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from napari_cathode.core.analysis import AnalysisConfig, analyze_labels
from napari_cathode.core.analysis.report import write_analysis
from napari_cathode.core.classes import DEFAULT_CLASSES
from napari_cathode.core.errors import CathodeError

RADII = (4, 5, 6, 7)


def three_phase_phantom() -> np.ndarray:
    """Binder everywhere, four separate spheres of active material, a pore channel along z."""
    labels = np.full((24, 40, 48), 3, np.uint8)
    z, y, x = np.indices(labels.shape)
    for i, r in enumerate(RADII):
        cy, cx = 11 + 18 * (i // 2), 11 + 22 * (i % 2)
        labels[(z - 12) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= r**2] = 2
    labels[:, 18:22, 44:47] = 1
    labels[0, 0, 0] = 0  # one unlabeled voxel
    return labels


def test_analysis_of_a_phantom_gives_known_answers(tmp_path):
    labels = three_phase_phantom()
    result = analyze_labels(
        labels, voxel_size=(0.1, 0.1, 0.1), unit="µm", config=AnalysisConfig(min_particle_voxels=10)
    )
    summary = result.to_summary()
    labelled = labels.size - 1
    assert summary["volume_fraction"] == {
        c.name: np.count_nonzero(labels == c.id) / labelled for c in DEFAULT_CLASSES
    }
    particles = summary["particles"]
    assert particles["count"] == len(RADII)
    expected = sorted(0.2 * r for r in RADII)  # diameters in µm
    diameters = sorted(result.particles.table["equivalent_diameter"])
    assert np.allclose(diameters, expected, atol=0.1)  # within one voxel (0.1 µm)
    assert particles["d50"] == pytest.approx(np.percentile(diameters, 50))
    assert particles["cracked_fraction"] == 0.0
    assert summary["pore_connectivity"] == 1.0
    assert summary["surface_area_per_volume"]["pore / active material"] == 0.0
    assert summary["surface_area_per_volume"]["active material / carbon-binder"] > 0
    assert summary["length_unit"] == "µm"

    written = write_analysis(result, tmp_path / "out", save_instances=True)
    on_disk = json.loads(written["summary"].read_text())
    assert on_disk["particles"]["count"] == len(RADII)
    csv = pd.read_csv(written["particles"])
    assert len(csv) == len(RADII) and "equivalent_diameter" in csv.columns
    assert written["psd"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert written["instances"].exists()


def test_region_fractions_and_options():
    labels = three_phase_phantom()
    region = (slice(None), slice(16, 24), slice(42, 48))
    result = analyze_labels(labels, region=region, config=AnalysisConfig(pore_class="void"))
    assert result.connectivity is None  # no class named like "void"
    box = labels[region]
    assert result.region_fractions.fractions["pore"] == np.count_nonzero(box == 1) / box.size
    assert result.to_summary()["region"]["box_zyx"] == [[None, None], [16, 24], [42, 48]]


def test_config_round_trip_and_validation():
    config = AnalysisConfig(h_max=3.0, connectivity_axis=2)
    assert AnalysisConfig.from_json(config.to_json()) == config
    with pytest.raises(CathodeError):
        AnalysisConfig(connectivity_axis=5)
    with pytest.raises(CathodeError, match="unknown"):
        AnalysisConfig.from_json({"hmax": 2})
    with pytest.raises(CathodeError, match="3D"):
        analyze_labels(np.zeros((4, 4), np.uint8))


def test_single_section_skips_what_needs_depth(caplog):
    labels = three_phase_phantom()[12:13]
    result = analyze_labels(labels, config=AnalysisConfig(min_particle_voxels=5))
    assert result.surface is None and result.connectivity is None
    assert result.distribution.count == len(RADII)
    assert "single section" in caplog.text
    across = analyze_labels(labels, config=AnalysisConfig(connectivity_axis=1))
    assert across.connectivity is not None


def test_border_particles_can_be_left_out_of_the_size_distribution():
    labels = three_phase_phantom()
    z, y, x = np.indices(labels.shape)
    labels[(z - 0) ** 2 + (y - 30) ** 2 + (x - 20) ** 2 <= 16] = 2  # cut by the top face
    kept = analyze_labels(labels, config=AnalysisConfig(min_particle_voxels=10))
    left_out = analyze_labels(
        labels, config=AnalysisConfig(min_particle_voxels=10, exclude_border_particles=True)
    )
    assert kept.distribution.count == len(RADII) + 1
    assert left_out.distribution.count == len(RADII)
    assert left_out.to_summary()["particles"]["measured"] == len(RADII) + 1
    assert left_out.to_summary()["particles"]["touching_border"] == 1
