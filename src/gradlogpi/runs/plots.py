"""Plots of learning curves (matplotlib, Agg backend) and the statistics they show.

matplotlib is imported when a figure is drawn: `evaluate` needs only the statistics,
and pyplot's import is a third of a second of its start-up.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def runs_count(n: int) -> str:
    """'1 run', '5 runs': how a legend counts the runs behind a curve."""
    return f"{n} run" if n == 1 else f"{n} runs"


def plot_curves(
    curves: list[tuple[str, dict[str, np.ndarray]]],
    *,
    title: str,
    optimum: tuple[float, str] | None = None,
    caption: str | None = None,
    ylim: tuple[float, float] | None = None,
    xlabel: str = "Episode",
    ylabel: str = "Total reward on episode (G₀)",
) -> Any:
    """A figure with each curve's mean and a ±1 standard-error band.

    Args:
      curves: (label, statistics) pairs; statistics has `mean_return` and `standard_error`,
        each shape [E].
      title: figure title.
      optimum: optional (value, label) drawn as a dashed horizontal line.
      caption: optional text under the axes.
      ylim: optional y limits.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(7.5, 4.8), constrained_layout=True)
    for label, stats in curves:
        mean, error = stats["mean_return"], stats["standard_error"]
        episodes = np.arange(1, mean.size + 1)
        (line,) = ax.plot(episodes, mean, lw=1.2, label=label)
        low, high = stats.get("low", mean - error), stats.get("high", mean + error)
        ax.fill_between(episodes, low, high, color=line.get_color(), alpha=0.25, lw=0)
        if "iqm" in stats and mean.size and stats["iqm"].shape == mean.shape and len(curves) <= 3:
            ax.plot(
                episodes,
                stats["iqm"],
                lw=0.8,
                ls=":",
                color=line.get_color(),
                label=f"{label}: IQM",
            )
    if optimum is not None:
        ax.axhline(optimum[0], color="black", ls="--", lw=1, label=optimum[1])
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    if caption:
        figure.text(0.01, -0.02, caption, fontsize=7.5, ha="left", va="top", wrap=True)
    return figure


def bootstrap_interval(
    samples: np.ndarray, rng: np.random.Generator, n_resamples: int = 1000, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of the mean over axis 0, shapes [...] each."""
    n = samples.shape[0]
    if n < 2:
        return samples.mean(axis=0), samples.mean(axis=0)
    indices = rng.integers(n, size=(n_resamples, n))
    means = samples[indices].mean(axis=1)
    tail = (1 - level) / 2
    return np.quantile(means, tail, axis=0), np.quantile(means, 1 - tail, axis=0)


def interquartile_mean(samples: np.ndarray) -> np.ndarray:
    """Mean of the middle 50% over axis 0 (Agarwal et al. 2021), shape [...]."""
    ordered = np.sort(samples, axis=0)
    n = ordered.shape[0]
    low, high = n // 4, n - n // 4
    return ordered[low:high].mean(axis=0) if high > low else ordered.mean(axis=0)


def curve_statistics(
    returns: np.ndarray, seed: int = 0, smooth: int | None = None
) -> dict[str, np.ndarray]:
    """Mean, bootstrap 95% band and IQM across runs of returns [R, E], smoothed over episodes.

    The band is drawn as `mean_return ± standard_error` by `plot_curves`, so its half-widths
    are stored there (asymmetric intervals are averaged).

    Raises:
      ConfigError: if `smooth` is not in [1, E] (a window longer than the curve averages
        nothing that is there).
    """
    from gradlogpi.errors import ConfigError

    if smooth is None:
        smooth = max(1, returns.shape[1] // 100)
    if not 1 <= smooth <= returns.shape[1]:
        raise ConfigError(
            f"`smooth` must be a window in [1, {returns.shape[1]}] (the episodes of the "
            f"curve); got {smooth}"
        )
    kernel = np.ones(smooth) / smooth
    smoothed = np.array([np.convolve(row, kernel, mode="valid") for row in returns])
    mean = smoothed.mean(axis=0)
    low, high = bootstrap_interval(smoothed, np.random.default_rng(seed))
    return {
        "mean_return": mean,
        "standard_error": (high - low) / 2,
        "iqm": interquartile_mean(smoothed),
        "low": low,
        "high": high,
    }
