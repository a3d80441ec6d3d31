"""napari_cathode.core"""

__all__ = [
    "analysis",
    "atomic",
    "classes",
    "errors",
    "io",
    "metrics",
    "model_document",
    "outputs",
    "parent_death",
    "project",
    "states",
    "strategies",
    "synthetic",
    "timeseries",
]
