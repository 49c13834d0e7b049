"""Write the count cube `epiradar detect` works on as CSV (series x days) for the R reference."""

import datetime as dt
import sys

import numpy as np

from epiradar.config import load_settings
from epiradar.service.detection import count_cube
from epiradar.store import Store

url, end, out = sys.argv[1], dt.date.fromisoformat(sys.argv[2]), sys.argv[3]
settings = load_settings(db=url)
counts, keys, dates = count_cube(Store(url), end, list(settings.detect.syndromes))
np.savetxt(out, counts, fmt="%d", delimiter=",")
