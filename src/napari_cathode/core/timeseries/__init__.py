"""Time-resolved volumes: open (t, z, y, x) series, register, carry particles, fit kinetics.

Modules
-------
series
    Lazy (t, z, y, x) readers: OME-Zarr with a ``t`` axis, HDF5/zarr/NPY/TIFF arrays with a time
    axis, lists and folders of volume files (natural sort order).
registration
    Translation drift of each time point against the reference (phase correlation).
tracking
    Reference particle instances carried to each time point; overlap matching of per-time-point
    segmentations with split / appear / disappear flags.
kinetics
    Per-particle grey-value statistics per time point, computed block by block.
fitting
    The logistic model of each particle's trajectory (onset time and rate).
operando
    Semi-synthetic operando series with exact answers, rendered from real label geometry.
"""

__all__ = [
    "export",
    "fitting",
    "kinetics",
    "operando",
    "pipeline",
    "project_series",
    "registration",
    "series",
    "tracking",
]
