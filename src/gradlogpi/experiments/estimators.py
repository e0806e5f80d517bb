"""The estimator lab as an experiment: a table and a figure of every estimator against ∇J."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import NamedTuple

import gymnasium as gym
import numpy as np

import gradlogpi.envs  # noqa: F401  (registers the shipped environments)
from gradlogpi.envs import short_corridor_features, theta_for_p_right
from gradlogpi.exact import (
    ExactGradient,
    FiniteMDP,
    LinearQuadraticSystem,
    exact_gradient,
    model_of,
    riccati_optimum,
)
from gradlogpi.exact.lab import (
    BATCH_EPISODES,
    DirectionReport,
    EstimatorReport,
    first_step_directions,
    study,
)
from gradlogpi.features import OneHot, RawState
from gradlogpi.policies import (
    DiscretePolicy,
    LinearGaussianPolicy,
    LinearSoftmaxPolicy,
    MatrixSoftmaxPolicy,
)
from gradlogpi.policies.linear_gaussian import log_std_parameter

CORRIDOR = "gradlogpi/ShortCorridor-v0"

LQR_GAIN_FRACTION = 0.5
"""The LQR lab's mean gain: this fraction of the Riccati gain K* (a policy still learning)."""
LQR_OFFSET = 0.2
"""The LQR lab's offset b (so that ∂J/∂b is not 0 by symmetry)."""
LQR_STD = 0.5
"""The LQR lab's σ (learned: θ holds its bounded log)."""


def lab_setup(
    env_id: str, gamma: float, p_right: float, theta_scale: float, seed: int
) -> tuple[FiniteMDP | LinearQuadraticSystem, DiscretePolicy | LinearGaussianPolicy]:
    """The model of `env_id` and the policy at which to compare the estimators.

    The short corridor gets the book's policy (one feature per action, π(right) = p_right);
    the LQR (gradlogpi/LQR-v0, its 50-step time limit as the horizon) a linear Gaussian
    policy over the raw state, u = −K x + b + σ ε with K = K*/2 (half the Riccati gain of
    this γ), b = 0.2 and σ = 0.5; every other model a tabular softmax with
    θ ~ N(0, theta_scale²) drawn from `seed`.
    """
    from gradlogpi.rollouts.episodes import checked_env_id

    try:
        env = gym.make(checked_env_id(env_id))
    except gym.error.Error as error:
        raise ValueError(f"`env` = {env_id!r}: {error}") from None
    try:
        model = model_of(env, gamma)
    finally:
        env.close()
    if isinstance(model, LinearQuadraticSystem):
        return model, lqr_lab_policy(model)
    if env_id == CORRIDOR:
        if not 0.0 < p_right < 1.0:
            raise ValueError(f"`p_right` must be in (0, 1); got {p_right!r}")
        corridor: DiscretePolicy = LinearSoftmaxPolicy(
            short_corridor_features(), theta_for_p_right(p_right)
        )
        return model, corridor
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    policy = MatrixSoftmaxPolicy(OneHot(model.n_states), model.n_actions)
    return model, policy.init(rng, scale=theta_scale)


def lqr_lab_policy(system: LinearQuadraticSystem) -> LinearGaussianPolicy:
    """u = −(K*/2) x + 0.2 + 0.5 ε over the raw state, σ learned (θ = [W | b | η])."""
    gain, _ = riccati_optimum(system)
    n, m = system.n_states, system.n_controls
    policy = LinearGaussianPolicy(RawState(n), m, log_std0=float(np.log(LQR_STD)))
    eta = log_std_parameter(float(np.log(LQR_STD)), policy.min_log_std, policy.max_log_std)
    mean_block = np.hstack([-LQR_GAIN_FRACTION * gain, np.full((m, 1), LQR_OFFSET)])
    policy.set_flat(np.concatenate([mean_block.ravel(), np.full(m, eta)]))
    return policy


class LabResult(NamedTuple):
    """The lab at one θ: the exact gradient, every estimator, the first-step directions."""

    setting: str
    """The model and the policy, in words."""
    exact: ExactGradient
    reports: list[EstimatorReport]
    directions: list[DirectionReport]
    """Empty when there are fewer than two batches of episodes."""


def run_lab(
    env_id: str, gamma: float, episodes: int, seed: int, policy_options: dict[str, float]
) -> LabResult:
    """Exact ∇J, every registered estimator's report and the first-step directions at one θ."""
    model, policy = lab_setup(
        env_id, gamma, policy_options.get("p_right", 0.5),
        policy_options.get("theta_scale", 0.5), seed,
    )  # fmt: skip
    from gradlogpi.exact.lab import ESTIMATORS
    from gradlogpi.runs.limits import check_fits

    per_episode = policy.n_parameters * 8 * (len(ESTIMATORS) + 1)
    check_fits(
        "episodes",
        episodes,
        episodes * per_episode,
        f"{episodes:,} episodes' estimates of {policy.n_parameters} parameters by "
        f"{len(ESTIMATORS)} estimators",
    )
    exact = exact_gradient(policy, model)
    setting = f"{env_id}, γ = {gamma}"
    if isinstance(model, LinearQuadraticSystem):
        assert isinstance(policy, LinearGaussianPolicy)
        reports, sample = study(model, exact, episodes, seed, policy=policy)
        terms = exact.linear_quadratic_terms()
        optimum, _ = riccati_optimum(model)
        setting += (
            f", {model.horizon} steps: u = −K x + b + σ ε with K = "
            f"{np.array2string(terms.gain, precision=4)} (K* = "
            f"{np.array2string(optimum, precision=4)}), b = "
            f"{np.array2string(terms.offset, precision=4)}, σ = "
            f"{np.array2string(terms.std, precision=4)}; θ = [W | b | η], W = −K, ln σ = bounded(η)"
        )
    else:
        reports, sample = study(model, exact, episodes, seed)
    directions = first_step_directions(sample, exact) if episodes >= 2 * BATCH_EPISODES else []
    return LabResult(setting, exact, reports, directions)


