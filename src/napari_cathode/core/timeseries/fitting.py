"""The per-particle kinetic model: a logistic step in time, fitted by least squares.

Model (grey value ``g`` of one particle at time ``t``)::

    g(t) = base + amplitude / (1 + exp(-rate * (t - onset)))

- ``onset``: the time of half conversion (the logistic midpoint), in the unit of ``t``
  (time-point indices unless times are given);
- ``rate`` > 0: the logistic rate constant per unit of ``t``; the 10 %–90 % conversion takes
  ``ln(81) / rate`` ≈ ``4.39 / rate``, and the steepest slope is ``amplitude * rate / 4``;
- ``start`` = ``onset - ln(9) / rate``: the time of 10 % conversion, the "first sign" of reaction;
- ``amplitude`` is signed: negative when the particle darkens as it reacts.

The fit is :func:`scipy.optimize.curve_fit` (trust-region reflective, analytic Jacobian,
bounded parameters), started at the time the trajectory crosses halfway; when that fit is not
ok, five more onset guesses across the series are tried and the best fit is kept. A fit is
``ok`` when it converged, its onset lies within the measured times with at least
``MIN_SIDE_POINTS`` (3) time points on each side, its 10–90 % width fits inside the series, and
the amplitude is at least three times the residual scatter; otherwise ``reason`` says why (e.g.
a particle that never reacts: noise alone can fit a small step at the ends of a series, which
the side rule rejects).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

__all__ = ["MIN_SIDE_POINTS", "LogisticFit", "fit_logistic", "logistic"]

#: Time points needed on each side of the half conversion for a fit to count as ok.
MIN_SIDE_POINTS = 3
#: ln(9): the logistic goes from 10 % to 50 % in ln(9)/rate.
_LN9 = math.log(9.0)


def logistic(t, base: float, amplitude: float, onset: float, rate: float):
    """The model ``base + amplitude / (1 + exp(-rate (t - onset)))``."""
    z = np.clip(-rate * (np.asarray(t, dtype=float) - onset), -60.0, 60.0)
    return base + amplitude / (1.0 + np.exp(z))


def _jacobian(t, base: float, amplitude: float, onset: float, rate: float) -> np.ndarray:
    """Partial derivatives of :func:`logistic` by (base, amplitude, onset, rate)."""
    t = np.asarray(t, dtype=float)
    s = 1.0 / (1.0 + np.exp(np.clip(-rate * (t - onset), -60.0, 60.0)))
    slope = amplitude * s * (1.0 - s)
    return np.stack([np.ones_like(t), s, -rate * slope, (t - onset) * slope], axis=1)


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
    # A step larger than a few times the data's range is not a transition in this series;
    # bounding it keeps the optimiser from wandering (and fast) on trajectories without one.
    reach = 4.0 * max(float(np.ptp(y)), 1e-12)
    amplitude0 = tail - head if tail != head else float(np.ptp(y)) or 1.0
    amplitude0 = float(np.clip(amplitude0, -0.99 * reach, 0.99 * reach))
    bounds = (
        [float(y.min()) - reach, -reach, t[0] - span, 1e-3 / step],
        [float(y.max()) + reach, reach, t[-1] + span, max_rate],
    )
    # First guess from the data (where it crosses halfway); the other onset guesses across the
    # series are only tried when that fit is not ok (non-monotonic or unusual trajectories).
    halfway = np.flatnonzero(np.diff(np.sign(y - 0.5 * (head + tail))) != 0)
    crossing = float(t[halfway[0]]) if halfway.size else float(np.median(t))
    guesses = [crossing, *np.linspace(t[0] + 0.1 * span, t[-1] - 0.1 * span, 5)]
    best, best_cost = None, np.inf
    for index, onset0 in enumerate(guesses):
        guess = (head, amplitude0, onset0, min(1.0 / step, max_rate))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)
                params, _ = curve_fit(
                    logistic, t, y, p0=guess, bounds=bounds, jac=_jacobian, max_nfev=200
                )
        except (RuntimeError, ValueError):
            continue
        cost = float(np.sum((logistic(t, *params) - y) ** 2))
        if cost < best_cost:
            best, best_cost = params, cost
        if index == 0 and not _judge(t, params, math.sqrt(cost / t.size), span):
            break
    if best is None:
        return _failed("least squares did not converge")
    base, amplitude, onset, rate = (float(v) for v in best)
    rmse = math.sqrt(best_cost / t.size)
    reason = _judge(t, best, rmse, span)
    return LogisticFit(
        base, amplitude, onset, rate, onset - _LN9 / rate, rmse, reason == "", reason
    )


def _judge(t: np.ndarray, params, rmse: float, span: float) -> str:
    """Why a fit is not ok ("" when it is): see the module docstring."""
    _, amplitude, onset, rate = (float(v) for v in params)
    before = int(np.sum(t < onset))
    if not t[0] <= onset <= t[-1]:
        return "half conversion lies outside the measured times"
    if min(before, t.size - before) < MIN_SIDE_POINTS:
        return f"fewer than {MIN_SIDE_POINTS} time points on one side of the half conversion"
    if math.log(81.0) / rate > span:
        return "transition wider than the series (10-90 % takes longer than it lasts)"
    if abs(amplitude) < 3 * rmse:
        return "no clear transition (amplitude below 3x the residual scatter)"
    return ""
