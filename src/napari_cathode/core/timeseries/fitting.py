"""The per-particle kinetic model: a logistic step in time, fitted by least squares.

Model (grey value ``g`` of one particle at time ``t``)::

    g(t) = base + amplitude / (1 + exp(-rate * (t - onset)))

- ``onset``: the time of half conversion (the logistic midpoint), in the unit of ``t``
  (time-point indices unless times are given);
- ``rate`` > 0: the logistic rate constant per unit of ``t``; the 10 %–90 % conversion takes
  ``ln(81) / rate`` ≈ ``4.39 / rate``, and the steepest slope is ``amplitude * rate / 4``;
- ``start`` = ``onset - ln(9) / rate``: the time of 10 % conversion, the "first sign" of reaction;
- ``amplitude`` is signed: negative when the particle darkens as it reacts.

The fit is :func:`scipy.optimize.curve_fit` (trust-region reflective, bounded rate), started
from a few onset guesses across the series; the best one is kept. A fit is ``ok`` when it
converged, its onset lies within the measured times with at least ``MIN_SIDE_POINTS`` (3) time
points on each side, and the amplitude is at least three times the residual scatter; otherwise
``reason`` says why (e.g. a particle that never reacts: noise alone can fit a small step at the
ends of a series, which the side rule rejects).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

#: Time points needed on each side of the half conversion for a fit to count as ok.
MIN_SIDE_POINTS = 3
#: ln(9): the logistic goes from 10 % to 50 % in ln(9)/rate.
_LN9 = math.log(9.0)


def logistic(t, base: float, amplitude: float, onset: float, rate: float):
    """The model ``base + amplitude / (1 + exp(-rate (t - onset)))``."""
    z = np.clip(-rate * (np.asarray(t, dtype=float) - onset), -60.0, 60.0)
    return base + amplitude / (1.0 + np.exp(z))


@dataclass(frozen=True)
class LogisticFit:
    """Fitted parameters of one particle's trajectory (NaN where the fit failed)."""

    base: float
    amplitude: float
    onset: float
    rate: float
    start: float
    rmse: float
    ok: bool
    reason: str = ""

    def to_dict(self) -> dict:
        """Plain dict (for a table row)."""
        return asdict(self)


def _failed(reason: str) -> LogisticFit:
    nan = float("nan")
    return LogisticFit(nan, nan, nan, nan, nan, nan, False, reason)


def fit_logistic(times, values, *, max_rate: float | None = None) -> LogisticFit:
    """Fit :func:`logistic` to one trajectory.

    Parameters
    ----------
    times : array-like
        Time of each value (at least 5 finite points).
    values : array-like
        Mean grey value (or state of charge) at each time; NaN points are ignored.
    max_rate : float, optional
        Upper bound of ``rate`` (default: 20 per median time step, i.e. a step within one frame).

    Returns
    -------
    LogisticFit
    """
    t = np.asarray(times, dtype=float)
    y = np.asarray(values, dtype=float)
    keep = np.isfinite(t) & np.isfinite(y)
    t, y = t[keep], y[keep]
    if t.size < 5:
        return _failed(f"only {t.size} finite time points (need 5)")
    order = np.argsort(t)
    t, y = t[order], y[order]
    step = float(np.median(np.diff(t))) if t.size > 1 else 1.0
    if step <= 0:
        return _failed("times are not increasing")
    max_rate = max_rate if max_rate is not None else 20.0 / step
    span = float(t[-1] - t[0])
    head, tail = float(np.median(y[:3])), float(np.median(y[-3:]))
    amplitude0 = tail - head if tail != head else float(np.ptp(y)) or 1.0
    bounds = (
        [-np.inf, -np.inf, t[0] - span, 1e-3 / step],
        [np.inf, np.inf, t[-1] + span, max_rate],
    )
    best, best_cost = None, np.inf
    for onset0 in np.linspace(t[0] + 0.1 * span, t[-1] - 0.1 * span, 5):
        guess = (head, amplitude0, onset0, min(1.0 / step, max_rate))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)
                params, _ = curve_fit(logistic, t, y, p0=guess, bounds=bounds, maxfev=4000)
        except (RuntimeError, ValueError):
            continue
        cost = float(np.sum((logistic(t, *params) - y) ** 2))
        if cost < best_cost:
            best, best_cost = params, cost
    if best is None:
        return _failed("least squares did not converge")
    base, amplitude, onset, rate = (float(v) for v in best)
    rmse = math.sqrt(best_cost / t.size)
    reason = ""
    before = int(np.sum(t < onset))
    if not t[0] <= onset <= t[-1]:
        reason = "half conversion lies outside the measured times"
    elif min(before, t.size - before) < MIN_SIDE_POINTS:
        reason = f"fewer than {MIN_SIDE_POINTS} time points on one side of the half conversion"
    elif abs(amplitude) < 3 * rmse:
        reason = "no clear transition (amplitude below 3x the residual scatter)"
    return LogisticFit(
        base, amplitude, onset, rate, onset - _LN9 / rate, rmse, reason == "", reason
    )
