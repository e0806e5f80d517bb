"""The estimator lab as an experiment: a table and a figure of every estimator against ∇J."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import gradlogpi.envs  # noqa: F401  (registers the shipped environments)
from gradlogpi.envs import short_corridor_features, theta_for_p_right
from gradlogpi.exact import ExactGradient, FiniteMDP, exact_gradient, model_of_env
from gradlogpi.exact.lab import EstimatorReport, study
from gradlogpi.features import OneHot
from gradlogpi.policies import DiscretePolicy, LinearSoftmaxPolicy, MatrixSoftmaxPolicy

CORRIDOR = "gradlogpi/ShortCorridor-v0"


def lab_setup(
    env_id: str, gamma: float, p_right: float, theta_scale: float, seed: int
) -> tuple[FiniteMDP, DiscretePolicy]:
    """The MDP of `env_id` and the policy at which to compare the estimators.

    The short corridor gets the book's policy (one feature per action, π(right) = p_right);
    every other model a tabular softmax with θ ~ N(0, theta_scale²) drawn from `seed`.
    """
    from gradlogpi.rollouts.episodes import checked_env_id

    try:
        env = gym.make(checked_env_id(env_id))
    except gym.error.Error as error:
        raise ValueError(f"`env` = {env_id!r}: {error}") from None
    try:
        mdp = model_of_env(env, gamma)
    finally:
        env.close()
    if env_id == CORRIDOR:
        if not 0.0 < p_right < 1.0:
            raise ValueError(f"`p_right` must be in (0, 1); got {p_right!r}")
        corridor: DiscretePolicy = LinearSoftmaxPolicy(
            short_corridor_features(), theta_for_p_right(p_right)
        )
        return mdp, corridor
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    policy = MatrixSoftmaxPolicy(OneHot(mdp.n_states), mdp.n_actions)
    return mdp, policy.init(rng, scale=theta_scale)


def run_lab(
    env_id: str, gamma: float, episodes: int, seed: int, policy_options: dict[str, float]
) -> tuple[ExactGradient, list[EstimatorReport]]:
    """Exact ∇J and every registered estimator's report at one θ."""
    mdp, policy = lab_setup(
        env_id, gamma, policy_options.get("p_right", 0.5),
        policy_options.get("theta_scale", 0.5), seed,
    )  # fmt: skip
    exact = exact_gradient(policy, mdp)
    reports, _ = study(mdp, exact, episodes, seed)
    return exact, reports


def write_lab(
    out: Path, title: str, exact: ExactGradient, reports: list[EstimatorReport]
) -> list[Path]:
    """estimators.csv and estimators.png (bias in standard errors; variance) under `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    csv_path, png_path = out / "estimators.csv", out / "estimators.png"
    with csv_path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(
            ["estimator", "expected_unbiased", "bias_in_standard_errors", "variance_trace",
             "cosine_to_exact", "norm_of_mean", "norm_of_exact"]
        )  # fmt: skip
        for report in reports:
            writer.writerow([
                report.name, report.unbiased, f"{report.bias_in_standard_errors:.4f}",
                f"{report.variance_trace:.6g}", f"{report.cosine:.6f}",
                f"{np.linalg.norm(report.mean):.6g}", f"{np.linalg.norm(exact.gradient):.6g}",
            ])  # fmt: skip
    names = [report.name for report in reports]
    colours = ["tab:blue" if report.unbiased else "tab:red" for report in reports]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 0.45 * len(reports) + 1.6))
    left.barh(names, [report.bias_in_standard_errors for report in reports], color=colours)
    left.axvline(4.0, color="black", linestyle="--", linewidth=1)
    left.set_xscale("symlog", linthresh=10)
    left.set_xlabel("largest |mean − ∇J| in standard errors (dashed: 4)")
    left.invert_yaxis()
    right.barh(names, [report.variance_trace for report in reports], color=colours)
    right.set_xscale("log")
    right.set_xlabel("variance of one episode's estimate (trace)")
    right.invert_yaxis()
    right.set_yticklabels([])
    figure.suptitle(f"{title}: blue expected unbiased, red biased")
    figure.tight_layout()
    figure.savefig(png_path, dpi=110)
    plt.close(figure)
    return [csv_path, png_path]


def describe(exact: ExactGradient) -> dict[str, Any]:
    """J, ∇J and its norm, for printing."""
    return {
        "objective": exact.objective,
        "gradient_norm": float(np.linalg.norm(exact.gradient)),
        "gradient": exact.gradient,
    }


def explain_theorem(env_id: str, state: int, gamma: float, seed: int, p_right: float) -> str:
    """The policy-gradient theorem's terms at one state, as text.

    π(·|s), q_π(s, ·), ψ(s, a) = ∇ln π(a|s), ∇π(a|s) = π(a|s) ψ(s, a), the sum
    Σ_a q_π(s, a) ∇π(a|s), the visitation η(s), and η(s) times the sum: this state's share
    of ∇J (eq. 13.5).
    """
    mdp, policy = lab_setup(env_id, gamma, p_right, 0.5, seed)
    if not 0 <= state < mdp.n_states:
        raise ValueError(f"`state` must be in 0 … {mdp.n_states - 1} for {env_id}; got {state}")
    exact = exact_gradient(policy, mdp)
    probabilities, q = exact.probabilities[state], exact.action_values[state]
    scores = exact.scores[state]  # [A, P]
    gradients = probabilities[:, None] * scores  # ∇π(a|s)
    inner = (q[:, None] * gradients).sum(axis=0)
    share = exact.visitation[state] * inner

    def vector(values: np.ndarray) -> str:
        return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"

    lines = [
        f"{env_id}, γ = {gamma}, state {state}"
        + (" (terminal: no action is taken there)" if mdp.terminal[state] else ""),
        f"J(θ) = v(s0) = {exact.objective:.4f};  ∇J = {vector(exact.gradient)}",
        "",
        "∇J = Σ_s η(s) Σ_a q_π(s, a) ∇π(a|s)   (Sutton & Barto eq. 13.5)",
        "",
    ]
    for action in range(mdp.n_actions):
        lines.append(
            f"  a = {action}: π = {probabilities[action]:.4f}, q_π = {q[action]:.4f}, "
            f"ψ = ∇ln π = {vector(scores[action])}, ∇π = π ψ = {vector(gradients[action])}"
        )
    lines += [
        "",
        f"Σ_a q_π(s, a) ∇π(a|s) = {vector(inner)}",
        f"η(s) = Σ_t γ^t Pr(S_t = s) = {exact.visitation[state]:.4f}",
        f"this state's share of ∇J: η(s) Σ_a q_π ∇π = {vector(share)}",
        f"(the shares of all {mdp.n_states} states add up to ∇J)",
    ]
    return "\n".join(lines)