def check_lab(lab: LabResult, episodes: int) -> None:
    """Refuse a lab whose table would report numbers that mean nothing.

    - ∇J = 0 at this θ (γ = 0 on the corridor: J is the first reward, which θ does not
      change): a cosine to ∇J and an error relative to ‖∇J‖ are undefined.
    - No gradient component touched by `MIN_CONTRIBUTING` episodes, for every estimator:
      the bias and χ columns would judge no component and print 0.

    Raises:
      ConfigError: naming the argument, what was expected and what was received.
    """
    from gradlogpi.errors import ConfigError
    from gradlogpi.exact.lab import MIN_CONTRIBUTING

    if not np.any(np.abs(lab.exact.gradient) > 0):
        raise ConfigError(
            f"{lab.setting}: the exact ∇J is 0 at this θ, so the cosines to it and the errors "
            "relative to it mean nothing; choose another `gamma` (or θ)"
        )
    if all(report.degrees_of_freedom == 0 for report in lab.reports):
        raise ConfigError(
            f"`episodes` = {episodes}: no gradient component was touched by "
            f"{MIN_CONTRIBUTING} episodes, so the bias and χ columns would judge nothing; "
            f"give more episodes (at least {MIN_CONTRIBUTING})"
        )


def write_lab(
    out: Path,
    title: str,
    exact: ExactGradient,
    reports: list[EstimatorReport],
    directions: list[DirectionReport] | None = None,
) -> list[Path]:
    """Under `out`: estimators.csv, estimators.png (bias in standard errors; variance),
    errors.png (each estimator's error against the episodes averaged) and, with
    `directions`, directions.csv."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    csv_path, png_path = out / "estimators.csv", out / "estimators.png"
    with csv_path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(
            ["estimator", "expected_unbiased", "bias_in_standard_errors", "chi",
             "chi_threshold", "degrees_of_freedom", "variance_trace", "cosine_to_exact",
             "norm_of_mean", "norm_of_exact"]
        )  # fmt: skip
        for report in reports:
            writer.writerow([
                report.name, report.unbiased, f"{report.bias_in_standard_errors:.4f}",
                f"{report.chi:.4f}", f"{report.chi_threshold:.4f}", report.degrees_of_freedom,
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
    paths = [csv_path, png_path, _plot_errors(out / "errors.png", title, reports)]
    if directions:
        paths.append(_write_directions(out / "directions.csv", directions))
    return paths


def _plot_errors(path: Path, title: str, reports: list[EstimatorReport]) -> Path:
    """RMS relative error of the mean of n episodes' estimates against n, log-log."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7.5, 5))
    styles = ["-", "--", "-.", ":"]
    for index, report in enumerate(reports):
        axes.plot(
            report.episodes_averaged, report.relative_error, styles[index % len(styles)],
            marker="o" if report.unbiased else "x", markersize=3,
            color=f"C{index % 10}", label=report.name + ("" if report.unbiased else " (biased)"),
        )  # fmt: skip
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("episodes averaged, n")
    axes.set_ylabel("RMS ‖mean of n estimates − ∇J‖ / ‖∇J‖")
    axes.set_title(f"{title}: unbiased errors fall like 1/√n, a bias levels off", fontsize=10)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _write_directions(path: Path, directions: list[DirectionReport]) -> Path:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(
            ["direction", "target", "batch_episodes", "batches", "angle_degrees",
             "noise_angle_degrees", "median_batch_angle_degrees"]
        )  # fmt: skip
        for report in directions:
            writer.writerow([
                report.name, report.target, report.batch_episodes, report.n_batches,
                f"{report.angle:.4f}", f"{report.noise_angle:.4f}",
                f"{report.median_batch_angle:.4f}",
            ])  # fmt: skip
    return path


def describe(exact: ExactGradient) -> str:
    """J, ∇J and F⁻¹∇J in one line: the vectors up to 8 parameters, their norms beyond."""

    def shown(vector: np.ndarray) -> str:
        if vector.size <= 8:
            return np.array2string(vector, precision=4)
        return f"(norm {np.linalg.norm(vector):.4g}, {vector.size} parameters)"

    return (
        f"J(θ) = {exact.objective:.4f}, ∇J = {shown(exact.gradient)}, "
        f"F⁻¹∇J = {shown(exact.natural_gradient)} (exact)"
    )


def explain_theorem(env_id: str, state: int, gamma: float, seed: int, p_right: float) -> str:
    """The policy-gradient theorem's terms at one state, as text.

    π(·|s), q_π(s, ·), ψ(s, a) = ∇ln π(a|s), ∇π(a|s) = π(a|s) ψ(s, a), the sum
    Σ_a q_π(s, a) ∇π(a|s), the visitation η(s), and η(s) times the sum: this state's share
    of ∇J (eq. 13.5).
    """
    mdp, policy = lab_setup(env_id, gamma, p_right, 0.5, seed)
    if not isinstance(mdp, FiniteMDP):
        raise ValueError(
            f"`state` needs a finite MDP: {env_id} has continuous states (its exact gradient: "
            "gradlogpi experiment estimators --env " + env_id + ")"
        )
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
