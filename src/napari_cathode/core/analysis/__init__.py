"""Microstructure analysis of a segmented cathode volume (no napari, no torch).

Modules, one job each: :mod:`.fractions` (volume fractions, blockwise), :mod:`.particles`
(watershed separation and per-particle geometry), :mod:`.fragmentation` (cracks inside
particles), :mod:`.size_distribution` (d10/d50/d90, dv50), :mod:`.pore_network` (interface areas,
blockwise; pore connectivity), :mod:`.measurements` (defect points and rulers as CSV),
:mod:`.plots` (the PSD figure), :mod:`.summary` (everything in one call) and :mod:`.report`
(``summary.json``, ``particles.csv``, ``psd.png``).
"""

from napari_cathode.core.analysis.summary import (
    AnalysisConfig,
    AnalysisResult,
    analyze_labels,
    particle_analysis,
)

__all__ = ["AnalysisConfig", "AnalysisResult", "analyze_labels", "particle_analysis"]
