"""Synthetic data with exact answers: the 3D cathode phantom, the FIB-SEM-like imaging
model, planted cracks and the simulated reviewer's brush strokes.
"""

__all__ = ["crack_planting", "imaging_model", "phantom", "scribbles"]
