"""Figure helpers shared by the experiments: pyplot-free figures, seed bands, consistent colours."""
from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullFormatter, NullLocator

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
          "#bcbd22", "#17becf", "#393b79"]


def new_figure(nrows: int = 1, ncols: int = 1, width: float = 6.4, height: float = 3.6, **kw) -> tuple[Figure, np.ndarray]:
    """A Figure with an nrows×ncols grid of axes, in matplotlib's order (always returned as a flat array)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    for ax in axes.flat:
        ax.grid(True, alpha=0.3, linewidth=0.6)
    return fig, axes.ravel()


def band(ax, x: np.ndarray, runs: np.ndarray, label: str, color: str, linestyle: str = "-") -> None:
    """Mean over runs (rows) as a line, min–max as a shaded band; NaN (diverged) entries are left out."""
    runs = np.atleast_2d(runs)
    with np.errstate(all="ignore"):
        mean = np.nanmean(runs, axis=0)
    ax.plot(x, mean, color=color, linestyle=linestyle, linewidth=1.4, label=label)
    if runs.shape[0] > 1:
        ax.fill_between(x, np.nanmin(runs, axis=0), np.nanmax(runs, axis=0), color=color, alpha=0.2, linewidth=0)


def epochs_axis(n: int) -> np.ndarray:
    return np.arange(1, n + 1)


def integer_ticks(ax) -> None:
    """Epoch axes: whole numbers only, even when a draft runs three epochs."""
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def twin_legend(ax, right, ncols: int = 3) -> None:
    """One legend for the lines of both y axes of a twin-axis plot, under the axes."""
    h1, n1 = ax.get_legend_handles_labels()
    h2, n2 = right.get_legend_handles_labels()
    legend_below(ax, h1 + h2, n1 + n2, ncols)


def plain_log_ticks(fig: Figure) -> None:
    """Log axes that span under two decades get at least three plain tick labels (0.2, 0.5, 1, 2) rather than one or
    two powers of ten; an axis whose ticks a section placed itself (value_ticks) is left alone."""
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            if axis.get_scale() != "log" or low <= 0 or high / low >= 100 or \
                    isinstance(axis.get_major_locator(), FixedLocator):
                continue
            decades = math.log10(high / low)
            # Under 0.3 decades a log axis holds at most one of 1-2-3-5-7 ticks: evenly spaced values read better.
            locator = MaxNLocator(nbins=4) if decades < 0.3 else \
                LogLocator(subs=(1.0, 2.0, 5.0) if decades >= 1 else (1.0, 1.5, 2.0, 3.0, 5.0, 7.0))
            axis.set_major_locator(locator)
            axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
            axis.set_minor_formatter(NullFormatter())


def value_ticks(axis, values) -> None:
    """Ticks at exactly the swept values (batch sizes, learning rates), labelled plainly, and no others."""
    values = sorted(set(float(v) for v in values))
    axis.set_major_locator(FixedLocator(values))
    axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    axis.set_minor_locator(NullLocator())


def figure_legend(fig: Figure, *axes, ncols: int = 4) -> None:
    """One legend for panels that share their lines (taken from `axes`, one panel of each kind), under the figure,
    covering no data."""
    pairs = [ax.get_legend_handles_labels() for ax in axes]
    handles, labels = [h for hs, _ in pairs for h in hs], [lab for _, ls in pairs for lab in ls]
    fig.legend(handles, labels, fontsize=8, ncols=ncols, loc="outside lower center", frameon=False)


def legend_right(ax) -> None:
    """The legend beside the axes, for stacked panels whose space below is the next panel's."""
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)


def legend_below(ax, handles=None, labels=None, ncols: int = 3) -> None:
    """The legend under the axes, where it can cover no data (constrained layout makes room for it)."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, labels, fontsize=7, ncols=ncols, loc="upper center", bbox_to_anchor=(0.5, -0.16),
              frameon=False)


def seed_points(ax, frame, x: str, y: str, fmt: str, color: str, label: str) -> None:
    """One point per value of column x: the mean of column y over its rows (the seeds), with a min–max error bar
    where there is more than one; rows whose y is NaN are left out."""
    g = frame.groupby(x)[y].agg(["mean", "min", "max"]).dropna()
    # Clipped: the mean of equal seeds can round a hair outside them (0.1 three times averages to 0.10000000000000002).
    bars = [(g["mean"] - g["min"]).clip(lower=0), (g["max"] - g["mean"]).clip(lower=0)]
    ax.errorbar(g.index, g["mean"], yerr=bars, fmt=fmt, color=color,
                capsize=2.5, markersize=4, linewidth=1.1, elinewidth=0.8, label=label)


def mark_failed(ax, failed: dict, partly: dict | None = None) -> None:
    """A red dotted line, labelled with why (e.g. "failed to train"), at each x of `failed` where no run trained, and
    a note "k/n left out" at each x of `partly` (x: (k, n)) where only some did: a run that failed is marked, never
    plotted as a value."""
    for x, why in failed.items():
        ax.axvline(x, color="red", linewidth=0.9, linestyle=":")
        ax.annotate(why, (x, 0.5), xycoords=("data", "axes fraction"), rotation=90, fontsize=7, color="red",
                    ha="right", va="center")
    for x, (k, n) in (partly or {}).items():
        ax.annotate(f"{k}/{n} left out", (x, 0.02), xycoords=("data", "axes fraction"), fontsize=6, color="red",
                    ha="center")
