"""The README's demo: the worked examples of the two questions the project grew from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console

from gradlogpi.check import compare_scores, likelihood_ratio_score
from gradlogpi.core import (
    action_block_features,
    expected_features,
    linear_softmax_score,
    log_softmax_gradient,
    matrix_softmax_score,
    softmax,
)
from gradlogpi.features import TableFeatures
from gradlogpi.policies import LinearSoftmaxPolicy


def seed_examples(console: Console) -> None:
    """Print the worked numbers of the two questions the project grew from."""
    np.set_printoptions(precision=3, suppress=True)
    console.rule("Question 1: softmax of the network outputs")
    outputs = np.array([14.0, 15.0, 11.0, 17.0])
    console.print(f"softmax{outputs} = {softmax(outputs).round(3)}")

    console.rule("Question 1, the answer: φ(s,a) stacked as [x(s), a], s = (1, 1)")
    phi = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    theta = np.array([0.0, 0.0, np.log(0.3 / 0.7)])  # the θ that gives π = (0.7, 0.3)
    probabilities = softmax(phi @ theta)
    console.print(f"φ(s,a0) = {phi[0]}, φ(s,a1) = {phi[1]}, π(·|s) = {probabilities}")
    console.print(f"E_π[φ(s,·)] = {expected_features(theta, phi)}")
    for a in (0, 1):
        score = linear_softmax_score(theta, phi, a).round(12) + 0.0
        console.print(f"score for a{a}: φ(s,a{a}) − E_π[φ(s,·)] = {score}")

    console.rule("Question 1, a comment: likelihood ratio ∇π/π (π differentiated numerically)")
    policy = LinearSoftmaxPolicy(TableFeatures(phi), theta0=theta)
    console.print(f"∇π(a0|s)/π(a0|s) = {likelihood_ratio_score(policy, 0, 0).round(9) + 0.0}")

    console.rule("Question 1: the matrix form W x(s) + b and its bridge φ = onehot(a) ⊗ [x, 1]")
    x = np.array([1.0, 0.0, 0.0, 1.0])
    weights = np.array([[7.0, 0, 0, 7], [7, 0, 0, 8], [5, 0, 0, 6], [8, 0, 0, 9]])
    bias = np.zeros(4)
    grad_weights, grad_bias = matrix_softmax_score(weights, bias, x, 3)
    console.print(f"logits W x + b = {weights @ x + bias}, π = {softmax(weights @ x + bias)}")
    console.print(f"∇_b log π(a=3|s) = onehot(3) − π = {grad_bias}")
    console.print(f"∇_W log π(a=3|s) = (onehot(3) − π) x(s)ᵀ =\n{grad_weights + 0.0}")
    bridged = action_block_features(x, 4)
    flat = np.concatenate([weights, bias[:, None]], axis=1).ravel()
    matrix_flat = np.concatenate([grad_weights, grad_bias[:, None]], axis=1).ravel()
    same = np.allclose(linear_softmax_score(flat, bridged, 3), matrix_flat, rtol=0, atol=1e-15)
    console.print(f"linear score with φ = onehot(a) ⊗ [x, 1] equals the matrix score: {same}")

    console.rule("Question 2: ∇ log softmax wrt the logits is onehot(a) − π")
    console.print(
        f"logits log(0.7, 0.3), a = 0: {log_softmax_gradient(np.log([0.7, 0.3]), 0).round(12)}"
    )
    rng = np.random.default_rng(1)
    random_policy = LinearSoftmaxPolicy(TableFeatures(rng.normal(size=(3, 5))), rng.normal(size=5))
    check = compare_scores(random_policy, 0, 2)
    console.print(
        f"φ(s,a) − E_π[φ(s,·)] vs central finite differences, random θ and φ: "
        f"max abs error {check.max_abs_error:.1e}, max rel error {check.max_rel_error:.1e}"
    )


def corridor_reproduction(console: Console, out: Path, runs: int, episodes: int) -> None:
    """Figure 13.2, and the learned π(right) against p* = 2 − √2.

    Both figures, with options, are `gradlogpi experiment sutton-barto`.
    """
    from gradlogpi.experiments import sutton_barto as book
    from gradlogpi.runs.progress import EpisodeProgress

    console.rule(
        f"Sutton & Barto Figure 13.2 on the short corridor: {runs} runs × {episodes} episodes"
    )
    with EpisodeProgress(console, total=episodes) as progress:
        curves = book.figure_13_2(runs=runs, episodes=episodes, seed=0, callback=progress.update)
    csv_path, png_path = book.write_figure("13.2", curves, out)
    last = max(1, episodes // 10)
    for curve in curves:
        mean, error = curve.window_mean(episodes - last + 1, episodes)
        console.print(
            f"{curve.label}: mean return over the last {last} episodes {mean:.2f} ± {error:.2f}; "
            f"learned π(right) {curve.final_p_right().mean():.3f} (p* = 2 − √2 = {book.OPTIMAL_P_RIGHT:.3f})"
        )
    console.print(
        f"optimum v* = −(6 + 4√2) = {book.OPTIMAL_VALUE:.3f}; wrote {csv_path} and {png_path}"
    )


def cartpole_training(console: Console) -> Path:
    """configs/cartpole_linear.toml: PPO on a linear softmax policy, 100k steps, a run directory."""
    from gradlogpi.runs.config import load_config
    from gradlogpi.runs.progress import EpisodeProgress
    from gradlogpi.runs.train import train

    config_path = Path(__file__).resolve().parents[2] / "configs" / "cartpole_linear.toml"
    overrides = {  # the shipped config's settings, for an installed package without it
        "env": "CartPole-v1",
        "algorithm": "ppo",
        "policy.kind": "matrix_softmax",
        "features.kind": "raw",
        "value_features": {"kind": "raw"},
    }
    config = load_config(config_path, {}) if config_path.exists() else load_config(None, overrides)
    spec = config.algorithm_spec()
    total = spec.total(config.algorithm_config())
    console.rule(
        f"Training a linear softmax policy on CartPole-v1 ({config.algorithm}, {total} {spec.unit})"
    )
    with EpisodeProgress(console, total=total, unit=spec.unit) as progress:
        outcome = train(config, callback=progress.update_episode)
    summary = outcome.result.summary()
    console.print(
        f"mean return of the last {summary['final_window']} training episodes: "
        f"{summary['final_mean_return']:.1f}"
    )
    for evaluation in outcome.evaluation:
        console.print(
            f"the saved final policy: mean return {evaluation.mean_return:.1f} (95% CI "
            f"{evaluation.ci_low:.1f} to {evaluation.ci_high:.1f}) over {evaluation.episodes} "
            "fresh episodes"
        )
    console.print(f"run directory (config, metrics.csv, checkpoint, curve.png): {outcome.run_dir}")
    return outcome.run_dir


def main() -> None:
    console = Console(markup=False, highlight=False)
    seed_examples(console)
    from gradlogpi.algorithms.compiled.tabular import available

    # in full (100 runs × 1000 episodes) where the compiled loops make it a few seconds
    runs, episodes = (100, 1000) if available() else (20, 300)
    # its own output directory (git ignores /out/): never the figures committed under docs/
    corridor_reproduction(console, Path("out") / "demo", runs, episodes)
    cartpole_training(console)
    console.print(
        "next: `source .venv/bin/activate` puts `gradlogpi` on your PATH; then "
        "`gradlogpi --help`, or the README's quickstart"
    )


if __name__ == "__main__":
    main()
