"""Write kinetics tables: CSV always, Parquet too when ``pyarrow`` is installed.

pandas writes Parquet through ``pyarrow`` (or ``fastparquet``); neither is a dependency of
napari-cathode, so Parquet is written only when one of them is importable, and the log says
when it is skipped.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

import pandas as pd

from napari_cathode.core.atomic import atomic_write_bytes, atomic_write_json

__all__ = ["TABLES", "parquet_available", "write_kinetics", "write_table"]

log = logging.getLogger(__name__)

#: The tables :func:`write_kinetics` writes (``<name>.csv`` and maybe ``<name>.parquet``).
TABLES = ("trajectories", "particles", "frames")


def parquet_available() -> bool:
    """True when pandas can write Parquet (``pyarrow`` or ``fastparquet`` importable)."""
    return any(importlib.util.find_spec(m) is not None for m in ("pyarrow", "fastparquet"))


def write_table(table: pd.DataFrame, folder: Path, name: str, *, parquet: bool) -> list[Path]:
    """``folder/name.csv`` (atomic) and, when asked and possible, ``folder/name.parquet``."""
    written = [folder / f"{name}.csv"]
    atomic_write_bytes(written[0], table.to_csv(index=False).encode("utf-8"))
    if parquet:
        path = folder / f"{name}.parquet"
        table.to_parquet(path, index=False)
        written.append(path)
    return written


def write_kinetics(
    result, out: str | os.PathLike, *, summary: dict | None = None, parquet: bool | None = None
) -> list[Path]:
    """Write a :class:`~napari_cathode.core.timeseries.pipeline.KineticsResult` to ``out``.

    Files: ``trajectories``, ``particles``, ``frames`` as CSV (+ Parquet, see module doc) and
    ``summary.json``. Returns the paths written.
    """
    folder = Path(out).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    if parquet is None:
        parquet = parquet_available()
        if not parquet:
            log.info("pyarrow/fastparquet not installed: writing CSV only (no Parquet)")
    written: list[Path] = []
    for name in TABLES:
        written += write_table(getattr(result, name), folder, name, parquet=parquet)
    fits = result.particles
    info = {
        "particles": len(fits),
        "fits_ok": int(fits["ok"].sum()),
        "time_points": len(result.frames),
        "switch_threshold": result.threshold,
        "median_onset": float(fits.loc[fits["ok"], "onset"].median()),
        "median_rate": float(fits.loc[fits["ok"], "rate"].median()),
        "model": "mean grey value g(t) = base + amplitude / (1 + exp(-rate (t - onset)))",
        "registration": "translation, skimage phase_cross_correlation against the reference",
        **(summary or {}),
    }
    atomic_write_json(folder / "summary.json", info)
    written.append(folder / "summary.json")
    return written
