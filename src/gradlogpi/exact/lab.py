"""The estimator lab: every sampled policy-gradient estimator against the exact ∇J.

At a fixed θ, N episodes are drawn from the finite MDP itself (no time limit: for γ < 1
episodes are cut after `max_steps`, whose γ^T tail is negligible and reported), and each
estimator turns each episode into a gradient estimate ĝ_i = Σ_t w_it ψ(S_t, A_t). Their mean
is compared with the exact ∇J of `exact_gradient`: bias in standard errors, the variance's
trace, the cosine to ∇J.

An estimator is a function of one batch of episodes and of the exact quantities (the
critics and baselines some of them use), returning the per-step weights w [N, T]. New ones
(GAE, PPO's first epoch) plug in with `register_estimator`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

from gradlogpi.core.returns import discount_powers
from gradlogpi.exact.mdp import FiniteMDP
from gradlogpi.exact.theorem import ExactGradient

MIN_CONTRIBUTING = 100
"""Episodes that must touch a gradient component for its bias to be judged in s.e."""


class Episodes(NamedTuple):
    """N episodes padded to T steps: S_t, A_t, R_{t+1}, S_{t+1} and which steps are real."""

    states: np.ndarray  # [N, T] int
    actions: np.ndarray  # [N, T] int
    rewards: np.ndarray  # [N, T]
    next_states: np.ndarray  # [N, T] int
    mask: np.ndarray  # [N, T] bool
    cut: np.ndarray  # [N] bool: reached max_steps before a terminal state


def sample_episodes(
    mdp: FiniteMDP,
    probabilities: np.ndarray,
    n_episodes: int,
    rng: np.random.Generator,
    max_steps: int | None = None,
) -> Episodes:
    """Draw N episodes of the policy π(a|s) = probabilities[s, a] from the model, in lockstep.

    Episodes are cut after `max_steps`; by default the first T with γ^T < 1e-12 (what
    follows changes no estimate by more than that), or 10,000 steps at γ = 1.
    """
    if max_steps is None:
        max_steps = (
            10_000 if mdp.gamma >= 1.0 or mdp.gamma <= 0.0
            else int(np.ceil(np.log(1e-12) / np.log(mdp.gamma)))
        )  # fmt: skip
    states = rng.choice(mdp.n_states, size=n_episodes, p=mdp.start)
    alive = ~mdp.terminal[states]
    columns: dict[str, list[np.ndarray]] = {k: [] for k in ("s", "a", "r", "n", "m")}
    action_cdf = np.cumsum(probabilities, axis=1)
    transition_cdf = np.cumsum(mdp.transitions, axis=2)
    for _ in range(max_steps):
        if not alive.any():
            break
        actions = (rng.random(n_episodes)[:, None] > action_cdf[states]).sum(axis=1)
        actions = np.minimum(actions, mdp.n_actions - 1)
        following = (rng.random(n_episodes)[:, None] > transition_cdf[states, actions]).sum(axis=1)
        following = np.minimum(following, mdp.n_states - 1)
        for key, value in (
            ("s", states), ("a", actions), ("r", mdp.rewards[states, actions] * alive),
            ("n", following), ("m", alive.copy()),
        ):  # fmt: skip
            columns[key].append(value)
        states = np.where(alive, following, states)
        alive = alive & ~mdp.terminal[states]
    stacked = {k: np.stack(v, axis=1) for k, v in columns.items()}
    return Episodes(
        stacked["s"], stacked["a"], stacked["r"], stacked["n"], stacked["m"], alive.copy()
    )


def rewards_to_go(episodes: Episodes, gamma: float) -> np.ndarray:
    """G_t = Σ_{k≥t} γ^{k−t} R_{k+1}, shape [N, T]."""
    returns = np.zeros_like(episodes.rewards)
    following = np.zeros(episodes.rewards.shape[0])
    for t in range(episodes.rewards.shape[1] - 1, -1, -1):
        following = episodes.rewards[:, t] + gamma * following
        returns[:, t] = following
    return returns * episodes.mask


Weights = Callable[[Episodes, FiniteMDP, ExactGradient], np.ndarray]


@dataclass(frozen=True)
class Estimator:
    """A registered estimator: its per-step weights and whether it is unbiased for ∇J."""

    name: str
    weights: Weights
    unbiased: bool
    """Unbiased for ∇J at every γ."""
    description: str
    unbiased_at_gamma_one: bool = False
    """Unbiased when γ = 1 (where it coincides with an unbiased one)."""

    def unbiased_for(self, gamma: float) -> bool:
        return self.unbiased or (self.unbiased_at_gamma_one and gamma == 1.0)


ESTIMATORS: dict[str, Estimator] = {}


def register_estimator(estimator: Estimator) -> Estimator:
    if estimator.name in ESTIMATORS:
        raise ValueError(f"`name` {estimator.name!r} is already registered")
    ESTIMATORS[estimator.name] = estimator
    return estimator


def _powers(episodes: Episodes, gamma: float) -> np.ndarray:
    return discount_powers(episodes.rewards.shape[1], gamma)[None, :]


def _reinforce(episodes: Episodes, mdp: FiniteMDP, exact: ExactGradient) -> np.ndarray:
    return _powers(episodes, mdp.gamma) * rewards_to_go(episodes, mdp.gamma)


def _no_discount_power(episodes: Episodes, mdp: FiniteMDP, exact: ExactGradient) -> np.ndarray:
    return rewards_to_go(episodes, mdp.gamma)


def _whole_episode(episodes: Episodes, mdp: FiniteMDP, exact: ExactGradient) -> np.ndarray:
    total = rewards_to_go(episodes, mdp.gamma)[:, :1]  # G_0
    return np.broadcast_to(total, episodes.rewards.shape) * episodes.mask


def _constant_baseline(episodes: Episodes, mdp: FiniteMDP, exact: ExactGradient) -> np.ndarray:
    returns = rewards_to_go(episodes, mdp.gamma)
    return _powers(episodes, mdp.gamma) * (returns - exact.objective) * episodes.mask


def _value_baseline(episodes: Episodes, mdp: FiniteMDP, exact: ExactGradient) -> np.ndarray:
    returns = rewards_to_go(episodes, mdp.gamma)
    baseline = exact.values[episodes.states]
    return _powers(episodes, mdp.gamma) * (returns - baseline) * episodes.mask


def _wrong_value_baseline(episodes: Episodes, mdp: FiniteMDP, exact: ExactGradient) -> np.ndarray:
    returns = rewards_to_go(episodes, mdp.gamma)
    baseline = _wrong_critic(exact)[episodes.states]
    return _powers(episodes, mdp.gamma) * (returns - baseline) * episodes.mask


def _wrong_critic(exact: ExactGradient) -> np.ndarray:
    """v̂(s) = v_π(s) + 5·(−1)^s: any state-dependent error, fixed before sampling."""
    signs = np.where(np.arange(exact.values.size) % 2 == 0, 1.0, -1.0)
    return exact.values + 5.0 * signs


def _td_errors(episodes: Episodes, mdp: FiniteMDP, critic: np.ndarray) -> np.ndarray:
    following = np.where(mdp.terminal[episodes.next_states], 0.0, critic[episodes.next_states])
    errors = episodes.rewards + mdp.gamma * following - critic[episodes.states]
    return _powers(episodes, mdp.gamma) * errors * episodes.mask


def _actor_critic(episodes: Episodes, mdp: FiniteMDP, exact: ExactGradient) -> np.ndarray:
    return _td_errors(episodes, mdp, exact.values)


def _actor_critic_wrong(episodes: Episodes, mdp: FiniteMDP, exact: ExactGradient) -> np.ndarray:
    return _td_errors(episodes, mdp, _wrong_critic(exact))


for _estimator in (
    Estimator(
        "reinforce", _reinforce, True,
        "Σ γ^t G_t ψ_t: the book's per-step REINFORCE (13.8); the same sum as G(PO)MDP",
    ),
    Estimator(
        "reinforce_whole_episode", _whole_episode, True,
        "G_0 Σ ψ_t: every action credited with the whole discounted return (Williams 1992)",
    ),
    Estimator(
        "reinforce_without_gamma_t", _no_discount_power, False,
        "Σ G_t ψ_t: the common omission of γ^t; biased for γ < 1 (unbiased at γ = 1)",
        unbiased_at_gamma_one=True,
    ),
    Estimator(
        "constant_baseline", _constant_baseline, True,
        "Σ γ^t (G_t − b) ψ_t with the constant b = J(θ)",
    ),
    Estimator(
        "value_baseline", _value_baseline, True,
        "Σ γ^t (G_t − v_π(S_t)) ψ_t: REINFORCE with baseline (13.11), exact critic",
    ),
    Estimator(
        "wrong_value_baseline", _wrong_value_baseline, True,
        "as value_baseline with a wrong v̂: a baseline never biases, it only changes variance",
    ),
    Estimator(
        "actor_critic", _actor_critic, True,
        "Σ γ^t δ_t ψ_t, δ = R + γ v_π(S') − v_π(S): one-step actor-critic (13.12), exact critic",
    ),
    Estimator(
        "actor_critic_wrong_critic", _actor_critic_wrong, False,
        "as actor_critic with a wrong v̂: bootstrapping from it biases the gradient",
    ),
):  # fmt: skip
    register_estimator(_estimator)


def per_episode_estimates(
    episodes: Episodes, weights: np.ndarray, scores: np.ndarray
) -> np.ndarray:
    """ĝ_n = Σ_t w_nt ψ(S_nt, A_nt), shape [N, P], without an [N, T, P] array.

    The weights are first summed per (episode, state, action), then multiplied by the
    [S·A, P] score table: memory N·S·A instead of N·T·P.
    """
    n_episodes = weights.shape[0]
    n_states, n_actions, n_parameters = scores.shape
    cells = (
        np.arange(n_episodes)[:, None] * (n_states * n_actions)
        + episodes.states * n_actions
        + episodes.actions
    )
    totals = np.bincount(
        cells[episodes.mask],
        weights=weights[episodes.mask],
        minlength=n_episodes * n_states * n_actions,
    ).reshape(n_episodes, n_states * n_actions)
    return totals @ scores.reshape(n_states * n_actions, n_parameters)


class EstimatorReport(NamedTuple):
    """One estimator's N per-episode estimates against the exact gradient."""

    name: str
    unbiased: bool  # expected to be, at this γ
    mean: np.ndarray  # [P]
    standard_error: np.ndarray  # [P]
    bias_in_standard_errors: float  # max_j |mean_j − ∇J_j| / se_j (components ≥ 100 episodes touch)
    threshold: float  # what that maximum may reach by chance: `bias_threshold` of those components
    variance_trace: float  # Σ_j Var(ĝ_j) of one episode's estimate
    cosine: float  # cos(mean, ∇J)


