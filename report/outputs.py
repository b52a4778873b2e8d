"""What an experiment hands to the report: figures, tables, findings and the questions they answer."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from matplotlib.figure import Figure

from .claims import Claim


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
    """An observation as data: a stable name, a sentence template and the measured values it quotes. The values
    are what out/summary.json gives as the experiment's headline, as `<name>.<value>`.

    Placeholders take a format kind understood by the report's number filter:
    {x:count} 12,345  {x:sig} 3 significant digits  {x:pct} 93.1%  {x:ratio} 4.2×  {x:int} 7, or none for text.

    A finding that compares (higher, lower, rising, falling, indistinguishable) carries the comparisons it states as
    `claims`, each judged by report.claims' rule; its sentence must say what the claims found.
    """
    name: str
    template: str
    values: dict = field(default_factory=dict)
    claims: list[Claim] = field(default_factory=list)


@dataclass
class Question:
    """A graded report question and what answers it: 'setup', 'fig:NAME', 'table:NAME' or 'findings'."""
    text: str
    points: str
    answers: list[str]


def name_part(value: float) -> str:
    """A number as one part of a finding's name: exact (0.0015 and 0.002 stay apart) and without '.', which separates
    the parts of a name (0.001 -> 0p001)."""
    return f"{value:g}".replace(".", "p")
