"""Sutton & Barto (2018), chapter 13: Figures 13.1 and 13.2 on the short corridor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from gradlogpi.algorithms import (
    EpisodeEnd,
    ReinforceBaselineConfig,
    ReinforceConfig,
    RunResult,
    reinforce,
    reinforce_baseline,
)
from gradlogpi.envs import (
    OPTIMAL_P_RIGHT,
    OPTIMAL_VALUE,
    short_corridor_features,
    theta_for_p_right,
)
from gradlogpi.features import Constant
from gradlogpi.policies import DiscretePolicy, LinearSoftmaxPolicy, LinearValue

ENV_ID = "gradlogpi/ShortCorridor-v0"
INITIAL_P_RIGHT = 0.05  # both figures start from π(right|s) = 0.05
CSV_COLUMNS = ("curve", "episode", "mean_return", "standard_error", "runs", "truncated_runs")
FIGURES = ("13.1", "13.2")


@dataclass
class Curve:
    """One learning curve over R runs: the runs' per-episode returns and truncations."""

    label: str
    result: RunResult

    def statistics(self) -> dict[str, np.ndarray]:
        """Per episode: mean and standard error over the runs that have not collapsed.

        A run is counted as collapsed from its first truncated episode on (its policy hit
        the step cap) and left out of the mean and standard error from there, so one
        collapsed run cannot swamp the curve; `truncated_runs` counts them.
        """
        returns, truncated = self.result.returns, self.result.truncated
        collapsed = np.cumsum(truncated, axis=1) > 0  # [R, E]
        included = ~collapsed
        counts = included.sum(axis=0)
        safe_counts = np.maximum(counts, 1)
        mean = np.where(included, returns, 0.0).sum(axis=0) / safe_counts
        squares = np.where(included, (returns - mean) ** 2, 0.0).sum(axis=0)
        variance = squares / np.maximum(counts - 1, 1)
        standard_error = np.sqrt(variance / safe_counts)
        mean = np.where(counts > 0, mean, np.nan)
        standard_error = np.where(counts > 1, standard_error, np.nan)
        return {
            "mean_return": mean,
            "standard_error": standard_error,
            "runs": counts,
            "truncated_runs": collapsed.sum(axis=0),
        }

    def window_mean(self, first: int, last: int) -> tuple[float, float]:
        """Mean return over episodes first … last (1-based, inclusive) and its standard error.

        Each run contributes the mean of its window; the standard error is the spread of
        those run means over √R. Runs collapsed by the window's end are left out.
        """
        returns = self.result.returns[:, first - 1 : last]
        collapsed = self.result.truncated[:, :last].any(axis=1)
        run_means = returns[~collapsed].mean(axis=1)
        if run_means.size < 2:
            return float(run_means.mean()) if run_means.size else float("nan"), float("nan")
        return float(run_means.mean()), float(run_means.std(ddof=1) / np.sqrt(run_means.size))

    def final_p_right(self) -> np.ndarray:
        """π(right) of each run's learned policy, shape [R]."""
        policy = cast(DiscretePolicy, self.result.policy)  # the corridor's softmax policy
        return policy.probabilities(np.zeros(self.result.n_runs, dtype=np.int64))[:, 1]


def corridor_policy() -> LinearSoftmaxPolicy:
    """The linear softmax policy of Example 13.1, started at π(right) = 0.05."""
    return LinearSoftmaxPolicy(short_corridor_features(), theta_for_p_right(INITIAL_P_RIGHT))


def figure_13_1(
    runs: int = 100,
    episodes: int = 1000,
    seed: int = 0,
    callback: Callable[[str, EpisodeEnd], None] | None = None,
) -> list[Curve]:
    """REINFORCE on the short corridor with α = 2^-12, 2^-13, 2^-14 (Figure 13.1).

    Each step size uses its own child seed, so curves are independent of one another.
    """
    curves = []
    step_sizes = (2**-12, 2**-13, 2**-14)
    seeds = np.random.SeedSequence(seed).spawn(len(step_sizes))
    for exponent, alpha, child in zip((12, 13, 14), step_sizes, seeds, strict=True):
        label = f"REINFORCE α=2^-{exponent}"
        result = reinforce(
            ENV_ID,
            corridor_policy(),
            ReinforceConfig(n_episodes=episodes, alpha_theta=alpha),
            seed=int(child.generate_state(1)[0]),
            runs=runs,
            callback=_labelled(callback, label),
        )
        curves.append(Curve(label, result))
    return curves