def bias_threshold(n_components: int, false_alarm: float = 1e-3) -> float:
    """The largest |z| of n unbiased components exceeds this with probability `false_alarm`.

    Bonferroni over the components: z* = Φ⁻¹(1 − false_alarm / 2n), never below 4 (the
    usual 4 standard errors): 4.0 for up to 3 components, 4.32 for 64.
    """
    if n_components < 1:
        return 4.0
    return max(4.0, NormalDist().inv_cdf(1.0 - false_alarm / (2.0 * n_components)))


def study(
    mdp: FiniteMDP,
    exact: ExactGradient,
    n_episodes: int,
    seed: int,
    names: list[str] | None = None,
) -> tuple[list[EstimatorReport], Episodes]:
    """Draw N episodes at the policy's θ and report each estimator on the same episodes."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    episodes = sample_episodes(mdp, exact.probabilities, n_episodes, rng)
    reports = []
    for name in names or list(ESTIMATORS):
        estimator = ESTIMATORS[name]
        weights = estimator.weights(episodes, mdp, exact)
        estimates = per_episode_estimates(episodes, weights, exact.scores)  # [N, P]
        mean = estimates.mean(axis=0)
        standard_error = estimates.std(axis=0, ddof=1) / np.sqrt(n_episodes)
        # a component that few episodes touch (a rarely visited state) has no usable
        # standard error: its mean is not yet normal, so it is left out of the bias check
        varies = (standard_error > 1e-12) & ((estimates != 0).sum(axis=0) >= MIN_CONTRIBUTING)
        difference = np.abs(mean - exact.gradient)
        bias = float((difference[varies] / standard_error[varies]).max(initial=0.0))
        threshold = bias_threshold(int(varies.sum()))
        cosine = float(
            mean
            @ exact.gradient
            / max(np.linalg.norm(mean) * np.linalg.norm(exact.gradient), 1e-300)
        )
        reports.append(
            EstimatorReport(
                name,
                estimator.unbiased_for(mdp.gamma),
                mean,
                standard_error,
                bias,
                threshold,
                float(estimates.var(axis=0, ddof=1).sum()),
                cosine,
            )
        )
    return reports, episodes
