"""Readers of the golden fixtures written by the R scripts in ``tests/reference/``: each data set as a
``data_<dataset>.csv`` (a ``time`` column, one column per series) and R's results as a gzipped
``<dataset>.csv.gz``."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd


@cache
def series(fixtures: Path, dataset: str) -> np.ndarray:
    """The counts of a data set: ``[n_series, n_time]``."""
    frame = pd.read_csv(fixtures / f"data_{dataset}.csv")
    return frame.drop(columns="time").to_numpy(dtype=float).T


@cache
def results(fixtures: Path, dataset: str) -> pd.DataFrame:
    """R's results on a data set, every case."""
    return pd.read_csv(fixtures / f"{dataset}.csv.gz")


#: The surveillance package's data sets every golden script covers (tests/reference/datasets.R).
REAL_DATASETS = [
    "salmonella_agona",
    "ha_sts",
    "shadar",
    "sts_newport",
    "measles_de",
    "campy_de",
]
