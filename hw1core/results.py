"""What an experiment's compute stage returns: measured values, arrays and tables, and the build's metadata."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Results:
    """JSON-able values, numpy arrays and pandas tables; meta (wall time, device, ...) is filled by the build."""
    values: dict = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
