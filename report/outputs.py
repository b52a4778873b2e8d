"""What an experiment hands to the report: figures, tables, findings and the questions they answer."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from matplotlib.figure import Figure


@dataclass
class FigureSpec:
    name: str
    caption: str
    figure: Figure


@dataclass
class TableSpec:
    name: str
    caption: str
    frame: pd.DataFrame


@dataclass
class Finding:
    """An observation as data: a sentence template and the measured values it cites.

    Placeholders take a format kind understood by the report's number filter:
    {x:count} 12,345  {x:sig} 3 significant digits  {x:pct} 93.1%  {x:ratio} 4.2×  {x:int} 7, or none for text.
    """
    template: str
    values: dict = field(default_factory=dict)


@dataclass
class Question:
    """A graded report question and what answers it: 'setup', 'fig:NAME', 'table:NAME' or 'findings'."""
    text: str
    points: str
    answers: list[str]


def by_row(frame: pd.DataFrame, keys: list[str], columns: list[str]) -> dict[str, float | int | str]:
    """Table cells as flat headline names, `<column>.<key values joined by '.'>`, e.g. `test_acc.MNIST.CNN-2`."""
    return {f"{col}.{'.'.join(str(row[k]) for k in keys)}": row[col] for _, row in frame.iterrows() for col in columns}