def figure_13_2(
    runs: int = 100,
    episodes: int = 1000,
    seed: int = 0,
    callback: Callable[[str, EpisodeEnd], None] | None = None,
) -> list[Curve]:
    """REINFORCE with baseline (α^θ = 2^-9, α^w = 2^-6) against REINFORCE α = 2^-13 (Fig. 13.2).

    The baseline is v̂(s, w) = w, a learned constant: every state looks the same.
    """
    baseline_seed, plain_seed = (
        int(c.generate_state(1)[0]) for c in np.random.SeedSequence(seed).spawn(2)
    )
    label = "REINFORCE with baseline α^θ=2^-9 α^w=2^-6"
    with_baseline = reinforce_baseline(
        ENV_ID,
        corridor_policy(),
        ReinforceBaselineConfig(n_episodes=episodes, alpha_theta=2**-9, alpha_w=2**-6),
        value=LinearValue(Constant()),
        seed=baseline_seed,
        runs=runs,
        callback=_labelled(callback, label),
    )
    plain_label = "REINFORCE α=2^-13"
    plain = reinforce(
        ENV_ID,
        corridor_policy(),
        ReinforceConfig(n_episodes=episodes, alpha_theta=2**-13),
        seed=plain_seed,
        runs=runs,
        callback=_labelled(callback, plain_label),
    )
    return [Curve(label, with_baseline), Curve(plain_label, plain)]


def write_figure(figure: str, curves: list[Curve], out: Path) -> tuple[Path, Path]:
    """Write `fig13_1.csv`/`fig13_2.csv` and the matching PNG under `out`."""
    from gradlogpi.runs.files import save_figure, write_csv
    from gradlogpi.runs.plots import plot_curves

    stem = "fig" + figure.replace(".", "_")
    rows = []
    for curve in curves:
        stats = curve.statistics()
        for episode in range(len(stats["runs"])):
            rows.append(
                (
                    curve.label,
                    episode + 1,
                    f"{stats['mean_return'][episode]:.6f}",
                    f"{stats['standard_error'][episode]:.6f}",
                    int(stats["runs"][episode]),
                    int(stats["truncated_runs"][episode]),
                )
            )
    csv_path = write_csv(out / f"{stem}.csv", CSV_COLUMNS, rows)
    truncated = sum(int(c.statistics()["truncated_runs"][-1]) for c in curves)
    caption = (
        f"Mean ± standard error over {curves[0].result.n_runs} runs. Runs whose policy collapsed "
        f"(an episode hit the {1000}-step cap) are left out from that episode on "
        f"({truncated} at the end)."
    )
    figure_object = plot_curves(
        [(c.label, c.statistics()) for c in curves],
        title=f"Sutton & Barto Figure {figure}: short corridor",
        optimum=(OPTIMAL_VALUE, "v* = −(6 + 4√2) ≈ −11.66"),
        caption=caption,
        ylim=(-90, -5),
    )
    png_path = save_figure(figure_object, out / f"{stem}.png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure_object)
    return csv_path, png_path


def _labelled(
    callback: Callable[[str, EpisodeEnd], None] | None, label: str
) -> Callable[[EpisodeEnd], None] | None:
    if callback is None:
        return None
    return lambda end: callback(label, end)


__all__ = [
    "CSV_COLUMNS",
    "FIGURES",
    "OPTIMAL_P_RIGHT",
    "Curve",
    "corridor_policy",
    "figure_13_1",
    "figure_13_2",
    "write_figure",
]
