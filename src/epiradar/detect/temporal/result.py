"""The common result of every temporal detector."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class DetectionResult:
    """Per-series, per-monitored-day output of a detector.

    Every array is ``[n_series, n_monitor]``; column ``k`` is time index ``monitor[k]``
    (0-based) of the input. Undefined entries (missing counts in the window) are NaN in the
    float arrays and False in ``alarm``.

    - ``expected``: the baseline mean of the day.
    - ``upperbound``: the count above which the day alarms.
    - ``score``: the detector's statistic (for EARS the C1/C2/C3 value).
    - ``pvalue``: the one-sided p-value of ``score`` (see each detector for its calibration).
    - ``alarm``: whether the day alarms.
    """

    expected: npt.NDArray[np.float64]
    upperbound: npt.NDArray[np.float64]
    pvalue: npt.NDArray[np.float64]
    score: npt.NDArray[np.float64]
    alarm: npt.NDArray[np.bool_]
    monitor: npt.NDArray[np.intp]

    @property
    def n_series(self) -> int:
        return int(self.alarm.shape[0])


def series_matrix(counts: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``counts`` as a float ``[n_series, n_time]`` array (a 1-D input is one series)."""
    y = np.asarray(counts, dtype=float)
    if y.ndim == 1:
        y = y[np.newaxis, :]
    if y.ndim != 2:
        raise ValueError("counts must be [n_series, n_time]")
    return y


def per_series_and_day(
    value: float | npt.ArrayLike, n_series: int, n_days: int, name: str
) -> npt.NDArray[np.float64]:
    """A number, one value per series or one per series and judged day, as
    ``[n_series, n_days]`` (``name`` is the parameter, for the error message)."""
    shape = (n_series, n_days)
    given = np.asarray(value, dtype=float)
    if given.ndim == 0:
        return np.full(shape, float(given))
    if given.ndim == 1:
        if given.shape[0] != n_series:
            raise ValueError(f"a 1-D {name} needs one value per series ({n_series})")
        return np.broadcast_to(given[:, np.newaxis], shape).copy()
    if given.ndim == 2:
        try:
            return np.broadcast_to(given, shape).copy()
        except ValueError:
            raise ValueError(
                f"a 2-D {name} must broadcast to [n_series, n_monitor] = {shape}"
            ) from None
    raise ValueError(f"{name} must be a number, [n_series] or [n_series, n_monitor]")


def monitor_days(
    monitor: npt.ArrayLike | None, n_time: int, first: int, why: str = ""
) -> npt.NDArray[np.intp]:
    """The judged time indices: ``monitor`` sorted and deduplicated, or every index from
    ``first``; an index before ``first`` or past the end is refused, ``why`` saying why."""
    if monitor is None:
        return np.arange(first, n_time, dtype=np.intp)
    days = np.unique(np.asarray(monitor, dtype=np.intp))
    if days.size and (days[0] < first or days[-1] >= n_time):
        reason = f" ({why})" if why else ""
        raise ValueError(f"monitor must lie in {first}..{n_time - 1}{reason}")
    return days
